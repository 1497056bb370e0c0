"""A tiny HTTP server on 127.0.0.1 for browser and evidence tests (the sandbox portal is separate).

Routes:
- `/page?title=T` — a plain page with a heading;
- `/set-cookie?value=V` — sets the persistent cookie `sid=V`;
- `/whoami` — shows the `Cookie` header the browser sent, inside `<pre id="cookies">`;
- `/login` — a form with a user field, a password field (red background) and a one-time-code
  field; POST `/login` answers "welcome";
- `/slow` — answers only when the server shuts down (or after 30 s): for timeout tests;
- `/error500` — HTTP 500.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOGIN_FORM = """<!DOCTYPE html><html><head><title>Sign in</title><style>
body { font-family: sans-serif; margin: 30px; }
input { display: block; margin: 12px 0; font-size: 28px; }
#pw { background: rgb(255, 0, 0); color: rgb(255, 0, 0); width: 420px; height: 70px; border: 0; }
</style></head><body>
<h1>Sign in</h1>
<form method="post" action="/login">
  <input id="user" name="user" type="email" autocomplete="username">
  <input id="pw" name="password" type="password" value="preset-attr-secret">
  <input id="code" name="code" autocomplete="one-time-code">
  <textarea id="note" name="note"></textarea>
  <span id="token">token-in-text-9137</span>
  <button type="submit">Sign in</button>
</form></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    server: StubServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/page":
            title = html.escape(query.get("title", "Page"))
            body = query.get("body", "")
            self._send(
                200,
                f"<!DOCTYPE html><html><head><title>{title}</title></head>"
                f"<body><h1>{title}</h1><p>{html.escape(body)}</p></body></html>",
            )
        elif url.path == "/set-cookie":
            value = query.get("value", "abc")
            self._send(
                200, "<p>cookie set</p>", {"Set-Cookie": f"sid={value}; Path=/; Max-Age=3600; HttpOnly"}
            )
        elif url.path == "/whoami":
            cookies = html.escape(self.headers.get("Cookie", ""))
            self._send(200, f"<pre id='cookies'>{cookies}</pre>")
        elif url.path == "/login":
            self._send(200, LOGIN_FORM)
        elif url.path == "/slow":
            self.server.release.wait(30)
            self._send(200, "<p>late</p>")
        elif url.path == "/error500":
            self._send(500, "<p>internal error</p>")
        else:
            self._send(404, "<p>not found</p>")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self._send(200, "<p id='welcome'>welcome</p>", {"Set-Cookie": "sid=after-login-cookie-77; Path=/"})


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def running_stub() -> Iterator[StubServer]:
    """Serve on a free port in a thread; shut down (releasing `/slow`) on exit."""
    server = StubServer()
    thread = threading.Thread(target=server.serve_forever, name="stub-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
