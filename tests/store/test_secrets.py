"""Secrets: references resolve from env or file; values never reach the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.errors import SecretMissingError
from bot.models import Account
from bot.secrets import env_ref_for, resolve_secret
from bot.store import Store
from bot.store._tables import Base
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import new_case

SECRET = "Hunter2-very-secret-9f3b"
TOTP = "JBSWY3DPEHPK3PXP"


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOUP_SECRET_ALICE_PASSWORD", SECRET)
    assert env_ref_for("alice") == "env:RECOUP_SECRET_ALICE_PASSWORD"
    assert resolve_secret("env:RECOUP_SECRET_ALICE_PASSWORD") == SECRET
    assert resolve_secret("env:X", environ={"X": "y"}) == "y"
    with pytest.raises(SecretMissingError, match="env:RECOUP_SECRET_BOB"):
        resolve_secret("env:RECOUP_SECRET_BOB")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("secrets.yaml", f"alice_password: {SECRET}\nalice_totp: {TOTP}\n"),
        ("secrets.env", f"# accounts\nexport alice_password='{SECRET}'\nalice_totp={TOTP}\n"),
    ],
)
def test_file_reference(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert resolve_secret("file:alice_password", secrets_file=path) == SECRET
    assert resolve_secret("file:alice_totp", secrets_file=path) == TOTP
    with pytest.raises(SecretMissingError) as caught:
        resolve_secret("file:bob_password", secrets_file=path)
    assert SECRET not in str(caught.value)
    with pytest.raises(SecretMissingError, match="secrets file"):
        resolve_secret("file:alice_password")


def test_bad_yaml_error_does_not_quote_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"alice_password: [{SECRET}\n")
    with pytest.raises(SecretMissingError) as caught:
        resolve_secret("file:alice_password", secrets_file=path)
    assert SECRET not in str(caught.value) and caught.value.__cause__ is None


def test_a_plain_password_is_refused_as_a_reference() -> None:
    with pytest.raises(SecretMissingError) as caught:
        Account(name="alice", email="a@example.test", password_ref=SECRET)
    assert SECRET not in str(caught.value)


def test_secrets_never_in_the_database(
    db_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECOUP_SECRET_ALICE_PASSWORD", SECRET)
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text(f"alice_totp: {TOTP}\n")
    with Store.open(db_url, clock=clock, outbox_targets=("webhook",)) as store:
        account = store.accounts.add(
            Account(
                name="alice",
                email="alice@example.test",
                password_ref=env_ref_for("alice"),
                totp_ref="file:alice_totp",
            )
        )
        stored = store.accounts.get("alice")
        assert resolve_secret(stored.password_ref) == SECRET
        assert resolve_secret(stored.totp_ref or "", secrets_file=secrets_file) == TOTP
        case = store.intake.create_with(new_case())
        store.dispatch.claim_next_ready("w", lease_seconds=60)
        store.mail.mark_processed(account.id or 0, "INBOX", "<m1@x>", case_id=case.id)

        rows = 0
        with store.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    rows += 1
                    text = repr(tuple(row))
                    assert SECRET not in text and TOTP not in text, table.name
        assert rows >= 6  # account, case, events, outbox rows, processed message were scanned
    if db_url.startswith("sqlite"):
        files = list(Path(db_url.removeprefix("sqlite:///")).parent.glob("recoup.db*"))
        assert files
        for path in files:
            data = path.read_bytes()
            assert SECRET.encode() not in data and TOTP.encode() not in data


@pytest.mark.parametrize(
    "ref",
    [f"env:{SECRET}", "env:hunter2", f"file:{SECRET}", "env:A B", "env:" + "A" * 129, "file:x/y"],
)
def test_a_value_shaped_reference_is_refused_without_repeating_it(ref: str) -> None:
    with pytest.raises(SecretMissingError) as caught:
        resolve_secret(ref, environ={ref.removeprefix("env:"): "x"})
    assert ref.partition(":")[2] not in str(caught.value)
    assert "env:NAME or file:key" in str(caught.value)


def test_a_secrets_file_others_may_read_warns_once_or_is_refused_when_strict(tmp_path: Path) -> None:
    from loguru import logger

    path = tmp_path / "open.yaml"
    path.write_text(f"alice_password: {SECRET}\n")
    path.chmod(0o604)
    seen: list[str] = []
    sink = logger.add(seen.append, level="WARNING", format="{message}")
    try:
        assert resolve_secret("file:alice_password", secrets_file=path) == SECRET
        assert resolve_secret("file:alice_password", secrets_file=path) == SECRET
    finally:
        logger.remove(sink)
    assert len(seen) == 1 and f"{path} has mode 0604" in seen[0] and "chmod 600" in seen[0]
    with pytest.raises(SecretMissingError, match="mode 0604") as caught:
        resolve_secret("file:alice_password", secrets_file=path, strict=True)
    assert SECRET not in str(caught.value)
    path.chmod(0o600)
    assert resolve_secret("file:alice_password", secrets_file=path, strict=True) == SECRET
