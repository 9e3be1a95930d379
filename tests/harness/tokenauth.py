"""A docker-registry that requires bearer tokens, and the token server that issues them, on loopback ports.

The registry is Debian's docker-registry with distribution's token auth (``auth: token:`` with realm,
service, issuer and rootcertbundle); the token server answers as Docker Hub's and ghcr.io's do
(distribution docs/spec/auth/token.md): GET <realm>?service=…&scope=repository:<name>:<actions>, optional
Basic credentials, JSON ``{"token": …, "access_token": …, "expires_in": …}``. Tokens are RS256 JWTs signed
with a key whose self-signed certificate is the registry's root bundle, named in the header's ``x5c``.
Anonymous callers get pull on ``public/*`` only; ``user``/``password`` get pull and push everywhere;
a wrong password is refused with 401. Every token request is recorded for the tests to look at.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from . import HarnessError, HarnessUnavailable
from .procs import which

SERVICE = "aima-test-registry"
ISSUER = "aima-test-token-server"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class TokenServer:
    """Issues registry tokens; ``requests`` records (user or None, scope) for each token asked for."""

    key: Path
    cert_der: bytes
    user: str = "aima"
    password: str = "s3cret"
    requests: list[tuple[str | None, str]] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(self.cert_der).decode()]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                                   capture_output=True, check=True).stdout
        return f"{signing_input}.{_b64(signature)}"

    def grant(self, user: str | None, scope: str) -> list[dict]:
        access = []
        for part in scope.split():
            kind, _, rest = part.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            wanted = actions.split(",")
            allowed = wanted if user else [a for a in wanted if a == "pull" and name.startswith("public/")]
            access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                query = parse_qs(url.query)
                user = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    if (name, password) != (server.user, server.password):
                        self._json(401, {"details": "incorrect username or password"})
                        return
                    user = name
                scope = " ".join(query.get("scope", []))
                server.requests.append((user, scope))
                if url.path != "/token" or query.get("service", [""])[0] != SERVICE:
                    self._json(400, {"details": "unknown service"})
                    return
                now = int(time.time())
                token = server.sign({"iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + 300,
                                     "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                                     "access": server.grant(user, scope)})
                self._json(200, {"token": token, "access_token": token, "expires_in": 300})

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="token-server").start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


_CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
http:
  addr: 127.0.0.1:{port}
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {bundle}
"""


@dataclass
class TokenRegistry:
    """The registry and its token server; ``host`` for image references."""

    port: int
    tokens: TokenServer
    process: subprocess.Popen
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.tokens.stop()


def start_token_registry(folder: Path, timeout: float = 20.0) -> TokenRegistry:
    """Start a token server and a docker-registry that trusts it, both on free loopback ports."""
    import httpx

    binary = which("docker-registry")
    if not binary:
        raise HarnessUnavailable("docker-registry not found: run `bash .ci/setup-docker`")
    if not which("openssl"):
        raise HarnessUnavailable("openssl not found: it signs the test tokens")
    folder.mkdir(parents=True, exist_ok=True)
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={ISSUER}"], capture_output=True, check=True)
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"], capture_output=True,
                         check=True).stdout
    tokens = TokenServer(key, der)
    tokens.start()
    port = _free_port()
    config = folder / "registry.yml"
    config.write_text(_CONFIG.format(storage=folder / "storage", port=port, realm=tokens.realm, service=SERVICE,
                                     issuer=ISSUER, bundle=cert))
    log = folder / "registry.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([binary, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 401:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tokens.stop()
            raise HarnessError(f"the token-auth registry did not come up:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return TokenRegistry(port, tokens, process, log)
