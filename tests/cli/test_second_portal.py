"""A second portal: an account added with `--portal bazaar` is validated and driven with the
`bazaar` pack (tests/fixtures/packs/bazaar.yaml, its own reason keys), while AliExpress accounts
keep theirs — `recoup` in-process against the sandbox, real Chromium and SQLite."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.conftest import Cli

ROOT = Path(__file__).resolve().parents[2]


def _two_packs(cli: Cli) -> None:
    folder = cli.tmp / "packs"
    folder.mkdir()
    shutil.copy(ROOT / "selectors" / "aliexpress.yaml", folder)
    shutil.copy(ROOT / "tests" / "fixtures" / "packs" / "bazaar.yaml", folder)
    cli.monkeypatch.setenv("RECOUP_PACK_DIR", str(folder))


def test_an_account_on_a_second_portal_uses_that_portals_pack(cli: Cli) -> None:
    _two_packs(cli)
    cli.add_account("ann", "ann@buyer.test")
    cli.add_account("bernd", "bernd@kaeufer.test", "--portal", "bazaar", "--locale", "de_DE")
    assert {a["name"]: a["portal"] for a in cli.json("accounts", "list")} == {
        "ann": "aliexpress", "bernd": "bazaar"}
    before = cli.counts()

    # Validation: each account's reasons are its own pack's.
    refused = cli("cancel", "3043000000000100", "--account", "bernd", "--reason", "not_shipped_on_time",
                  "--json", code=2)
    assert "unknown reason 'not_shipped_on_time'" in refused.stdout and "seller_too_slow" in refused.stdout
    refused = cli("cancel", "3042417938137200", "--account", "ann", "--reason", "seller_too_slow",
                  "--json", code=2)
    assert "unknown reason 'seller_too_slow'" in refused.stdout
    assert cli.counts() == before

    # Flows: bernd's cancel runs with the bazaar pack (only it knows `seller_too_slow`).
    done = cli.json("cancel", "3043000000000100", "--account", "bernd", "--reason", "seller_too_slow")
    assert done["state"] == "submitted", done
    assert cli.submissions("3043000000000100") == 1
    # ...and ann's with AliExpress's, on the same store and pack folder.
    done = cli.json("cancel", "3042417938137200", "--account", "ann", "--reason", "not_shipped_on_time")
    assert done["state"] == "submitted", done
    assert cli.submissions("3042417938137200") == 1


def test_an_account_on_a_portal_without_a_pack_is_refused(cli: Cli) -> None:
    _two_packs(cli)
    cli.secret_env("ann", "ann@buyer.test")
    result = cli("accounts", "add", "ann", "--email", "ann@buyer.test", "--portal", "nowhere", code=2)
    assert "no selector pack for portal 'nowhere'" in result.output
    assert cli.counts()["accounts"] == 0
