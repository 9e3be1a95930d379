"""The Registry HTTP API v2 through httpx: anonymous or credentialed bearer tokens, Basic auth, plain HTTP on loopback.

The token flow is the one Docker Hub and ghcr.io use (distribution's docs/spec/auth/token.md): a request
without a token gets 401 and ``WWW-Authenticate: Bearer realm="…",service="…",scope="…"``; a GET of the
realm with that service and scope (with Basic credentials when the Docker config has some) answers
``{"token": …}`` (or ``access_token``); the request is repeated with ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aima.errors import AimaError
from aima.registry.reference import DOCKER_HUB, Reference, plain_http

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryUnreachable(AimaError):
    """The registry did not answer (connection refused, DNS, timeout, 5xx): nothing is known about the image."""


class RegistryRefused(AimaError):
    """The registry answered but would not give the image: not found, or credentials needed/refused."""


@dataclass(frozen=True)
class Credentials:
    """A user name and secret for one registry (Basic auth, or the token server's Basic auth)."""

    username: str
    secret: str


def docker_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json`` (as the docker CLI looks)."""
    from aima.paths import home

    env = os.environ if environ is None else environ
    folder = env.get("DOCKER_CONFIG")
    # aima.paths.home: a relative HOME is an error, never credentials read from the working directory.
    return Path(folder) / "config.json" if folder else home(env) / ".docker" / "config.json"


def credentials_for(registry: str, config: Path | None = None) -> Credentials | None:
    """What ``docker login`` stored for a registry: an ``auths`` entry or a credential helper; None without."""
    path = docker_config_path() if config is None else config
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    keys = _config_keys(registry)
    helper = next((data.get("credHelpers", {}).get(k) for k in keys if data.get("credHelpers", {}).get(k)), None)
    helper = helper or data.get("credsStore")
    for key, entry in (data.get("auths") or {}).items():
        if key.removeprefix("https://").removeprefix("http://").rstrip("/") in [k.rstrip("/") for k in keys]:
            found = _auth_entry(entry)
            if found:
                return found
    if isinstance(helper, str) and helper:
        return _from_helper(helper, keys[0])
    return None


def _config_keys(registry: str) -> list[str]:
    # docker login stores Docker Hub under its v1 index URL; everything else under the bare host.
    if registry == DOCKER_HUB:
        return ["https://index.docker.io/v1/", "index.docker.io/v1/", "docker.io", "registry-1.docker.io"]
    return [registry, f"https://{registry}"]


def _auth_entry(entry: Any) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return Credentials(user, secret)
    if entry.get("username") and entry.get("password"):
        return Credentials(str(entry["username"]), str(entry["password"]))
    return None


def _from_helper(helper: str, server: str) -> Credentials | None:
    # The credential-helper protocol: `docker-credential-<name> get`, server URL on stdin, JSON out.
    try:
        done = subprocess.run([f"docker-credential-{helper}", "get"], input=server, capture_output=True,
                              text=True, timeout=10, check=False)
        if done.returncode != 0:
            return None
        data = json.loads(done.stdout)
        return Credentials(str(data["Username"]), str(data["Secret"]))
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return None


class RegistryClient:
    """Reads manifests and blobs; one instance keeps its bearer tokens per registry and repository."""

    def __init__(self, *, timeout: float = 30.0, docker_config: Path | None = None,
                 transport: Any = None) -> None:
        import httpx

        self._http = httpx.Client(timeout=timeout, follow_redirects=True, transport=transport)
        self._docker_config = docker_config
        self._tokens: dict[tuple[str, str], str] = {}
        self._basic: dict[str, str] = {}

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the API -----------------------------------------------------------------------------------
    def manifest(self, ref: Reference, reference: str | None = None) -> tuple[str, dict, str]:
        """GET a manifest or index: (media type, parsed JSON, digest); the digest is checked when asked by digest."""
        wanted = reference or ref.reference
        with self._request(ref, f"manifests/{wanted}", accept=INDEX_TYPES + MANIFEST_TYPES) as response:
            body = response.read()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if wanted.startswith("sha256:") and digest != wanted:
            raise RegistryRefused(f"{ref.name}@{wanted}: the registry sent a manifest whose digest is {digest}")
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise RegistryRefused(f"{ref.name}:{wanted}: the manifest is not JSON ({exc})") from None
        media = data.get("mediaType") or response.headers.get("content-type", "").split(";")[0]
        return media, data, digest

    def blob_json(self, ref: Reference, digest: str) -> dict:
        """A small blob (an image config) as JSON, its digest checked."""
        with self._request(ref, f"blobs/{digest}") as response:
            body = response.read()
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryRefused(f"{ref.name}: blob {digest} does not match its digest")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise RegistryRefused(f"{ref.name}: config blob {digest} is not JSON ({exc})") from None

    @contextlib.contextmanager
    def blob_stream(self, ref: Reference, digest: str) -> Iterator[Iterator[bytes]]:
        """A layer's bytes as they arrive (never held whole in memory)."""
        with self._request(ref, f"blobs/{digest}") as response:
            yield response.iter_bytes(1024 * 1024)

    # -- HTTP with the auth dance --------------------------------------------------------------------
    def _url(self, ref: Reference, path: str) -> str:
        scheme = "http" if plain_http(ref.registry) else "https"
        return f"{scheme}://{ref.registry}/v2/{ref.repository}/{path}"

    @contextlib.contextmanager
    def _request(self, ref: Reference, path: str, accept: tuple[str, ...] = ()) -> Iterator[Any]:
        import httpx

        url = self._url(ref, path)
        headers = {"Accept": ", ".join(accept)} if accept else {}
        try:
            for attempt in range(2):
                auth = self._auth_header(ref)
                request = self._http.build_request("GET", url, headers={**headers, **auth})
                response = self._http.send(request, stream=True)
                try:
                    if response.status_code == 401 and attempt == 0:
                        challenge = response.headers.get("www-authenticate", "")
                        response.read()
                        self._answer(ref, challenge)
                        continue
                    self._check(ref, path, response)
                    yield response
                    return
                finally:
                    response.close()
        except httpx.TimeoutException as exc:
            raise RegistryUnreachable(
                f"registry {ref.registry} did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RegistryUnreachable(f"cannot reach registry {ref.registry}: {exc}") from None

    def _auth_header(self, ref: Reference) -> dict[str, str]:
        token = self._tokens.get((ref.registry, ref.repository))
        if token:
            return {"Authorization": f"Bearer {token}"}
        basic = self._basic.get(ref.registry)
        return {"Authorization": f"Basic {basic}"} if basic else {}

    def _credentials(self, registry: str) -> Credentials | None:
        return credentials_for(registry, self._docker_config)

    def _answer(self, ref: Reference, challenge: str) -> None:
        """Act on a 401's challenge: fetch a bearer token, or use Basic credentials."""
        import httpx

        scheme = challenge.split(" ", 1)[0].lower()
        params = dict(_CHALLENGE.findall(challenge))
        creds = self._credentials(ref.registry)
        if scheme == "basic":
            if not creds:
                raise RegistryRefused(f"registry {ref.registry} wants a login for {ref.name}",
                                      hint=f"docker login {ref.registry}")
            self._basic[ref.registry] = base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode()
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryRefused(f"registry {ref.registry} refused {ref.name} with an authentication scheme "
                                  f"aima does not speak: {challenge or 'none given'}")
        query = {"scope": params.get("scope") or f"repository:{ref.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = (creds.username, creds.secret) if creds else None
        try:
            response = self._http.get(params["realm"], params=query, auth=auth)
        except httpx.TransportError as exc:
            raise RegistryUnreachable(f"cannot reach the token server of {ref.registry} "
                                      f"({params['realm']}): {exc}") from None
        if response.status_code in (401, 403):
            who = "the stored credentials" if creds else "anonymous access"
            raise RegistryRefused(
                f"the token server of {ref.registry} refused {who} for {ref.name} (HTTP {response.status_code})",
                hint=f"docker login {ref.registry}" if not creds else "check the login with `docker login`")
        if response.status_code >= 400:
            raise RegistryUnreachable(f"the token server of {ref.registry} answered HTTP {response.status_code}")
        try:
            data = response.json()
            token = data.get("token") or data.get("access_token")
        except ValueError:
            token = None
        if not token:
            raise RegistryRefused(f"the token server of {ref.registry} answered without a token")
        self._tokens[(ref.registry, ref.repository)] = str(token)

    @staticmethod
    def _check(ref: Reference, path: str, response: Any) -> None:
        status = response.status_code
        if status < 400:
            return
        what = f"{ref.name} ({path.split('/')[0][:-1]} {path.split('/', 1)[1]})"
        if status == 404:
            raise RegistryRefused(f"registry {ref.registry} has no {what}")
        if status in (401, 403):
            creds = "" if status == 403 else " (a token was sent)"
            raise RegistryRefused(f"registry {ref.registry} denied access to {what}: HTTP {status}{creds}",
                                  hint=f"docker login {ref.registry}")
        if status == 429 or status >= 500:
            raise RegistryUnreachable(f"registry {ref.registry} answered HTTP {status} for {what}")
        raise RegistryRefused(f"registry {ref.registry} answered HTTP {status} for {what}")
