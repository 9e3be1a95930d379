"""A hub (or a mirror in HF_ENDPOINT) whose ETag or X-Repo-Commit names a path: both become cache path parts
(blobs/ETAG, snapshots/COMMIT), so `aima pull` refuses them in one line before writing anything.

Before: ETag '../../../escape' was taken as a blob name and the download was written outside the cache."""

from __future__ import annotations

import http.server
import threading

import pytest

from tests.e2e.upkit import aima

from .test_pull_cli import write_catalog

BODY = b"0123456789"


def _server(etag: str, commit: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _head(self):
            self.send_response(200)
            self.send_header("ETag", f'"{etag}"')
            self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()

        def do_HEAD(self):  # noqa: N802
            self._head()

        def do_GET(self):  # noqa: N802
            self._head()
            self.wfile.write(BODY)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize(("etag", "commit", "header"), [
    ("../../../../escape", "a" * 40, "ETag"),
    ("a" * 40, "../../../escape", "X-Repo-Commit"),
    ("/tmp/escape", "a" * 40, "ETag"),
    ("a" * 40, "..", "X-Repo-Commit"),
])
def test_a_hub_that_names_a_path_is_refused(etag, commit, header, tmp_path, monkeypatch):
    server = _server(etag, commit)
    work = tmp_path / "deep" / "er" / "still"
    work.mkdir(parents=True)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_HUB_CACHE", str(work / "hub"))
    monkeypatch.setenv("HF_HOME", str(work / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        result = aima("pull", "llm", "--images", write_catalog(work), "--hardware", "cpu-x86_64",
                      "--model", "llm=hf://org/repo/model.gguf")
    finally:
        server.shutdown()
    assert result.rc == 1, result.err
    assert f"gave {header} " in result.err and "refused as a cache file name" in result.err, result.err
    assert len(result.err.splitlines()) <= 2 and "Traceback" not in result.err
    escaped = [p for p in tmp_path.rglob("*escape*")] + list((tmp_path.parent).glob("escape"))
    assert not escaped and not (tmp_path / "escape").exists()
