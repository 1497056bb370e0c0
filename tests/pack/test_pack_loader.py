"""The selector pack loader: the shipped pack is valid and complete, and broken packs fail at
load with a PackError that names the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings
from bot.errors import PackError
from bot.models import OrderStatus, RefundStatus
from flows.pack import load_pack

PACK = Path(__file__).resolve().parents[2] / "selectors" / "aliexpress.yaml"


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PACK.read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_pack_loads_and_covers_every_status() -> None:
    pack = load_pack(Settings())
    assert pack.model.schema_version == 1
    for status in OrderStatus:
        if status is not OrderStatus.UNKNOWN:
            for lang in pack.model.languages:
                assert pack.model.order_statuses[status][lang], (status, lang)
    for refund in set(RefundStatus) - {RefundStatus.UNKNOWN, RefundStatus.NONE}:
        assert refund in pack.model.refund_statuses
    assert not (PACK.parent / "__init__.py").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Awaiting shipment", OrderStatus.AWAITING_SHIPMENT),
        ("  versand AUSSTEHEND ", OrderStatus.AWAITING_SHIPMENT),
        ("Canceled", OrderStatus.CANCELED),
        ("Storniert", OrderStatus.CANCELED),
        ("Cancellation requested", OrderStatus.CANCEL_REQUESTED),
        ("Awaiting delivery\n Delivery by Mar 3", OrderStatus.AWAITING_DELIVERY),
        ("Something new", OrderStatus.UNKNOWN),
    ],
)
def test_status_texts_map_to_canonical(text: str, expected: OrderStatus) -> None:
    assert load_pack(Settings()).order_status(text) is expected


def test_refund_texts_map_to_canonical() -> None:
    pack = load_pack(Settings())
    assert pack.refund_status("Waiting for AliExpress\u2019s feedback") is RefundStatus.ESCALATED
    assert pack.refund_status("Refund complete") is RefundStatus.REFUNDED
    assert pack.refund_status("Warten auf Ihre Antwort") is RefundStatus.WAITING_BUYER


def test_urls_use_real_bases_unless_overridden() -> None:
    real = load_pack(Settings())
    assert real.url("order_detail", order_id="3042417938137135") == (
        "https://www.aliexpress.com/p/order/detail.html?orderId=3042417938137135")
    assert real.url("login") == "https://login.aliexpress.com/"
    local = load_pack(Settings(portal_base_url="http://127.0.0.1:9/",
                               portal_login_base_url="http://127.0.0.1:9/login"))
    assert local.url("orders") == "http://127.0.0.1:9/p/order/index.html"
    assert local.url("login") == "http://127.0.0.1:9/login/"
    assert local.is_bounce("http://127.0.0.1:9/login/?return_url=%2Fp%2Forder%2Findex.html")
    assert not local.is_bounce("http://127.0.0.1:9/p/order/index.html")
    assert real.is_bounce("https://login.aliexpress.com/")
    assert real.is_bounce("https://passport.aliexpress.com/x")
    assert real.is_challenge_url("https://www.aliexpress.com/_____tmd_____/punish?x5secdata=abc")
    cookies = local.locale_cookies("de_DE")
    assert cookies[0]["name"] == "aep_usuc_f" and "b_locale=de_DE" in cookies[0]["value"]
    assert cookies[0]["url"] == "http://127.0.0.1:9/"


def test_reason_labels_cover_languages() -> None:
    pack = load_pack(Settings())
    labels = pack.cancel_reason_labels("wrong_product")
    assert "I ordered the wrong product(s)" in labels and len(labels) == 2
    assert pack.model.cancel_reasons["duplicate_order"].buyer_fault
    with pytest.raises(PackError, match="unknown reason"):
        pack.cancel_reason_labels("nope")


def test_unknown_locator_key_is_a_pack_error() -> None:
    with pytest.raises(PackError, match="no locator 'nope'"):
        load_pack(Settings()).entry("nope")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="cannot read") as info:
        load_pack(Settings(pack_dir=tmp_path, portal="absent"))
    assert info.value.context["path"] == str(tmp_path / "absent.yaml")


def test_duplicate_yaml_key_rejected(tmp_path: Path) -> None:
    text = PACK.read_text(encoding="utf-8").replace(
        "portal: aliexpress\n", "portal: aliexpress\nportal: other\n", 1)
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PackError, match="duplicate key 'portal'") as info:
        load_pack(Settings(), path)
    assert str(path) in str(info.value)


def _mutated(tmp_path: Path, change: Any) -> PackError:
    data = _raw()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(PackError) as info:
        load_pack(Settings(), path)
    assert str(path) in str(info.value)
    return info.value


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = _mutated(tmp_path, lambda d: d.update(colour="red"))
    assert err.context["field"] == "colour"


def test_unknown_key_in_locator(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["pages"]["login"]["locators"]["login_email"]["requried"] = True
    err = _mutated(tmp_path, change)
    assert "login_email" in str(err.context["field"])


def test_unknown_locator_kind(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["pages"]["login"]["locators"]["login_email"]["alternatives"][0] = {"kind": "xpath", "xpath": "//a"}
    err = _mutated(tmp_path, change)
    assert "login_email" in str(err.context["field"])


def test_locator_key_defined_on_two_pages(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["pages"]["verify"]["locators"]["login_email"] = d["pages"]["login"]["locators"]["login_email"]
    err = _mutated(tmp_path, change)
    assert "'login_email' defined in pages 'login' and 'verify'" in str(err)


def test_missing_canonical_status(tmp_path: Path) -> None:
    err = _mutated(tmp_path, lambda d: d["order_statuses"].pop("awaiting_feedback"))
    assert "awaiting_feedback" in str(err) and err.context["field"] == "order_statuses"


def test_missing_language_for_status(tmp_path: Path) -> None:
    err = _mutated(tmp_path, lambda d: d["refund_statuses"]["refunded"].pop("de"))
    assert "refund_statuses.refunded" in str(err) and "de" in str(err)


def test_full_hashed_class_name_rejected(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["pages"]["refund_form"]["locators"]["refund_status_line"]["alternatives"] = [
            {"kind": "css", "css": ".reminder--statusStr--3FMxRSU"}]
    err = _mutated(tmp_path, change)
    assert "hashed class name" in str(err)


def test_undeclared_parameter_rejected(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["pages"]["cancel_dialog"]["locators"]["cancel_reason"]["params"] = []
    assert "undeclared parameter" in str(_mutated(tmp_path, change))


def test_within_must_name_a_locator(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["pages"]["order_list"]["locators"]["card_status"]["within"] = "no_such_card"
    assert "no_such_card" in str(_mutated(tmp_path, change))


def test_unknown_mail_event_rejected(tmp_path: Path) -> None:
    err = _mutated(tmp_path, lambda d: d["email"]["rules"].append({"event": "party", "subject": "x"}))
    assert str(err.context["field"]).startswith("email.rules")


def test_after_must_name_a_locator(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["pages"]["refund_form"]["locators"]["refund_submit"]["after"] = "no_such_button"
    err = _mutated(tmp_path, change)
    assert "no_such_button" in str(err) and "refund_submit.after" in str(err.context["field"])
