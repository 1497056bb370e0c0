"""Secret references: what the database stores instead of passwords and TOTP seeds.

A reference is one of

* ``env:NAME`` — the value of environment variable ``NAME`` (e.g. ``env:RECOUP_SECRET_ALICE``);
  ``NAME`` is upper-case letters, digits and ``_``, not starting with a digit, at most 128;
* ``file:key`` — entry ``key`` of the secrets file (``Settings.secrets_file``), either a YAML
  mapping or ``.env``-style ``KEY=VALUE`` lines; ``key`` is letters, digits, ``_`` and ``.``,
  starting with a letter or ``_``, at most 128.

Anything else — spaces, symbols, lower-case environment names, overlong text — looks like a
secret VALUE typed where its reference belongs, and is refused without being repeated.

:func:`resolve_secret` turns a reference into its value at the moment of use. Values are never
logged, stored or put into error messages; errors name only the reference. A secrets file that
group or others may read or write is used with a warning (naming the file and its mode), or
refused with `strict` (``RECOUP_STRICT_SECRETS=true``).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

import yaml
from loguru import logger

from bot.errors import SecretMissingError

_REF = re.compile(r"^(?:env:(?P<env>[A-Z_][A-Z0-9_]{0,127})|file:(?P<file>[A-Za-z_][A-Za-z0-9_.]{0,127}))$")

REF_FORM = (
    "env:NAME or file:key (NAME: upper-case letters, digits and _; key: letters, digits, _ and .; "
    "each at most 128 characters)"
)
"""The expected form, for messages that refuse a reference (they never show what was given)."""


def is_secret_ref(ref: str) -> bool:
    """True when `ref` has the shape of a secret reference (it may still resolve to nothing)."""
    return _REF.match(ref) is not None


def validate_secret_ref(ref: str) -> str:
    """Return `ref` unchanged if it is a well-formed reference.

    Raises :class:`SecretMissingError` otherwise — which also refuses a plain password (or
    ``env:<the password>``) given where a reference belongs; the message shows the expected
    form and never repeats what was given."""
    if not is_secret_ref(ref):
        raise SecretMissingError(f"not a secret reference: expected {REF_FORM}")
    return ref


def env_ref_for(account_name: str, what: str = "PASSWORD") -> str:
    """The conventional environment reference for an account: ``env:RECOUP_SECRET_<NAME>_<WHAT>``."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", account_name).strip("_").upper()
    return f"env:RECOUP_SECRET_{name}_{what.upper()}"


_WARNED: set[tuple[str, int]] = set()
"""(file, mode) pairs already warned about in this process (one warning, not one per read)."""


def check_secrets_file_mode(path: Path, *, strict: bool = False) -> None:
    """Warn (once per file and mode) when group or others may read or write the secrets file;
    with `strict` refuse it instead (SecretMissingError, a ConfigError: exit 6). A missing file
    is left to the reader to report."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if not mode & 0o077:
        return
    problem = f"secrets file {path} has mode {mode:04o}: group or others may read it; run `chmod 600 {path}`"
    if strict:
        raise SecretMissingError(f"{problem} (refused: RECOUP_STRICT_SECRETS is on)", path=str(path))
    if (str(path), mode) not in _WARNED:
        _WARNED.add((str(path), mode))
        logger.warning("{}", problem)


def _read_secrets_file(path: Path, *, strict: bool = False) -> dict[str, str]:
    check_secrets_file_mode(path, strict=strict)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # not UTF-8: the decode error quotes no value
        raise SecretMissingError(
            f"secrets file {path} cannot be read (missing, unreadable or not UTF-8)", path=str(path)
        ) from exc
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            # The YAML error text may quote the file; it must not reach a log.
            raise SecretMissingError(f"secrets file {path} is not valid YAML", path=str(path)) from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise SecretMissingError(f"secrets file {path} is not a mapping", path=str(path))
        return {str(k): str(v) for k, v in data.items() if v is not None}
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def resolve_secret(
    ref: str,
    *,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    strict: bool = False,
) -> str:
    """Return the value `ref` points at.

    `environ` defaults to ``os.environ``; `secrets_file` is ``Settings.secrets_file``; `strict`
    is ``Settings.strict_secrets``. Raises :class:`SecretMissingError` for a malformed
    reference, a missing/empty variable, a ``file:`` reference without a secrets file, a
    secrets file that cannot be read (or, with `strict`, that others may read), or a key the
    file does not hold.
    """
    match = _REF.match(ref)
    if match is None:
        raise SecretMissingError(f"not a secret reference: expected {REF_FORM}")
    if match["env"] is not None:
        value = (os.environ if environ is None else environ).get(match["env"])
        if not value:
            raise SecretMissingError(f"secret {ref} is not set in the environment", ref=ref)
        return value
    key = match["file"]
    if secrets_file is None:
        raise SecretMissingError(f"secret {ref} needs a secrets file (RECOUP_SECRETS_FILE)", ref=ref)
    value = _read_secrets_file(secrets_file, strict=strict).get(key)
    if not value:
        raise SecretMissingError(f"secret {ref} is not in {secrets_file}", ref=ref)
    return value


def check_secrets_file(path: Path, *, strict: bool = False) -> None:
    """Read and parse the secrets file once (values unseen); SecretMissingError when it cannot
    be read, is not UTF-8 or is not a valid secrets file, or (with `strict`) when others may
    read it; without `strict` an open mode is only warned about."""
    _read_secrets_file(path, strict=strict)
