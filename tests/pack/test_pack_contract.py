"""The pack contract: page objects declare the locator keys they use, loading a pack checks them
(PackError naming the key and the page object, also from the offline `selectors check`), packs
are looked up by portal name, and a portal may swap in its own page-object variant."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.config import Settings
from bot.errors import PackError
from flows.pack import load_pack
from flows.pages.login import LoginPage
from flows.registry import PAGE_OBJECTS, PackRegistry, requirements

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "selectors" / "aliexpress.yaml"
BAZAAR = ROOT / "tests" / "fixtures" / "packs" / "bazaar.yaml"
KEY_CALLS = {"find": 0, "has": 0, "text_of": 0, "open": 0, "locator": 1, "alternatives": 1,
             "resolve": 1, "present": 1, "probe": 1, "entry": 0}
"""Methods that take a locator key, and the position of the key among their arguments."""


def _without(key: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PACK.read_text(encoding="utf-8"))
    pages = [p for p in data["pages"].values() if key in p["locators"]]
    assert len(pages) == 1, key
    del pages[0]["locators"][key]
    return data


def _pack_dir(tmp_path: Path, data: dict[str, Any]) -> Path:
    folder = tmp_path / "packs"
    folder.mkdir(exist_ok=True)
    (folder / "aliexpress.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def test_the_shipped_pack_has_every_key_the_page_objects_need() -> None:
    pack = PackRegistry(Settings()).get("aliexpress")
    needed = set().union(*requirements({}).values())
    assert needed and all(pack.has_locator(k) for k in needed)
    assert len(needed) >= 60


@pytest.mark.parametrize(
    ("key", "owner"),
    [("cancel_comment", "CancelDialog"), ("cookie_accept", "PortalPage"),
     ("detail_view_refund", "OrderDetailPage"), ("verify_totp_hint", "VerifyPage")],
)
def test_a_pack_missing_a_required_key_fails_at_load(tmp_path: Path, key: str, owner: str) -> None:
    folder = _pack_dir(tmp_path, _without(key))
    load_pack(Settings(pack_dir=folder))  # the schema alone does not know what the flows need
    with pytest.raises(PackError) as caught:
        PackRegistry(Settings(pack_dir=folder)).get("aliexpress")
    assert f"no locator {key!r}, which page object {owner} needs" in str(caught.value)
    assert caught.value.context["key"] == key and caught.value.context["page_object"] == owner


def test_selectors_check_offline_reports_the_missing_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _pack_dir(tmp_path, _without("offer_disagree"))
    monkeypatch.setenv("RECOUP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECOUP_PACK_DIR", str(folder))
    result = CliRunner().invoke(app, ["selectors", "check"], catch_exceptions=False)
    assert result.exit_code == 6, result.output
    assert "no locator 'offer_disagree', which page object CounterOfferPanel needs" in result.output
    shutil.copy(PACK, folder / "aliexpress.yaml")
    assert CliRunner().invoke(app, ["selectors", "check"], catch_exceptions=False).exit_code == 0


def _key_literals(tree: ast.AST, keys: set[str]) -> set[str]:
    """String literals that name a pack locator, or are passed where a locator key goes."""
    found = {n.value for n in ast.walk(tree)
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in keys}
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        args: list[ast.expr] = list(call.args)
        if name == "UploadKeys":
            found |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
        elif name in KEY_CALLS and len(args) > KEY_CALLS[name]:
            arg = args[KEY_CALLS[name]]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.islower() \
                    and "_" in arg.value and " " not in arg.value and "." not in arg.value:
                found.add(arg.value)
    return found


def test_every_locator_key_the_flows_use_is_declared_by_a_page_object() -> None:
    """Every key literal in flows/ is declared: in a page module, by that module's classes; in a
    flow module, by some page object (the flow reaches it through one)."""
    keys = set(load_pack(Settings()).locator_keys()) | {"challenge", "mask"}
    declared_by_module: dict[str, set[str]] = {}
    for cls in PAGE_OBJECTS:
        declared_by_module.setdefault(cls.__module__, set()).update(cls.required_keys())
    everything = set().union(*declared_by_module.values())
    checked = 0
    for path in sorted((ROOT / "flows").rglob("*.py")):
        if path.name in ("pack.py", "pack_schema.py", "registry.py"):
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        used = _key_literals(ast.parse(path.read_text(encoding="utf-8")), keys)
        if module == "flows.pages.upload":  # a helper of the refund form and the offer panel
            declared = declared_by_module["flows.pages.refund_form"] & declared_by_module[
                "flows.pages.counter_offer"]
        else:
            declared = declared_by_module.get(module, everything)
        assert used <= declared, f"{module} uses undeclared locator keys {sorted(used - declared)}"
        checked += len(used)
    assert checked > 60


def test_packs_are_looked_up_by_portal_name(tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    folder.mkdir()
    shutil.copy(PACK, folder / "aliexpress.yaml")
    shutil.copy(BAZAAR, folder / "bazaar.yaml")
    registry = PackRegistry(Settings(pack_dir=folder))
    bazaar = registry.get("bazaar")
    assert bazaar.model.portal == "bazaar" and registry.get("bazaar") is bazaar
    assert registry.default.model.portal == "aliexpress"
    assert bazaar.cancel_reason_labels("seller_too_slow")
    with pytest.raises(PackError, match="unknown reason 'seller_too_slow'"):
        registry.default.cancel_reason_labels("seller_too_slow")
    with pytest.raises(PackError, match="no selector pack for portal 'nowhere'"):
        registry.get("nowhere")


class BazaarLogin(LoginPage):
    """A portal whose sign-in page shows a banner first (a variant: its own steps and keys)."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({"bazaar_banner"})


class _FakePage:
    def on(self, event: str, handler: object) -> None:
        """Page objects listen for responses; nothing happens here."""


def test_a_portal_can_use_its_own_page_object_variant(tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    folder.mkdir()
    shutil.copy(PACK, folder / "aliexpress.yaml")
    shutil.copy(BAZAAR, folder / "bazaar.yaml")
    registry = PackRegistry(Settings(pack_dir=folder), variants={"bazaar": {LoginPage: BazaarLogin}})
    with pytest.raises(PackError) as caught:  # the variant's own key is checked at load
        registry.get("bazaar")
    assert "no locator 'bazaar_banner', which page object BazaarLogin needs" in str(caught.value)
    assert BazaarLogin.required_keys() >= LoginPage.required_keys()

    data: dict[str, Any] = yaml.safe_load(BAZAAR.read_text(encoding="utf-8"))
    data["pages"]["login"]["locators"]["bazaar_banner"] = {
        "alternatives": [{"kind": "css", "css": "#bazaar-banner"}]}
    (folder / "bazaar.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    page: Any = _FakePage()
    bazaar_login = registry.env("bazaar").page_object(LoginPage, page)
    ali_login = registry.env("aliexpress").page_object(LoginPage, page)
    assert type(bazaar_login) is BazaarLogin and bazaar_login.pack.model.portal == "bazaar"
    assert type(ali_login) is LoginPage and ali_login.pack.model.portal == "aliexpress"
