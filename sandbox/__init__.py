"""The AliExpress-style sandbox portal used by tests and the demo (see CONTRACT.md).

Start one with `sandbox.server.start_sandbox(settings, scenario_path)` or from the shell with
`python -m sandbox --scenario FILE` (also starts a throwaway Dovecot).
"""
