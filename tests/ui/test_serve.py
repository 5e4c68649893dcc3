"""`workbench serve` security without a browser: loopback, websocket origin, basic auth."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

from _servers import served, wait_http


def _ws_handshake(url: str, body: str, origin: str, cookie: str | None = None) -> int:
    """Open Bokeh's websocket like the page's JavaScript does; return the HTTP status."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    token = re.search(r'"token":\s*"([^"]+)"', body).group(1)
    headers = {"Cookie": cookie} if cookie else None
    try:
        with connect(url.replace("http://", "ws://") + "/ws", origin=origin,
                     subprotocols=["bokeh", token], open_timeout=30,
                     additional_headers=headers):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_serve_answers_on_loopback_and_stops_by_pid():
    with served() as (url, proc):
        status, body = wait_http(url + "/", timeout=120)
        assert status == 200
        assert "workbench" in body.lower()
        assert url.startswith("http://127.0.0.1:")
    assert proc.poll() is not None


def test_serve_refuses_foreign_websocket_origin():
    with served() as (url, proc):
        _, body = wait_http(url + "/", timeout=120)
        port = url.rsplit(":", 1)[1]
        assert _ws_handshake(url, body, f"http://127.0.0.1:{port}") == 101
        assert _ws_handshake(url, body, f"http://localhost:{port}") == 101
        assert _ws_handshake(url, body, "http://evil.example.com") == 403
        assert _ws_handshake(url, body, f"http://127.0.0.1:{int(port) + 1}") == 403


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: D102
        return None


def test_basic_auth_blocks_unauthenticated_requests():
    opener = urllib.request.build_opener(_NoRedirect)
    with served("--basic-auth", "s3cret-pw") as (url, proc):
        wait_http(url + "/login", timeout=120)
        try:
            r = opener.open(url + "/", timeout=30)
            status, body = r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode()
        assert status in (302, 401, 403), status
        assert "offline RL" not in body  # the app itself is not served
        # a wrong password stays out, the right one gets in
        for password, ok in (("wrong", False), ("s3cret-pw", True)):
            data = urllib.parse.urlencode({"username": "user", "password": password}).encode()
            try:
                r = opener.open(urllib.request.Request(url + "/login", data=data), timeout=30)
                cookies = r.headers.get_all("Set-Cookie") or []
            except urllib.error.HTTPError as exc:
                cookies = exc.headers.get_all("Set-Cookie") or []
            user = [c.split(";")[0] for c in cookies if c.startswith("user=")
                    and not c.startswith("user=;") and 'user=""' not in c]
            assert bool(user) == ok, (password, cookies)
            if ok:
                req = urllib.request.Request(url + "/", headers={"Cookie": "; ".join(user)})
                with urllib.request.urlopen(req, timeout=60) as r:
                    assert r.status == 200 and "offline RL" in r.read().decode()
