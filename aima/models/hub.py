"""The Hugging Face file API over http.client: HEAD on resolve/ for size, digest and commit; ranged GETs for the bytes.

The token (HF_TOKEN or huggingface_hub's token file) goes only to the endpoint's own origin, never to a redirect
target (the CDN), and never into a message.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from aima.errors import AimaError
from aima.models.source import COMMIT, SHA256, check_repo_path

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_TIMEOUT_S = 10.0  # huggingface_hub's HF_HUB_DOWNLOAD_TIMEOUT default
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class HubSettings:
    """Endpoint, token, offline switch and timeout, from the environment huggingface_hub reads."""

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = None
    offline: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    proxies: tuple[tuple[str, str], ...] = ()  # (scheme or "all" or "no", value) from the *_proxy variables

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL for url, or None (no proxy named, or NO_PROXY covers the host)."""
        if not self.proxies:
            return None
        from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # in CPython, not typeshed

        proxies = dict(self.proxies)
        parts = urlsplit(url)
        if proxy_bypass_environment(parts.hostname or "", proxies):
            return None
        return proxies.get(parts.scheme) or proxies.get("all")

    def __repr__(self) -> str:  # the token never shows, not even in a debug print
        return (f"HubSettings(endpoint={self.endpoint!r}, token={'***' if self.token else None}, "
                f"offline={self.offline}, timeout_s={self.timeout_s})")

    @property
    def has_token(self) -> bool:
        """Whether a token was found (the value itself is never shown)."""
        return bool(self.token)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def token_file(env: dict[str, str]) -> Path:
    """HF_TOKEN_PATH, else HF_HOME/token, else XDG_CACHE_HOME/huggingface/token or ~/.cache/huggingface/token."""
    if env.get("HF_TOKEN_PATH"):
        return Path(env["HF_TOKEN_PATH"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "token"
    from aima.paths import cache_home

    return cache_home(env) / "huggingface" / "token"


def settings_from_env(env: dict[str, str] | None = None, *, offline: bool = False) -> HubSettings:
    """HF_ENDPOINT, HF_TOKEN (or the token file), HF_HUB_OFFLINE, HF_HUB_DOWNLOAD_TIMEOUT."""
    env = dict(os.environ) if env is None else env
    token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        try:
            token = token_file(env).read_text().strip() or None
        except OSError:
            token = None
    try:
        timeout = float(env.get("HF_HUB_DOWNLOAD_TIMEOUT") or DEFAULT_TIMEOUT_S)
    except ValueError:
        timeout = math.nan
    if not (math.isfinite(timeout) and 0 < timeout <= 3600):  # nan, inf, 1e308 and 0 broke the socket timeout
        raise AimaError(f"HF_HUB_DOWNLOAD_TIMEOUT must be a number of seconds between 0 and 3600, got "
                        f"{env['HF_HUB_DOWNLOAD_TIMEOUT']!r}")
    endpoint = (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    try:
        parts = urlsplit(endpoint)
        good = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # an unclosed [IPv6 bracket, a port that is not a number or out of range
        good = False
    if not good:
        shown = re.sub(r"//[^/]*@", "//***@", endpoint)  # a user:password in it is not echoed
        raise AimaError(f"HF_ENDPOINT must be an http(s) URL with a host, got {shown!r}")
    return HubSettings(endpoint=endpoint, token=token, offline=offline or _truthy(env.get("HF_HUB_OFFLINE")),
                       timeout_s=max(0.1, timeout), proxies=_proxies(env))


def _proxies(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """http_proxy, https_proxy, all_proxy, no_proxy (lower case wins over upper case, as curl and urllib read them)."""
    found: dict[str, str] = {}
    for key in sorted(env, key=lambda k: k.islower()):  # upper case first, lower case overrides
        if key.lower().endswith("_proxy") and env[key]:
            found[key.lower()[:-len("_proxy")]] = env[key]
    return tuple(sorted(found.items()))


@dataclass(frozen=True)
class RemoteFile:
    """What the server says about one file before any byte is fetched."""

    url: str
    commit: str | None  # X-Repo-Commit
    etag: str  # the blob name: the LFS SHA-256, or the git blob SHA-1 of a small file
    size: int
    lfs_sha256: str | None  # X-Linked-Etag when it is a SHA-256


@dataclass(frozen=True)
class ListedFile:
    """One file of a repository listing: its path, size, git blob id and, for an LFS file, its SHA-256."""

    path: str
    size: int
    oid: str  # the git blob id (of the LFS pointer, for an LFS file)
    lfs_sha256: str | None  # the LFS object id: the file's SHA-256

    @property
    def etag(self) -> str:
        """The name the hub cache gives its blob (what HEAD on resolve/ answers as the ETag)."""
        return self.lfs_sha256 or self.oid


@dataclass(frozen=True)
class Listing:
    """A repository's files at one commit."""

    repo: str
    revision: str
    commit: str
    files: tuple[ListedFile, ...]


class HubError(AimaError):
    """The hub refused a request (gated, missing, server error); status says which."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")  # one plain path part: no '/', '..' start, control


def _clean_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


class TransferError(Exception):
    """The body stopped arriving (connection cut or reset); the bytes already handed over are good."""


class TransferStalled(TransferError):
    """The server sent nothing for the timeout."""


class Body:
    """A response body read into the caller's buffers: no copies, and bytes that arrived before a stall or a cut
    are handed over before the error is raised."""

    def __init__(self, response: Any, url: str, timeout_s: float) -> None:
        self.response = response
        self.status: int = response.status
        self.headers = response.headers
        self._url = url
        self._timeout_s = timeout_s
        self._left: int | None = response.length  # None: chunked or until close
        self._pending: Exception | None = None

    FILL_S = 0.1  # a slow link hands over what it has after this long, so progress and the file keep moving

    def readinto(self, view: memoryview) -> int:
        """Fill view as far as bytes come (for at most FILL_S once some have); 0 at the end of the body;
        TransferError once the stream broke."""
        import http.client
        import time

        if self._pending is not None:
            raise self._pending
        got = 0
        started = time.monotonic()
        while got < len(view) and self._left != 0 and not (got and time.monotonic() - started >= self.FILL_S):
            want = view[got:] if self._left is None else view[got:got + self._left]
            try:
                # One recv per call straight into the buffer (readinto1); http.client's own readinto for chunked.
                n = self.response.fp.readinto1(want) if self._left is not None else self.response.readinto(want)
            except TimeoutError as exc:
                self._pending = TransferStalled(f"no bytes for {self._timeout_s:g} s from {_host(self._url)}")
                self._pending.__cause__ = exc
                break
            except (OSError, http.client.HTTPException) as exc:
                self._pending = TransferError(f"{type(exc).__name__}: {exc}")
                self._pending.__cause__ = exc
                break
            if not n:
                if self._left is not None:
                    self._pending = TransferError("the server closed the connection early")
                break
            got += n
            if self._left is not None:
                self._left -= n
        if not got and self._pending is not None:
            raise self._pending
        return got

    @property
    def finished(self) -> bool:
        """Whether the whole body was read (the connection can carry another request)."""
        return self._left == 0 or (self._left is None and self.response.isclosed())


class Hub:
    """HTTP to the endpoint and its CDN over the standard library's http.client, one kept-alive connection per
    origin; close() when done.

    Why not httpx here (aima's HTTP client elsewhere): the model bytes are the one place where the client's
    speed shows. http.client reads straight into the downloader's buffers (no per-64-KiB parser events and
    copies as with httpx/h11), and it imports in ~20 ms instead of ~200 ms, which a fresh `aima pull` of a
    small file pays in full (benchmarks/pull.py).
    """

    def __init__(self, settings: HubSettings) -> None:
        from aima import __version__

        self.settings = settings
        self._origin = _origin(settings.endpoint)
        self._base = {"user-agent": f"aima/{__version__}", "accept-encoding": "identity"}
        self._conns: dict[tuple[str, str], Any] = {}
        self._tls: Any = None

    def close(self) -> None:
        """Release the connections."""
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def resolve_url(self, repo: str, revision: str, path: str) -> str:
        """ENDPOINT/ORG/REPO/resolve/REVISION/PATH."""
        return f"{self.settings.endpoint}/{repo}/resolve/{quote(revision, safe='')}/{quote(path)}"

    def _headers(self, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {**self._base, **(extra or {})}
        if self.settings.token and _origin(url) == self._origin:
            headers["authorization"] = f"Bearer {self.settings.token}"
        return headers

    def _connection(self, url: str) -> tuple[Any, str]:
        """A connection for url's origin (through the proxy the environment names) and the request target."""
        import http.client

        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc.lower())
        target = parts.path + (f"?{parts.query}" if parts.query else "") or "/"
        proxy = self.settings.proxy_for(url)
        if proxy and parts.scheme == "http":
            target = url  # absolute-form through an HTTP proxy
        conn = self._conns.get(key)
        if conn is None:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            host, connect_port = parts.hostname or "", port
            if proxy:
                p = urlsplit(proxy)
                host, connect_port = p.hostname or "", p.port or 80
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(host, connect_port, timeout=self.settings.timeout_s,
                                                   context=self._tls_context())
                if proxy:
                    conn.set_tunnel(parts.hostname or "", port)
            else:
                conn = http.client.HTTPConnection(host, connect_port, timeout=self.settings.timeout_s)
            self._conns[key] = conn
        return conn, target

    def _tls_context(self) -> Any:
        import ssl

        if self._tls is None:
            self._tls = ssl.create_default_context()  # the system's CAs (SSL_CERT_FILE honoured), as curl uses
            try:  # and certifi's, as httpx used: slim images (python:*-slim) have no CA bundle of their own
                import certifi

                self._tls.load_verify_locations(certifi.where())
            except (ImportError, OSError):
                pass
        return self._tls

    def _drop(self, url: str) -> None:
        conn = self._conns.pop(_origin(url), None)
        if conn is not None:
            conn.close()

    def _send(self, method: str, url: str, headers: dict[str, str]) -> Any:
        """One request; a kept-alive connection the server closed meanwhile is reopened once."""
        import http.client

        for attempt in (1, 2):
            conn, target = self._connection(url)
            reused = conn.sock is not None
            try:
                conn.request(method, target, headers=self._headers(url, headers))
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop(url)
                if not reused or attempt == 2:
                    raise
            except BaseException:
                self._drop(url)
                raise
        raise AssertionError("unreachable")

    def _finish(self, url: str, response: Any) -> None:
        """Read a small body to its end so the connection can carry the next request."""
        try:
            response.read()
        except (OSError, Exception):  # noqa: BLE001 - a broken keep-alive only costs a new connection
            self._drop(url)
        if response.will_close:
            self._drop(url)

    def head(self, repo: str, revision: str, path: str) -> RemoteFile:
        """HEAD resolve/: the file's size, ETag, LFS SHA-256 and the commit the revision points at."""
        import http.client

        url = self.resolve_url(repo, revision, path)
        where = f"{repo}@{revision}: {path}"
        try:
            r = self._send("HEAD", url, {})
            self._finish(url, r)
            hops = 0
            # A renamed repository answers with a relative redirect to the new name; follow those on the endpoint.
            while r.status in _REDIRECTS and not r.headers.get("x-linked-etag") and hops < 5:
                url = urljoin(url, r.headers.get("location", ""))
                r = self._send("HEAD", url, {})
                self._finish(url, r)
                hops += 1
        except (OSError, http.client.HTTPException) as exc:
            raise self._unreachable(url, where, exc) from exc
        self.raise_for(r.status, r.headers, repo, revision, path)
        etag = _clean_etag(r.headers.get("x-linked-etag")) or _clean_etag(r.headers.get("etag"))
        size_text = r.headers.get("x-linked-size") or r.headers.get("content-length")
        if not etag or not size_text or not size_text.isdigit():
            raise AimaError(f"{_host(url)} gave no ETag or size for {where} (is HF_ENDPOINT a Hugging Face API?)")
        commit = (r.headers.get("x-repo-commit") or "").strip() or None
        # Both become cache path parts (blobs/ETAG, snapshots/COMMIT): a server must not name a path outside it.
        for header, value in (("ETag", etag), ("X-Repo-Commit", commit)):
            if value is not None and not _SAFE_NAME.match(value):
                raise AimaError(f"{_host(url)} gave {header} {value[:80]!r} for {where}, "
                                "which is not a digest or commit id; refused as a cache file name",
                                hint="is HF_ENDPOINT a Hugging Face API? a mirror must pass the hub's headers through")
        linked = _clean_etag(r.headers.get("x-linked-etag"))
        return RemoteFile(url=url, commit=commit, etag=etag, size=int(size_text),
                          lfs_sha256=linked if linked and SHA256.match(linked) else None)

    LISTING_MAX_BYTES = 64 << 20  # one page of a listing; a server that sends more is not a hub
    LISTING_MAX_PAGES = 10_000

    def listing(self, repo: str, revision: str) -> Listing:
        """The repository's files at revision, with sizes and LFS SHA-256, and the commit it names.

        Two calls of the hub's API, as huggingface_hub's snapshot_download makes them: GET
        api/models/REPO/revision/REV answers the commit as "sha" (HfApi.model_info), then GET
        api/models/REPO/tree/COMMIT?recursive=true lists {type, path, size, oid, lfs: {oid, size}} a page at a time,
        the next page named by the Link header's rel="next" (HfApi.list_repo_tree; huggingface.js listFiles). Listing
        at the commit, not the branch, keeps every file of one snapshot even when the branch moves meanwhile.
        """
        info = self._api_json(f"{self.settings.endpoint}/api/models/{repo}/revision/{quote(revision, safe='')}",
                              repo, revision)[0]
        commit = info.get("sha") if isinstance(info, dict) else None
        if not isinstance(commit, str) or not COMMIT.match(commit):
            raise AimaError(f"{_host(self.settings.endpoint)} named no commit for {repo}@{revision} "
                            f"(got {str(commit)[:80]!r} as its sha)",
                            hint="is HF_ENDPOINT a Hugging Face API? a mirror must serve api/models/REPO/revision/REV")
        url: str | None = f"{self.settings.endpoint}/api/models/{repo}/tree/{commit}?recursive=true"
        files: list[ListedFile] = []
        seen: set[str] = set()
        while url is not None:
            if url in seen or len(seen) >= self.LISTING_MAX_PAGES:
                raise AimaError(f"{_host(url)} keeps paging the file listing of {repo}@{revision} "
                                f"({len(seen)} pages)", hint="is HF_ENDPOINT a Hugging Face API?")
            seen.add(url)
            page, headers = self._api_json(url, repo, revision)
            if not isinstance(page, list):
                raise AimaError(f"{_host(url)} answered the file listing of {repo}@{revision} with a "
                                f"{type(page).__name__}, not a list", hint="is HF_ENDPOINT a Hugging Face API?")
            files.extend(f for f in (_listed(item, url, repo, revision) for item in page) if f is not None)
            url = _next_link(headers.get("link"), url)
        return Listing(repo, revision, commit, tuple(files))

    def _api_json(self, url: str, repo: str, revision: str) -> tuple[Any, Any]:
        """GET a JSON document of the hub's API (same-origin redirects followed): (the value, the headers)."""
        import http.client
        import json

        where = f"{repo}@{revision}: the file listing"
        try:
            for _ in range(6):
                r = self._send("GET", url, {"accept": "application/json"})
                if r.status not in _REDIRECTS or not r.headers.get("location"):
                    break
                self._finish(url, r)
                url = urljoin(url, r.headers["location"])  # a renamed repository
            if r.status >= 400:
                self._finish(url, r)
                self.raise_for(r.status, r.headers, repo, revision, "")
            body = r.read(self.LISTING_MAX_BYTES + 1)
            if r.will_close or len(body) > self.LISTING_MAX_BYTES:
                self._drop(url)
        except (OSError, http.client.HTTPException) as exc:
            raise self._unreachable(url, where, exc) from exc
        if r.status != 200 or len(body) > self.LISTING_MAX_BYTES:
            raise AimaError(f"{_host(url)} answered {r.status} with {len(body)} bytes for {where}",
                            hint="is HF_ENDPOINT a Hugging Face API?")
        try:
            return json.loads(body), r.headers
        except ValueError as exc:  # also a body that is not UTF-8
            raise AimaError(f"{_host(url)} answered {where} with no JSON ({exc})",
                            hint="is HF_ENDPOINT a Hugging Face API?") from exc

    def _unreachable(self, url: str, where: str, exc: Exception) -> AimaError:
        """A request to the hub that timed out or could not connect, as one line naming the host and the file."""
        if isinstance(exc, TimeoutError):
            return AimaError(f"{_host(url)} did not answer within {self.settings.timeout_s:g} s (asking for {where})",
                             hint="check the network or HF_ENDPOINT; HF_HUB_DOWNLOAD_TIMEOUT sets the wait")
        return AimaError(f"cannot reach {_host(url)} for {where}: {type(exc).__name__}: {exc}",
                         hint="check the network or HF_ENDPOINT (a mirror), or use --offline")

    def raise_for(self, status: int, headers: Any, repo: str, revision: str, path: str) -> None:
        """Turn a refusal into a one-line error naming the model and what to do (path '': the file listing)."""
        if status < 400:
            return
        code = headers.get("x-error-code", "") or ""
        page = f"{self.settings.endpoint}/{repo}"
        if status in (401, 403) or code == "GatedRepo":
            have = "the token aima sent was not accepted" if self.settings.token else "no token was found"
            raise HubError(
                f"model {repo} is gated or private: {_host(page)} answered {status} ({have})", status=status,
                hint=f"accept its terms at {page} while logged in, then set HF_TOKEN to a read token "
                     f"({self.settings.endpoint}/settings/tokens) or run `hf auth login`")
        if status == 404:
            what = {"RepoNotFound": f"repository {repo} does not exist",
                    "RevisionNotFound": f"revision {revision} of {repo} does not exist",
                    "EntryNotFound": f"{repo}@{revision} has no file {path}"}.get(
                        code, f"{repo}@{revision}: {path or 'the file listing'} was not found")
            raise HubError(f"{what} ({_host(page)} answered 404)", status=404,
                           hint="check the model's hf:// URI or the catalogue's source")
        raise HubError(f"{_host(page)} answered {status} for {repo}@{revision}: {path or 'the file listing'}",
                       status=status,
                       hint="try again later, or point HF_ENDPOINT at a mirror")

    @contextmanager
    def get(self, url: str, start: int) -> Iterator[Body]:
        """GET from byte `start` (Range), following redirects; the token stays on the endpoint's origin.

        Connecting problems raise TransferError (TransferStalled on a timeout), like a cut body does."""
        import http.client

        headers = {"range": f"bytes={start}-"} if start else {}
        for _ in range(10):
            try:
                response = self._send("GET", url, headers)
            except TimeoutError as exc:
                raise TransferStalled(f"{_host(url)} did not answer within {self.settings.timeout_s:g} s") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise TransferError(f"{type(exc).__name__}: {exc}") from exc
            if response.status in _REDIRECTS and response.headers.get("location"):
                self._finish(url, response)
                url = urljoin(url, response.headers["location"])
                continue
            body = Body(response, url, self.settings.timeout_s)
            complete = False
            try:
                yield body
                complete = body.finished
            finally:
                if complete and not response.will_close:
                    response.close()  # the socket stays with the connection for the next request
                else:
                    self._drop(url)
            return
        raise AimaError(f"too many redirects fetching {url}")


def _listed(item: Any, url: str, repo: str, revision: str) -> ListedFile | None:
    """One entry of a tree page as a file (None: a folder), refused when a name or digest could leave the cache."""
    if not isinstance(item, dict) or item.get("type") != "file":
        return None
    path, size, oid, lfs = item.get("path"), item.get("size"), item.get("oid"), item.get("lfs")
    where = f"{_host(url)} listed {repo}@{revision}"
    if not isinstance(path, str) or check_repo_path(path):
        raise AimaError(f"{where} with a file named {str(path)[:80]!r}, not a plain path inside the repository; "
                        "refused", hint="is HF_ENDPOINT a Hugging Face API?")
    sha = None
    if isinstance(lfs, dict):
        sha = str(lfs.get("oid") or lfs.get("sha256") or "").removeprefix("sha256:")
        size = lfs.get("size", size)
        if not SHA256.match(sha):
            raise AimaError(f"{where}: {path} has LFS oid {sha[:80]!r}, not a SHA-256; refused",
                            hint="is HF_ENDPOINT a Hugging Face API?")
    # Both become cache path parts (blobs/OID); sizes decide the disk check and the Range requests.
    if not isinstance(oid, str) or not _SAFE_NAME.match(oid) or isinstance(size, bool) or not isinstance(size, int) \
            or size < 0:
        raise AimaError(f"{where}: {path} has oid {str(oid)[:80]!r} and size {str(size)[:40]!r}, not a blob id and a "
                        "byte count; refused", hint="is HF_ENDPOINT a Hugging Face API?")
    return ListedFile(path, size, oid, sha)


def _next_link(value: str | None, url: str) -> str | None:
    """The rel="next" URL of a Link header (RFC 8288), relative ones resolved against url; None at the last page."""
    for part in (value or "").split(","):
        target, _, params = part.partition(";")
        target = target.strip()
        if target.startswith("<") and target.endswith(">") and re.search(r'rel="?next"?(\s|;|$)', params.strip()):
            return urljoin(url, target[1:-1])
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _host(url: str) -> str:
    """host[:port] of a URL for messages: never the user:password an HF_ENDPOINT may carry."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    return netloc.rsplit("@", 1)[-1] if netloc else url.rsplit("@", 1)[-1]
