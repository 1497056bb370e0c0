"""Raw messages a hostile or broken sender might produce (shared by the parser tests)."""

from __future__ import annotations

import base64


def hostile_nested(depth: int) -> bytes:
    """A multipart tree `depth` levels deep with one text part at the bottom."""
    head = b"From: deep@example.test\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    parts = []
    for level in range(depth):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode())
    middle = b"Content-Type: text/plain\r\n\r\ninnermost text\r\n"
    tail = b"".join(f"\r\n--b{level}--\r\n".encode() for level in reversed(range(depth)))
    return head + b"".join(parts) + middle + tail


HOSTILE: dict[str, bytes] = {
    "garbage bytes": bytes(range(256)) * 4,
    "headers only, no body": b"From: a@example.test\r\nSubject: empty\r\n",
    "no headers at all": b"\r\njust a body with https://example.test/x\r\n",
    "broken encoded word": b"From: =?utf-8?B?!!!notbase64?= <x@example.test>\r\n"
    b"Subject: =?unknown-charset?Q?caf=E9?= and =?utf-8?B?8J+YgA==?=\r\n\r\nbody\r\n",
    "unknown body charset": b"From: x@example.test\r\nSubject: cs\r\n"
    b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nhello \xff\xfe world\r\n",
    "lying utf-8 charset": b"From: x@example.test\r\nSubject: lie\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nBestellung \xfcber \xe4\r\n",
    "broken base64 body": b"From: x@example.test\r\nSubject: b64\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n@@@ this is not base64 ===\r\n",
    "bad date and from": b"From: <<<>>> ,,, @\r\nDate: the 45th of Neverember\r\n"
    b"Message-ID: \r\nSubject: bad\r\n\r\nbody\r\n",
    "nested 300 deep": hostile_nested(300),
    "multipart without boundary": b"From: x@example.test\r\nSubject: nob\r\n"
    b"Content-Type: multipart/alternative\r\n\r\nno boundary here\r\n",
    "huge body": b"From: big@example.test\r\nSubject: big\r\n\r\n" + b"A" * 600_000 + b"\r\n",
    "html with script": b"From: h@example.test\r\nSubject: html\r\nContent-Type: text/html\r\n\r\n"
    b"<html><head><script>alert('x')</script><style>p{}</style></head><body><p>Order <b>123</b>"
    b"<a href='https://example.test/p/order/detail.html?orderId=3042417938137135'>here</a>"
    b"<a href=javascript:void(0)>js</a><div><unclosed",
    "long header line": b"From: x@example.test\r\nSubject: " + b"S" * 100_000 + b"\r\n\r\nbody\r\n",
    "base64 html in mixed": b"From: x@example.test\r\nSubject: mixed\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\n'
    b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes("<p>Grüße <a href='https://example.test/a'>a</a></p>".encode())
    + b"\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n\r\n"
    b"\x00\x01\x02\r\n--zz--\r\n",
}
