"""A corpus of realistic notification mails, written for these tests from the facts recorded in
sandbox/CONTRACT.md ("Notification mail"): portal mails in seven languages as they really reach
buyers (direct, through Apple's Hide My Email relay, forwarded by Gmail/Outlook/Apple Mail,
through an operator's alias), HTML-only ones (quoted-printable, base64), several orders in one
subject, parcel-first subjects naming the order only in a link; and mail that is NOT the
portal's (shops, carriers, banks, the portal's marketing senders, spoofers, look-alikes).

Each :class:`CorpusMail` says which orders it names (`orders`) and which numbers it must never
be read as orders (`not_orders`: parcel and tracking numbers). Order ids are built from a base so
that every portal mail names orders of its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

PORTAL = "transaction@notice.aliexpress.com"
PORTAL_FROM = f"AliExpress <{PORTAL}>"
RELAY = f"transaction_at_notice_aliexpress_com_7f3a9c21e4_0b5d8e2a@{'privaterelay.appleid.com'}"
"""The Apple Hide My Email form of the portal's address (local part: the original address with
``_at_`` and ``_`` for dots, then the relay's random tail)."""
ALIAS = "aliexpress-mail@forwarder.example"
"""An address the operator declared as an alias for account ``ann`` (RECOUP_MAIL_SENDER_ALIASES)."""
BUYER = "ann@buyer.test"
SENT = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)

_ids = itertools.count(3_042_417_938_200_000)
_message_ids = itertools.count(1)


def oid() -> str:
    """A fresh 16-digit order id."""
    return str(next(_ids))


@dataclass(frozen=True)
class CorpusMail:
    """One mail of the corpus, with what a reader must find in it."""

    name: str
    raw: bytes
    lang: str
    orders: tuple[str, ...] = ()
    """The orders it names (a portal mail must ring for each)."""
    not_orders: tuple[str, ...] = ()
    """Numbers in it that are not orders (parcel, tracking, shop numbers)."""
    tags: frozenset[str] = field(default_factory=frozenset)
    """relayed, forwarded, alias, html-only, multi-order, parcel-first, closed, outcome."""
    via: str = "direct"
    """How the sender must be accepted (portal mail only)."""


def build(
    subject: str,
    text: str | None = None,
    *,
    html: str | None = None,
    sender: str = PORTAL_FROM,
    headers: tuple[tuple[str, str], ...] = (),
    cte: str | None = None,
    date: datetime = SENT,
) -> bytes:
    """A message: text and/or HTML (HTML-only when `text` is None), `cte` the transfer encoding
    (``quoted-printable`` or ``base64``), extra `headers` appended in order."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = BUYER
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{next(_message_ids)}.corpus@mail.example>"
    for key, value in headers:
        msg[key] = value
    kwargs = {"cte": cte} if cte else {}
    if text is not None:
        msg.set_content(text, **kwargs)
        if html is not None:
            msg.add_alternative(html, subtype="html", **kwargs)
    else:
        msg.set_content(html or "", subtype="html", **kwargs)
    return msg.as_bytes()


def _detail(order: str, spm: bool = True) -> str:
    extra = "spm=a2g0o.order_list.order_list_main.5.21ef1802Xy&" if spm else ""
    return f"https://www.aliexpress.com/p/order/detail.html?{extra}orderId={order}"


def _track(order: str) -> str:
    return f"https://www.aliexpress.com/p/tracking/index.html?_addShare=no&tradeOrderId={order}"


def _html(lines: list[str], links: list[tuple[str, str]]) -> str:
    body = "".join(f"<p>{line}</p>" for line in lines)
    anchors = "".join(f'<a href="{href.replace("&", "&amp;")}">{label}</a><br>' for href, label in links)
    return f"<html><head><style>p{{margin:0}}</style></head><body>{body}{anchors}</body></html>"


def _gmail_block(sender: str, subject: str, lang: str = "en") -> str:
    marker, frm, date, subj, to = {
        "en": ("---------- Forwarded message ---------", "From", "Date", "Subject", "To"),
        "de": ("---------- Weitergeleitete Nachricht ---------", "Von", "Date", "Subject", "To"),
        "es": ("---------- Mensaje reenviado ---------", "De", "Date", "Subject", "To"),
        "fr": ("-------- Message transféré --------", "De", "Date", "Objet", "À"),
    }[lang]
    return (
        f"{marker}\n{frm}: {sender}\n{date}: Sat, Mar 1, 2025 at 10:00 AM\n"
        f"{subj}: {subject}\n{to}: <{BUYER}>\n\n"
    )


def portal_corpus() -> list[CorpusMail]:
    """At least 40 portal mails in EN/DE/FR/ES/IT/PL/NL (see the module docstring)."""
    out: list[CorpusMail] = []

    def add(
        name: str,
        lang: str,
        raw: bytes,
        orders: tuple[str, ...],
        *tags: str,
        not_orders: tuple[str, ...] = (),
        via: str = "direct",
    ) -> None:
        out.append(CorpusMail(name, raw, lang, orders, not_orders, frozenset(tags), via))

    # ---- English -------------------------------------------------------------------------------
    a = oid()
    add(
        "en shipped",
        "en",
        build(
            f"Order {a}: Order shipped",
            f"Hello,\nyour order {a} has been shipped.\nTrack order: {_track(a)}\n",
        ),
        (a,),
    )
    a = oid()
    add(
        "en cancel approved, html only (qp)",
        "en",
        build(
            f"Order {a}: Cancellation approved",
            html=_html(
                [f"Order ID: {a}Copy", "The seller agreed to cancel your order. The refund is on its way."],
                [(_detail(a), "View order details")],
            ),
            cte="quoted-printable",
        ),
        (a,),
        "html-only",
        "outcome",
    )
    a = oid()
    add(
        "en closed",
        "en",
        build(f"Your order {a} is closed", f"Your order {a} is closed.\nView details: {_detail(a)}\n"),
        (a,),
        "closed",
    )
    a = oid()
    add(
        "en counter offer, html only (base64)",
        "en",
        build(
            f"Order {a}: Seller proposed a solution",
            html=_html(
                ["The seller proposed a new solution to your refund request.", "Respond within 5 days."],
                [(_detail(a), "Respond now")],
            ),
            cte="base64",
        ),
        (a,),
        "html-only",
        "outcome",
    )
    a = oid()
    add(
        "en lower case, dash, exclamation",
        "en",
        build(f"order {a} - refund complete!", "Your refund has been processed.\n"),
        (a,),
        "outcome",
    )
    a = oid()
    add(
        "en delivery update",
        "en",
        build(f"Order {a}: Delivery update", f"Order {a}\nThere is an update on your delivery.\n"),
        (a,),
    )
    a, b = oid(), oid()
    add(
        "en two orders in the subject",
        "en",
        build(
            f"Orders {a}, {b}: ready to ship", f"Your orders are ready to ship.\n{_track(a)}\n{_track(b)}\n"
        ),
        (a, b),
        "multi-order",
    )
    a, parcel = oid(), "LP00123456789012345"
    add(
        "en parcel first, id only in a link",
        "en",
        build(
            f"Package {parcel}: Picked up by courier",
            html=_html(
                [f"Your package {parcel} has been picked up by the courier.", "Tracking number: " + parcel],
                [(_track(a), "Track package")],
            ),
        ),
        (a,),
        "parcel-first",
        "html-only",
        not_orders=(parcel,),
    )
    a, b, parcel = oid(), oid(), "1234567890123456"
    add(
        "en numeric parcel first, o_ids list",
        "en",
        build(
            f"Parcel {parcel} has left the departure region",
            f"Parcel {parcel} is on its way.\nItems: https://www.aliexpress.com/p/order/index.html?o_ids={a}%2C{b}&x=1\n",
        ),
        (a, b),
        "parcel-first",
        "multi-order",
        not_orders=(parcel,),
    )
    a = oid()
    add(
        "en no id in subject, glued Copy label",
        "en",
        build("Your AliExpress order update", f"Order ID: {a}Copy\nSomething changed in your order.\n"),
        (a,),
    )
    a = oid()
    add(
        "en relayed refund rejected",
        "en",
        build(
            f"Order {a}: Refund request rejected",
            f"The seller rejected your refund request.\n{_detail(a)}\n",
            sender=f"AliExpress <{RELAY}>",
        ),
        (a,),
        "relayed",
        "outcome",
        via="relay:apple",
    )
    a = oid()
    subject = f"Order {a}: Cancellation rejected"
    add(
        "en gmail forward",
        "en",
        build(
            f"Fwd: {subject}",
            "FYI\n\n"
            + _gmail_block(PORTAL_FROM, subject)
            + f"The seller rejected the cancellation.\n{_detail(a)}\n",
            sender="Ann Buyer <ann.private@gmail.example>",
        ),
        (a,),
        "forwarded",
        "outcome",
        via="forward:body",
    )
    a = oid()
    add(
        "en x-original-from",
        "en",
        build(
            f"Order {a}: Order shipped",
            "Your order is on its way.\n",
            sender="Forwarder <fwd@forwarder.example>",
            headers=(("X-Original-From", PORTAL_FROM),),
        ),
        (a,),
        "forwarded",
        via="forward:x-original-from",
    )
    a = oid()
    add(
        "en outlook forward (mailto)",
        "en",
        build(
            f"FW: Order {a}: Refund complete",
            f"\n\nFrom: AliExpress [mailto:{PORTAL}]\nSent: Saturday, March 1, 2025 10:00 AM\nTo: {BUYER}\n"
            f"Subject: Order {a}: Refund complete\n\nYour refund is complete.\n",
            sender="Ann <ann@corp.example>",
        ),
        (a,),
        "forwarded",
        "outcome",
        via="forward:body",
    )
    a = oid()
    add(
        "en resent-from",
        "en",
        build(
            f"Order {a}: Delivered",
            "Your order was delivered.\n",
            sender="Mailer <resend@forwarder.example>",
            headers=(("Resent-From", PORTAL),),
        ),
        (a,),
        "forwarded",
        via="forward:resent-from",
    )
    a = oid()
    add(
        "en reply-to of a forwarding service",
        "en",
        build(
            f"Order {a}: Awaiting confirmation",
            "Please confirm that you received your order.\n",
            sender="SimpleForward <noreply@fwd.example>",
            headers=(("Reply-To", PORTAL_FROM),),
        ),
        (a,),
        "forwarded",
        via="forward:reply-to",
    )
    a = oid()
    add(
        "en operator alias",
        "en",
        build(
            f"Order {a}: Cancellation approved", "Cancelled.\n", sender=f"AliExpress via forwarder <{ALIAS}>"
        ),
        (a,),
        "alias",
        "outcome",
        via="alias",
    )
    a = oid()
    add(
        "en dispute escalated",
        "en",
        build(f"Order {a}: Dispute escalated to AliExpress", f"{_detail(a)}\n"),
        (a,),
    )
    a = oid()
    add(
        "en subject without id, detail link with spm",
        "en",
        build("Your package is on its way", html=_html(["Good news!"], [(_detail(a), "View order")])),
        (a,),
        "html-only",
        "parcel-first",
    )
    a = oid()
    add(
        "en relayed closed",
        "en",
        build(f"Your order {a} is closed", "Closed.\n", sender=RELAY),
        (a,),
        "relayed",
        "closed",
        via="relay:apple",
    )

    # ---- German --------------------------------------------------------------------------------
    a = oid()
    add(
        "de versandt",
        "de",
        build(
            f"Bestellung {a}: Bestellung versandt",
            f"Hallo,\nIhre Bestellung {a} wurde versandt.\nBestellung verfolgen: {_track(a)}\n",
        ),
        (a,),
    )
    a = oid()
    add(
        "de storniert, html only",
        "de",
        build(
            f"Bestellung {a}: Stornierung genehmigt",
            html=_html(
                [f"Bestell-Nr.<br>{a}", "Der Verkäufer hat der Stornierung zugestimmt."],
                [(_detail(a), "Bestelldetails anzeigen")],
            ),
            cte="quoted-printable",
        ),
        (a,),
        "html-only",
        "outcome",
    )
    a, b = oid(), oid()
    add(
        "de zwei bestellungen bestätigt",
        "de",
        build(
            f"2 Bestellungen wurden bestätigt: {a}",
            f"Bestellung 1{a}\nBeispiel-Kabel\n€ 1,99x1\nBestellung 2{b}\nBeispiel-Lampe\n€ 2,49x1\n"
            f"https://www.aliexpress.com/p/order/index.html?o_ids={a},{b}\n",
        ),
        (a, b),
        "multi-order",
    )
    a, b, c, parcel = oid(), oid(), oid(), "00340999999999990902"
    add(
        "de packstück, ids only in links",
        "de",
        build(
            f"Packstück {parcel}: Vom Kurier abgeholt",
            html=_html(
                [f"Ihr Packstück {parcel} wurde vom Kurier abgeholt."],
                [
                    (_track(a), "Lieferung verfolgen"),
                    (f"https://www.aliexpress.com/p/order/index.html?o_ids={b}%2C{c}", "Artikel"),
                ],
            ),
        ),
        (a, b, c),
        "parcel-first",
        "multi-order",
        "html-only",
        not_orders=(parcel,),
    )
    a, parcel = oid(), "H9999999999999990903"
    add(
        "de zollabfertigung",
        "de",
        build(
            f"Zollabfertigung für {parcel} wurde beendet", f"Die Zollabfertigung ist beendet.\n{_track(a)}\n"
        ),
        (a,),
        "parcel-first",
        not_orders=(parcel,),
    )
    a = oid()
    subject = f"Bestellung {a}: Erstattung abgeschlossen"
    add(
        "de outlook-weiterleitung",
        "de",
        build(
            f"WG: {subject}",
            f"Von: AliExpress <{PORTAL}>\nGesendet: Samstag, 1. März 2025 10:00\n"
            f"An: {BUYER}\nBetreff: {subject}\n\n"
            "Ihre Erstattung ist abgeschlossen.\n",
            sender="Max <max@firma.example>",
        ),
        (a,),
        "forwarded",
        "outcome",
        via="forward:body",
    )
    a = oid()
    add(
        "de relayed wird zugestellt",
        "de",
        build(
            f"Bestellung {a}: Wird zugestellt",
            "Ihre Bestellung wurde dem Versandunternehmen übergeben.\n",
            sender=f"AliExpress <{RELAY}>",
        ),
        (a,),
        "relayed",
        via="relay:apple",
    )
    a = oid()
    add(
        "de lower case, space before colon",
        "de",
        build(f"Bestellung {a} : verkäufer hat eine lösung vorgeschlagen", "Bitte antworten Sie.\n"),
        (a,),
        "outcome",
    )
    a = oid()
    add("de neuer lieferstatus", "de", build(f"Bestellung {a}: Neuer Lieferstatus", "Neuigkeiten.\n"), (a,))
    a = oid()
    add(
        "de wie ist es gelaufen",
        "de",
        build(
            f"Bestellung {a}: Wie ist es gelaufen?",
            f"Wir haben die Lieferung Ihrer Bestellung {a} bestätigt.\n",
        ),
        (a,),
    )
    a = oid()
    add("de unknown step", "de", build(f"Bestellung {a}: etwas ganz Neues", "Neu.\n"), (a,))
    a = oid()
    add(
        "de gmail weiterleitung",
        "de",
        build(
            f"Fwd: Bestellung {a}: Stornierung abgelehnt",
            _gmail_block(PORTAL_FROM, f"Bestellung {a}: Stornierung abgelehnt", "de") + "Abgelehnt.\n",
            sender="Max <max.privat@gmail.example>",
        ),
        (a,),
        "forwarded",
        "outcome",
        via="forward:body",
    )

    a = oid()
    add(
        "de no colon, relayed, html only (qp)",
        "de",
        build(
            f"Bestellung {a} wurde versandt",
            html=_html(
                [f"Die Bestellung {a} wurde versandt!", "Bestell-Nr.", a, "Bestellsumme", "1,99€"],
                [(_track(a), "Verfolgen Sie Ihre Bestellung")],
            ),
            sender=f"AliExpress <{RELAY}>",
            cte="quoted-printable",
        ),
        (a,),
        "relayed",
        "html-only",
        via="relay:apple",
    )

    # ---- French --------------------------------------------------------------------------------
    a = oid()
    add(
        "fr expédiée",
        "fr",
        build(
            f"Commande {a} : Commande expédiée",
            f"Bonjour,\nvotre commande {a} a été expédiée.\n{_track(a)}\n",
        ),
        (a,),
    )
    a = oid()
    add(
        "fr annulation, html base64",
        "fr",
        build(
            f"Commande {a} : Annulation acceptée",
            html=_html(
                [f"N° de commande : {a}", "Le vendeur a accepté l'annulation."], [(_detail(a), "Voir")]
            ),
            cte="base64",
        ),
        (a,),
        "html-only",
        "outcome",
    )
    a, parcel = oid(), "LP00987654321098765"
    add(
        "fr colis d'abord",
        "fr",
        build(
            f"Votre colis {parcel} est arrivé dans votre pays",
            html=_html([f"Colis {parcel}"], [(_track(a), "Suivre")]),
        ),
        (a,),
        "parcel-first",
        "html-only",
        not_orders=(parcel,),
    )
    a = oid()
    subject = f"Commande {a} : Remboursement effectué"
    add(
        "fr transféré",
        "fr",
        build(
            f"TR: {subject}",
            _gmail_block(PORTAL_FROM, subject, "fr") + "Remboursé.\n",
            sender="Anne <anne@orange.example>",
        ),
        (a,),
        "forwarded",
        "outcome",
        via="forward:body",
    )

    # ---- Spanish -------------------------------------------------------------------------------
    a = oid()
    add("es enviado", "es", build(f"Pedido {a}: Pedido enviado", f"Tu pedido {a} ha sido enviado.\n"), (a,))
    a = oid()
    add(
        "es reembolso, html",
        "es",
        build(
            f"Pedido {a}: Reembolso completado",
            html=_html([f"Nº de pedido: {a}"], [(_detail(a), "Ver pedido")]),
        ),
        (a,),
        "html-only",
        "outcome",
    )
    a = oid()
    subject = f"Pedido {a}: Cancelación rechazada"
    add(
        "es reenviado",
        "es",
        build(
            f"RV: {subject}",
            _gmail_block(PORTAL_FROM, subject, "es") + "Rechazada.\n",
            sender="Ana <ana@correo.example>",
        ),
        (a,),
        "forwarded",
        "outcome",
        via="forward:body",
    )

    # ---- Italian, Polish, Dutch ----------------------------------------------------------------
    a = oid()
    add(
        "it spedito",
        "it",
        build(f"Ordine {a}: Ordine spedito", f"Il tuo ordine {a} è stato spedito.\n"),
        (a,),
    )
    a = oid()
    add(
        "it rimborso relayed",
        "it",
        build(f"Ordine {a}: Rimborso completato", "Rimborso completato.\n", sender=RELAY),
        (a,),
        "relayed",
        "outcome",
        via="relay:apple",
    )
    a = oid()
    add(
        "pl wysłane",
        "pl",
        build(f"Zamówienie {a}: Zamówienie wysłane", f"Twoje zamówienie {a} zostało wysłane.\n"),
        (a,),
    )
    a = oid()
    add(
        "pl paczka, numer zamówienia",
        "pl",
        build("Twoja paczka jest w drodze", f"Numer zamówienia: {a}\nNumer przesyłki: LP00555555555555555\n"),
        (a,),
        "parcel-first",
        not_orders=("LP00555555555555555",),
    )
    a = oid()
    add(
        "nl verzonden",
        "nl",
        build(f"Bestelling {a}: Bestelling verzonden", f"Je bestelling {a} is verzonden.\n{_track(a)}\n"),
        (a,),
    )
    a = oid()
    add(
        "nl terugbetaling relayed html",
        "nl",
        build(
            f"Bestelling {a}: Terugbetaling voltooid",
            html=_html([f"Bestelnummer: {a}"], [(_detail(a), "Bekijk")]),
            sender=f"AliExpress <{RELAY}>",
        ),
        (a,),
        "relayed",
        "html-only",
        "outcome",
        via="relay:apple",
    )
    return out


def other_corpus() -> list[CorpusMail]:
    """At least 30 mails that are not the portal's, many naming 15-19 digit numbers."""
    n = "3042417938137135"  # looks like an order id
    out: list[CorpusMail] = []

    def add(name: str, lang: str, raw: bytes) -> None:
        out.append(CorpusMail(name, raw, lang))

    # shops
    add(
        "amazon shipped",
        "en",
        build(
            "Your Amazon.de order 302-1234567-1234567 has shipped",
            "Order #302-1234567-1234567",
            sender="Amazon.de <versandbestaetigung@amazon.de>",
        ),
    )
    add("temu order", "en", build(f"Order {n}: Order shipped", f"Order {n}", sender="Temu <orders@temu.com>"))
    add("ebay", "en", build(f"Order {n} confirmed", "Thanks", sender="eBay <ebay@ebay.com>"))
    add(
        "zalando",
        "de",
        build(
            f"Bestellung {n}: Bestellung versandt",
            "Unterwegs",
            sender="Zalando <info@service-mail.zalando.de>",
        ),
    )
    add("otto", "de", build(f"Ihre Bestellung {n}", "Danke", sender="OTTO <service@otto.de>"))
    add(
        "cdiscount",
        "fr",
        build(f"Commande {n} : Commande expédiée", "Expédiée", sender="Cdiscount <noreply@cdiscount.com>"),
    )
    add(
        "el corte ingles",
        "es",
        build(f"Pedido {n}: Pedido enviado", "Enviado", sender="ECI <pedidos@elcorteingles.es>"),
    )
    add(
        "allegro",
        "pl",
        build(f"Zamówienie {n}: Zamówienie wysłane", "Wysłane", sender="Allegro <noreply@allegro.pl>"),
    )
    add(
        "bol",
        "nl",
        build(f"Bestelling {n}: Bestelling verzonden", "Verzonden", sender="bol <klantenservice@bol.com>"),
    )
    add("wish", "en", build(f"Order {n}: Refund complete", "Refunded", sender="Wish <support@wish.com>"))
    # carriers
    add(
        "dhl",
        "de",
        build(
            "Ihre DHL Sendung 00340434161094022115 kommt heute",
            "Sendungsnummer 00340434161094022115",
            sender="DHL <noreply@dhl.de>",
        ),
    )
    add(
        "cainiao",
        "en",
        build(
            "Your parcel LP00123456789012345 is out for delivery",
            f"Order {n}",
            sender="Cainiao <notice@cainiao.com>",
        ),
    )
    add(
        "postnl",
        "nl",
        build("Je pakket komt eraan", "Track: 3SABCD1234567", sender="PostNL <noreply@postnl.nl>"),
    )
    add(
        "gls",
        "de",
        build("GLS Paket unterwegs", "Paketnummer 123456789012345", sender="GLS <noreply@gls-group.eu>"),
    )
    add(
        "hermes",
        "de",
        build("Hermes: Sendung H1000000000000000001", "Unterwegs", sender="Hermes <noreply@myhermes.de>"),
    )
    add(
        "inpost",
        "pl",
        build("Paczka w drodze", "Numer 123456789012345678", sender="InPost <powiadomienia@inpost.pl>"),
    )
    add(
        "correos",
        "es",
        build("Tu envío", "Envío PQ0000000000000000000", sender="Correos <noreply@correos.es>"),
    )
    add("la poste", "fr", build("Votre colis", "Colis 6A00000000000", sender="La Poste <noreply@laposte.fr>"))
    # payment and the portal's own marketing senders
    add(
        "paypal",
        "de",
        build(
            f"Sie haben eine Zahlung an AliExpress gesendet (Bestellung {n})",
            "Zahlung",
            sender="PayPal <service@paypal.de>",
        ),
    )
    add("bank", "de", build("Kontoumsatz", f"AliExpress Bestellung {n}", sender="Bank <info@bank.example>"))
    add(
        "portal marketing",
        "en",
        build(
            f"Order {n}: price drop on your wishlist",
            "Deals",
            sender="AliExpress <aliexpress@notice.aliexpress.com>",
        ),
    )
    add(
        "portal deals",
        "de",
        build(
            "Ihre Bestellung hat einen lokalen Boost erhalten!",
            f"Bestellung {n}",
            sender="AliExpress <angebote@deals.aliexpress.com>",
        ),
    )
    add(
        "relayed marketing",
        "de",
        build(
            f"Bestellung {n}: Angebot",
            "x",
            sender="angebote_at_deals_aliexpress_com_0a1b2c3d4e@privaterelay.appleid.com",
        ),
    )
    # spoofers and look-alikes
    add(
        "display-name spoof",
        "en",
        build(f"Order {n}: Cancellation rejected", "x", sender='"AliExpress" <someone@else.test>'),
    )
    add(
        "address in display name",
        "en",
        build(f"Order {n}: Refund complete", "x", sender=f'"{PORTAL}" <phish@evil.test>'),
    )
    add(
        "subdomain look-alike",
        "en",
        build(f"Order {n}: Refund complete", "x", sender=f"AliExpress <{PORTAL}.evil.io>"),
    )
    add(
        "hyphen look-alike",
        "en",
        build(f"Order {n}: Refund complete", "x", sender="AliExpress <transaction@notice-aliexpress.com>"),
    )
    add(
        "typo look-alike",
        "en",
        build(f"Order {n}: Refund complete", "x", sender="AliExpress <transaction@notice.aliexpres.com>"),
    )
    add(
        "homoglyph look-alike",
        "en",
        (
            f"From: AliExpress <transaction@notice.aliexpr\u0435ss.com>\r\n"
            f"Subject: Order {n}: Refund complete\r\nDate: Sat, 1 Mar 2025 10:00:00 +0000\r\n"
            f"\r\nOrder {n}\r\n"
        ).encode(),
    )
    add(
        "punycode look-alike",
        "en",
        build(
            f"Order {n}: Refund complete", "x", sender="AliExpress <transaction@notice.xn--aliexpres-q2a.com>"
        ),
    )
    add(
        "relay look-alike",
        "en",
        build(
            f"Order {n}: Refund complete",
            "x",
            sender="transaction_at_notice_aliexpress_com_evil_io_abc123@privaterelay.appleid.com",
        ),
    )
    add(
        "relay look-alike domain",
        "en",
        build(
            f"Order {n}: Refund complete",
            "x",
            sender="transaction_at_notice_aliexpress_com_evilcorp_io@privaterelay.appleid.com",
        ),
    )
    add(
        "forward claim look-alike",
        "en",
        build(
            f"Order {n}: Refund complete",
            "x",
            sender="a@b.example",
            headers=(("X-Original-From", "transaction@notice-aliexpress.com"),),
        ),
    )
    add(
        "reply-to display-name spoof",
        "en",
        build(
            f"Order {n}: Refund complete",
            "x",
            sender="a@b.example",
            headers=(("Reply-To", f'"{PORTAL}" <x@evil.test>'),),
        ),
    )
    add(
        "forward block display-name spoof",
        "en",
        build(
            f"Fwd: Order {n}: Refund complete",
            f"---------- Forwarded message ---------\nFrom: {PORTAL} <evil@x.test>\n\nOrder {n}\n",
            sender="friend@mail.example",
        ),
    )
    add(
        "forwarded shop mail",
        "en",
        build(
            f"Fwd: Order {n}: Order shipped",
            f"---------- Forwarded message ---------\nFrom: Temu <orders@temu.com>\n\nOrder {n}\n",
            sender="friend@mail.example",
        ),
    )
    add(
        "quoted portal address in body, no forward",
        "en",
        build(
            f"Question about order {n}",
            f"Did you get a mail from: {PORTAL}?\nFrom: {PORTAL}\n",
            sender="friend@mail.example",
        ),
    )
    add(
        "malformed From with portal claim",
        "en",
        (
            f"From: {PORTAL}, evil@x.test\r\nX-Original-From: {PORTAL}\r\n"
            f"Subject: Order {n}: Refund complete\r\n"
            f"Date: Sat, 1 Mar 2025 10:00:00 +0000\r\n\r\nOrder {n}\r\n"
        ).encode(),
    )
    return out
