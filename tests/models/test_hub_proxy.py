"""The hub client honours http_proxy/https_proxy/no_proxy as httpx and curl do (http.client does not by itself)."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from aima.models.download import pull
from aima.models.hub import settings_from_env

from .conftest import BIG, whisper_source


class _Forward(BaseHTTPRequestHandler):
    """A plain HTTP forward proxy: absolute-form request lines, forwarded as they came."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return

    def _forward(self) -> None:
        self.seen.append(self.path)
        target = urlsplit(self.path)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "proxy-connection")}
        conn.request(self.command, target.path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        self.send_response(r.status)
        for key, value in r.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", r.headers.get("content-length", str(len(body))))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        conn.close()

    do_GET = do_HEAD = _forward  # noqa: N815


@pytest.fixture
def proxy():
    _Forward.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forward)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Forward.seen
    server.shutdown()
    server.server_close()


def test_a_pull_goes_through_the_proxy_http_proxy_names(hf, tmp_path, proxy):
    url, seen = proxy
    settings = settings_from_env({"HF_ENDPOINT": hf.endpoint, "http_proxy": url, "HOME": str(tmp_path)})
    result = pull([whisper_source()], tmp_path / "hub", settings)
    assert result.files[0].outcome == "downloaded" and result.fetched_bytes == len(BIG)
    assert any("/resolve/" in p for p in seen) and any("/cdn/" in p for p in seen)  # API and CDN both proxied


def test_no_proxy_and_upper_case_names(tmp_path):
    env = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "NO_PROXY": "internal.example",
           "HOME": str(tmp_path)}
    settings = settings_from_env(env)
    assert settings.proxy_for("https://huggingface.co/x") == "http://lower:3128"  # lower case wins, as in curl
    assert settings.proxy_for("https://mirror.internal.example/x") is None
    assert settings.proxy_for("http://huggingface.co/x") is None  # no http_proxy named
    assert settings_from_env({"HOME": str(tmp_path)}).proxy_for("https://huggingface.co/x") is None
