"""The Hugging Face file API over httpx: HEAD on resolve/ for size, digest and commit; ranged GETs for the bytes.

The token (HF_TOKEN or huggingface_hub's token file) goes only to the endpoint's own origin, never to a redirect
target (the CDN), and never into a message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from aima.errors import AimaError
from aima.models.source import SHA256

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
    cache = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "huggingface" / "token"


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
    except ValueError as exc:
        raise AimaError(f"HF_HUB_DOWNLOAD_TIMEOUT must be a number of seconds, got "
                        f"{env['HF_HUB_DOWNLOAD_TIMEOUT']!r}") from exc
    endpoint = (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    if urlsplit(endpoint).scheme not in ("http", "https"):
        raise AimaError(f"HF_ENDPOINT must be an http(s) URL, got {endpoint!r}")
    return HubSettings(endpoint=endpoint, token=token, offline=offline or _truthy(env.get("HF_HUB_OFFLINE")),
                       timeout_s=max(0.1, timeout))


@dataclass(frozen=True)
class RemoteFile:
    """What the server says about one file before any byte is fetched."""

    url: str
    commit: str | None  # X-Repo-Commit
    etag: str  # the blob name: the LFS SHA-256, or the git blob SHA-1 of a small file
    size: int
    lfs_sha256: str | None  # X-Linked-Etag when it is a SHA-256


class HubError(AimaError):
    """The hub refused a request (gated, missing, server error); status says which."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def _clean_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


class Hub:
    """One HTTP client for the endpoint; close() when done."""

    def __init__(self, settings: HubSettings) -> None:
        import httpx

        from aima import __version__

        self.settings = settings
        self._origin = _origin(settings.endpoint)
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s), follow_redirects=False,
            headers={"user-agent": f"aima/{__version__}", "accept-encoding": "identity"},
        )

    def close(self) -> None:
        """Release the connections."""
        self._client.close()

    def resolve_url(self, repo: str, revision: str, path: str) -> str:
        """ENDPOINT/ORG/REPO/resolve/REVISION/PATH."""
        return f"{self.settings.endpoint}/{repo}/resolve/{quote(revision, safe='')}/{quote(path)}"

    def _headers(self, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.settings.token and _origin(url) == self._origin:
            headers["authorization"] = f"Bearer {self.settings.token}"
        return headers

    def head(self, repo: str, revision: str, path: str) -> RemoteFile:
        """HEAD resolve/: the file's size, ETag, LFS SHA-256 and the commit the revision points at."""
        import httpx

        url = self.resolve_url(repo, revision, path)
        where = f"{repo}@{revision}: {path}"
        try:
            r = self._client.head(url, headers=self._headers(url))
            hops = 0
            # A renamed repository answers with a relative redirect to the new name; follow those on the endpoint.
            while r.status_code in _REDIRECTS and not r.headers.get("x-linked-etag") and hops < 5:
                url = urljoin(url, r.headers.get("location", ""))
                r = self._client.head(url, headers=self._headers(url))
                hops += 1
        except httpx.TimeoutException as exc:
            raise AimaError(f"{_host(url)} did not answer within {self.settings.timeout_s:g} s (asking for {where})",
                            hint="check the network or HF_ENDPOINT; HF_HUB_DOWNLOAD_TIMEOUT sets the wait") from exc
        except httpx.HTTPError as exc:
            raise AimaError(f"cannot reach {_host(url)} for {where}: {type(exc).__name__}: {exc}",
                            hint="check the network or HF_ENDPOINT (a mirror), or use --offline") from exc
        self.raise_for(r.status_code, r.headers, repo, revision, path)
        etag = _clean_etag(r.headers.get("x-linked-etag")) or _clean_etag(r.headers.get("etag"))
        size_text = r.headers.get("x-linked-size") or r.headers.get("content-length")
        if not etag or not size_text or not size_text.isdigit():
            raise AimaError(f"{_host(url)} gave no ETag or size for {where} (is HF_ENDPOINT a Hugging Face API?)")
        linked = _clean_etag(r.headers.get("x-linked-etag"))
        return RemoteFile(url=url, commit=r.headers.get("x-repo-commit"), etag=etag, size=int(size_text),
                          lfs_sha256=linked if linked and SHA256.match(linked) else None)

    def raise_for(self, status: int, headers: Any, repo: str, revision: str, path: str) -> None:
        """Turn a refusal into a one-line error naming the model and what to do."""
        if status < 400:
            return
        code = headers.get("x-error-code", "")
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
                        code, f"{repo}@{revision}: {path} was not found")
            raise HubError(f"{what} ({_host(page)} answered 404)", status=404,
                           hint="check the model's hf:// URI or the catalogue's source")
        raise HubError(f"{_host(page)} answered {status} for {repo}@{revision}: {path}", status=status,
                       hint="try again later, or point HF_ENDPOINT at a mirror")

    @contextmanager
    def get(self, url: str, start: int) -> Iterator[Any]:
        """GET from byte `start` (Range), following redirects; the token stays on the endpoint's origin."""
        headers = {"range": f"bytes={start}-"} if start else {}
        for _ in range(10):
            request = self._client.build_request("GET", url, headers=self._headers(url, headers))
            response = self._client.send(request, stream=True)
            if response.status_code in _REDIRECTS and response.headers.get("location"):
                response.close()
                url = urljoin(url, response.headers["location"])
                continue
            try:
                yield response
            finally:
                response.close()
            return
        raise AimaError(f"too many redirects fetching {url}")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
