"""A Hugging Face compatible file server on 127.0.0.1, for `aima pull` tests through HF_ENDPOINT.

It answers like the hub's file API: HEAD/GET ORG/REPO/resolve/REVISION/PATH with X-Repo-Commit, ETag and, for
LFS files, X-Linked-Etag (SHA-256) and X-Linked-Size plus a 302 to a "CDN" on a second port (another origin, so
a test can see that the token never leaves the endpoint); Range requests answer 206, or 416 past the end;
gated repositories answer 401 without a token and 403 with a wrong one; unknown repos, revisions and files 404.

The API part a folder model (hf://ORG/REPO) needs answers as the hub does: GET api/models/ORG/REPO/revision/REV
({"id", "sha", "siblings": [{"rfilename"}]}, huggingface_hub's model_info) and GET
api/models/ORG/REPO/tree/REV[?recursive=true] (entries {type, oid, size, path, lfs: {oid, size, pointerSize}} for
files, {type: directory, oid, size: 0, path} for folders), `page_size` entries a page with the next page in a
`Link: <URL>; rel="next"` header (huggingface_hub's paginate follows it). A gated repository answers its API 401/403
like its files, unless `list_public` (the hub shows a gated model's file list to anyone; only the files need
the token).

Faults are switched on the server object: cut the connection at a byte offset, serve wrong bytes, stall,
throttle. `python -m tests.harness.hfserver FILE...` serves files (repo test/bench) until killed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LFS_MIN = 1024  # files at least this big are LFS files (the hub's real threshold is larger; tests use small files)
_RESOLVE = re.compile(r"^/(?P<org>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_API = re.compile(r"^/api/models/(?P<org>[^/]+)/(?P<name>[^/]+)/(?P<kind>revision|tree)/(?P<rev>[^/]+)$")
_CDN = re.compile(r"^/cdn/(?P<sha>[0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


# The real hub stores these digests; computing them per request made every HEAD cost a pass over the file,
# which the throughput benchmark then charged to aima (it asks HEAD before GET, curl does not).
@functools.lru_cache(maxsize=256)
def git_blob_id(data: bytes) -> str:
    """The git blob SHA-1 the hub uses as a small file's ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@functools.lru_cache(maxsize=256)
def sha256_of(data: bytes) -> str:
    """SHA-256 of a file's bytes (the LFS object id)."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class Repo:
    """One repository: a commit, its branch names, files, and an access token when it is gated."""

    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    branches: tuple[str, ...] = ("main",)
    token: str | None = None  # gated: only this bearer token may read
    list_public: bool = False  # gated, but the API (model info, file listing) answers without the token
    tree_extra: list[dict] = field(default_factory=list)  # entries a hostile server adds to the file listing

    def sha256(self, path: str) -> str:
        """SHA-256 of a file."""
        return sha256_of(self.files[path])


@dataclass
class Faults:
    """What goes wrong on the next downloads (the test switches these)."""

    cut_at: int | None = None  # close the connection once the body reaches this byte offset (once)
    corrupt: bool = False  # serve the right length but wrong bytes
    stall_s: float = 0.0  # after the headers and the first chunk, send nothing for this long
    rate: int | None = None  # bytes per second
    stall_head_s: float = 0.0  # HEAD answers this late
    stall_api_s: float = 0.0  # the API (model info, file listing) answers this late


@dataclass
class Log:
    """What the server saw."""

    requests: list[tuple[str, str, str | None, bool]] = field(default_factory=list)  # method, path, range, auth
    body_bytes: int = 0  # file bytes sent
    lock: threading.Lock = field(default_factory=threading.Lock)


class HfServer:
    """The API server and its CDN, on two loopback ports; use as a context manager."""

    def __init__(self, repos: dict[str, Repo] | None = None) -> None:
        self.repos: dict[str, Repo] = repos or {}
        self.page_size = 50  # file listing entries per page (the hub's is larger; tests page with a few files)
        self.faults = Faults()
        self.log = Log()
        self._servers: list[ThreadingHTTPServer] = []

    # --- lifecycle ---
    def __enter__(self) -> HfServer:
        self.api = self._serve(_ApiHandler)
        self.cdn = self._serve(_CdnHandler)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def _serve(self, handler: type) -> ThreadingHTTPServer:
        server = _Quiet(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.hf = self  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return server

    @property
    def endpoint(self) -> str:
        """The value for HF_ENDPOINT."""
        return f"http://127.0.0.1:{self.api.server_address[1]}"

    @property
    def cdn_origin(self) -> str:
        """Where LFS downloads are redirected."""
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def blob(self, sha: str) -> bytes | None:
        """LFS content by SHA-256."""
        for repo in self.repos.values():
            for path, data in repo.files.items():
                if len(data) >= LFS_MIN and repo.sha256(path) == sha:
                    return data
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return

    @property
    def hf(self) -> HfServer:
        return self.server.hf  # type: ignore[attr-defined]

    def _record(self) -> None:
        with self.hf.log.lock:
            self.hf.log.requests.append((self.command, self.path, self.headers.get("range"),
                                         "authorization" in {k.lower() for k in self.headers}))

    def _error(self, status: int, code: str) -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _body(self, data: bytes, extra: dict[str, str]) -> None:
        """Send data with Range support (206/416) and the current faults."""
        start, end = 0, len(data) - 1
        wanted = self.headers.get("range")
        status = 200
        if wanted:
            m = _RANGE.match(wanted.strip())
            if not m:
                return self._error(400, "BadRange")
            start = int(m[1])
            end = min(int(m[2]), len(data) - 1) if m[2] else len(data) - 1
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            status = 206
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if self.command == "HEAD":
            return None
        faults = self.hf.faults
        body = data if not faults.corrupt else bytes(b ^ 0xFF for b in data)
        pos, stalled = start, False
        chunk = 256 * 1024 if faults.rate is None else max(1024, faults.rate // 20)
        began = time.monotonic()
        while pos <= end:
            stop = min(end + 1, pos + chunk)
            if faults.cut_at is not None and pos < faults.cut_at <= stop:
                self.wfile.write(body[pos:faults.cut_at])
                self._count(faults.cut_at - pos)
                faults.cut_at = None
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the peer sees the body end early
                return None
            self.wfile.write(body[pos:stop])
            self._count(stop - pos)
            pos = stop
            if faults.stall_s and not stalled:
                stalled = True
                self.wfile.flush()
                time.sleep(faults.stall_s)
            if faults.rate:
                ahead = (pos - start) / faults.rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
        return None

    def _count(self, n: int) -> None:
        with self.hf.log.lock:
            self.hf.log.body_bytes += n


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away (killed, cut) is a test
            return
        super().handle_error(request, client_address)


class _ApiHandler(_Handler):
    def do_HEAD(self) -> None:  # noqa: N802
        self._resolve()

    def do_GET(self) -> None:  # noqa: N802
        self._resolve()

    def _refused(self, repo: Repo) -> bool:
        """A gated repository without the right token: 401 (none) or 403 (another); True when refused."""
        if repo.token is None:
            return False
        auth = self.headers.get("authorization")
        if not auth:
            self._error(401, "GatedRepo")
            return True
        if auth != f"Bearer {repo.token}":
            self._error(403, "GatedRepo")
            return True
        return False

    def _resolve(self) -> None:
        self._record()
        parts = urlsplit(self.path)
        api = _API.match(parts.path)
        if api and self.command == "GET":
            return self._api(api, parts.query)
        m = _RESOLVE.match(parts.path)
        if not m:
            return self._error(404, "EntryNotFound")
        if self.command == "HEAD" and self.hf.faults.stall_head_s:
            time.sleep(self.hf.faults.stall_head_s)
        repo_id = f"{m['org']}/{m['name']}"
        repo = self.hf.repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound")
        if self._refused(repo):
            return None
        rev, path = unquote(m["rev"]), unquote(m["path"])
        if rev != repo.commit and rev not in repo.branches:
            return self._error(404, "RevisionNotFound")
        data = repo.files.get(path)
        if data is None:
            return self._error(404, "EntryNotFound")
        headers = {"X-Repo-Commit": repo.commit}
        if len(data) >= LFS_MIN:
            sha = repo.sha256(path)
            self.send_response(302)
            self.send_header("Location", f"{self.hf.cdn_origin}/cdn/{sha}")
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("ETag", f'"{git_blob_id(data)}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        headers["ETag"] = f'"{git_blob_id(data)}"'
        return self._body(data, headers)


    def _api(self, m: re.Match[str], query: str) -> None:
        if self.hf.faults.stall_api_s:
            time.sleep(self.hf.faults.stall_api_s)
        repo_id = f"{m['org']}/{m['name']}"
        repo = self.hf.repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound")
        if not repo.list_public and self._refused(repo):
            return None
        rev = unquote(m["rev"])
        if rev != repo.commit and rev not in repo.branches:
            return self._error(404, "RevisionNotFound")
        headers: dict[str, str] = {}
        if m["kind"] == "revision":
            doc: object = {"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                           "gated": "manual" if repo.token else False,
                           "siblings": [{"rfilename": p} for p in sorted(repo.files)]}
        else:
            params = parse_qs(query)
            entries = tree(repo.files, recursive=params.get("recursive", ["false"])[0] == "true") + repo.tree_extra
            start = int(params.get("cursor", ["0"])[0])
            doc = entries[start:start + self.hf.page_size]
            if start + self.hf.page_size < len(entries):
                nxt = f"{self.hf.endpoint}/api/models/{repo_id}/tree/{m['rev']}?{query.split('&cursor=')[0]}" \
                      f"&cursor={start + self.hf.page_size}"
                headers["Link"] = f'<{nxt}>; rel="next"'
        body = json.dumps(doc).encode()
        self.send_response(200)
        for key, value in {**headers, "Content-Type": "application/json",
                           "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        return None


def tree(files: dict[str, bytes], recursive: bool) -> list[dict]:
    """The hub's tree entries for a repository's files: folders first at each level, as the hub lists them."""
    dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
    out: list[dict] = []
    for d in dirs:
        if recursive or "/" not in d:
            out.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d})
    for path in sorted(files):
        if not recursive and "/" in path:
            continue
        data = files[path]
        entry: dict = {"type": "file", "oid": git_blob_id(data), "size": len(data), "path": path}
        if len(data) >= LFS_MIN:
            sha = sha256_of(data)
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
            entry.update(oid=git_blob_id(pointer), lfs={"oid": sha, "size": len(data), "pointerSize": len(pointer)})
        out.append(entry)
    return out


class _CdnHandler(_Handler):
    def do_HEAD(self) -> None:  # noqa: N802
        self._blob()

    def do_GET(self) -> None:  # noqa: N802
        self._blob()

    def _blob(self) -> None:
        self._record()
        m = _CDN.match(urlsplit(self.path).path)
        data = self.hf.blob(m["sha"]) if m else None
        if data is None:
            return self._error(404, "EntryNotFound")
        return self._body(data, {"ETag": f'"{m["sha"]}"'})


def main(argv: list[str]) -> int:
    """Serve the given files as repository test/bench (main) and print the endpoint; runs until killed."""
    files = {os.path.basename(p): open(p, "rb").read() for p in argv}
    with HfServer({"test/bench": Repo(files)}) as server:
        print(server.endpoint, flush=True)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
