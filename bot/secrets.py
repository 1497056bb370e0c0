"""Secret references: what the database stores instead of passwords and TOTP seeds.

A reference is one of

* ``env:NAME`` — the value of environment variable ``NAME`` (e.g. ``env:RECOUP_SECRET_ALICE``);
* ``file:key`` — entry ``key`` of the secrets file (``Settings.secrets_file``), either a YAML
  mapping or ``.env``-style ``KEY=VALUE`` lines.

:func:`resolve_secret` turns a reference into its value at the moment of use. Values are never
logged, stored or put into error messages; errors name only the reference.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from bot.errors import SecretMissingError

_REF = re.compile(r"^(?P<scheme>env|file):(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,127})$")


def is_secret_ref(ref: str) -> bool:
    """True when `ref` has the shape of a secret reference (it may still resolve to nothing)."""
    return _REF.match(ref) is not None


def validate_secret_ref(ref: str) -> str:
    """Return `ref` unchanged if it is a well-formed reference.

    Raises :class:`SecretMissingError` otherwise — which also refuses a plain password given
    where a reference belongs (the message never repeats what was given)."""
    if not is_secret_ref(ref):
        raise SecretMissingError("not a secret reference: expected env:NAME or file:key")
    return ref


def env_ref_for(account_name: str, what: str = "PASSWORD") -> str:
    """The conventional environment reference for an account: ``env:RECOUP_SECRET_<NAME>_<WHAT>``."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", account_name).strip("_").upper()
    return f"env:RECOUP_SECRET_{name}_{what.upper()}"


def _read_secrets_file(path: Path) -> dict[str, str]:
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
) -> str:
    """Return the value `ref` points at.

    `environ` defaults to ``os.environ``; `secrets_file` is ``Settings.secrets_file``. Raises
    :class:`SecretMissingError` for a malformed reference, a missing/empty variable, a
    ``file:`` reference without a secrets file, or a key the file does not hold.
    """
    match = _REF.match(ref)
    if match is None:
        raise SecretMissingError("not a secret reference: expected env:NAME or file:key")
    scheme, key = match["scheme"], match["key"]
    if scheme == "env":
        value = (os.environ if environ is None else environ).get(key)
        if not value:
            raise SecretMissingError(f"secret {ref} is not set in the environment", ref=ref)
        return value
    if secrets_file is None:
        raise SecretMissingError(f"secret {ref} needs a secrets file (RECOUP_SECRETS_FILE)", ref=ref)
    value = _read_secrets_file(secrets_file).get(key)
    if not value:
        raise SecretMissingError(f"secret {ref} is not in {secrets_file}", ref=ref)
    return value


def check_secrets_file(path: Path) -> None:
    """Read and parse the secrets file once (values unseen); SecretMissingError when it cannot
    be read, is not UTF-8 or is not a valid secrets file."""
    _read_secrets_file(path)
