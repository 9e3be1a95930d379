"""What the fuzzers call: each target feeds one input to aima and lets only aima's own errors through."""

from __future__ import annotations

import http.server
import threading
from functools import lru_cache
from pathlib import Path

from hypothesis import strategies as st

from aima.errors import AimaError

STATUSES = st.sampled_from([200, 201, 204, 301, 400, 404, 500, 502, 503, 599])


def reader(loader: str):
    """One of aima's strict YAML loaders by name: catalog, profile, stack, signatures."""
    from aima.catalog.load import read_catalog
    from aima.hardware.profiles import load_profile
    from aima.knowledge import load_knowledge
    from aima.stack import load_stack

    return {"catalog": lambda p: read_catalog(p, partial=True), "profile": load_profile, "stack": load_stack,
            "signatures": load_knowledge}[loader]


def load_yaml(loader: str, text: str, folder: Path) -> None:
    """Write text as a file and load it with one of aima's strict loaders."""
    path = folder / f"{loader}.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        reader(loader)(path)
    except AimaError as exc:
        assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))


def load_special(loader: str, path: str) -> None:
    """Load something that is not a regular YAML file (a device, a FIFO, a directory): refused, never read."""
    try:
        reader(loader)(Path(path))
    except AimaError as exc:
        assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))
    else:
        raise AssertionError(f"{path} was accepted as a {loader} file")


def arch_string(spec: str) -> None:
    """Parse an arch list; ValueError (which loaders turn into file:line errors) is the only allowed error."""
    from aima.catalog.cuda import Capability, check_code, parse_targets

    try:
        targets = parse_targets(spec)
    except ValueError as exc:
        assert str(exc)
        return
    check_code(targets, Capability(12, 1))


def require_string(text: str) -> None:
    """Parse and evaluate an NVIDIA_REQUIRE_CUDA value."""
    from aima.catalog.cuda import Capability, CudaVersion
    from aima.catalog.require import evaluate, parse_require_cuda

    try:
        requirement = parse_require_cuda(text)
    except ValueError as exc:
        assert str(exc)
        return
    verdict = evaluate(requirement, driver_cuda=CudaVersion(12, 4), driver_version="550.54.14", brand="geforce",
                       arch=Capability(8, 9))
    assert verdict.reason


class _Handler(http.server.BaseHTTPRequestHandler):
    reply: tuple[int, bytes] = (200, b"")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, body = _Handler.reply
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@lru_cache(maxsize=1)
def _server() -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/health"


def health_response(body: bytes, status: int) -> None:
    """A real loopback HTTP server answers the launcher's health probe with a fuzzed status and body."""
    from aima.launch.reach import HttpProbe

    _Handler.reply = (status, body)
    probe = HttpProbe(_server(), timeout_s=2.0)
    try:
        result = probe()
    finally:
        probe.close()
    assert result.ok == (200 <= status < 300), result
    assert "\n" not in result.seen


def docker_host(text: str) -> None:
    """Parse a DOCKER_HOST value: an Address, or aima's one-line error naming the variable (never another error)."""
    from aima.engine import address

    try:
        parsed = address.parse(text)
    except AimaError as exc:
        assert str(exc).startswith("DOCKER_HOST=") and "\n" not in str(exc), repr(str(exc))
        return
    assert parsed.scheme in ("unix", "tcp", "ssh", "npipe"), parsed


def _ping_server(answer: list[bytes]) -> str:
    """A loopback server that answers each connection with answer[0] (raw bytes, then closes)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            with conn:
                try:
                    conn.settimeout(2)
                    conn.recv(4096)
                    conn.sendall(answer[0])
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{server.getsockname()[1]}"


_PING_ANSWER: list[bytes] = [b""]


@lru_cache(maxsize=1)
def _ping_url() -> str:
    return _ping_server(_PING_ANSWER)


def ping_answer(raw: bytes) -> None:
    """A real loopback server answers aima's GET /_ping with fuzzed bytes: Docker, or a one-line 'not Docker'."""
    from aima.engine import address
    from aima.engine.model import DaemonUnreachable

    _PING_ANSWER[0] = raw
    try:
        address.check(address.parse(_ping_url()), 2.0)
    except DaemonUnreachable as exc:
        assert str(exc).strip() and "\n" not in str(exc) and "\x1b" not in str(exc), repr(str(exc))
        return
    assert raw.startswith(b"HTTP/1") and b" 200 " in raw.split(b"\r\n", 1)[0] + b" ", raw


def paths_from_env(env: dict[str, str]) -> None:
    """Every folder aima computes from HOME and XDG_*: absolute, or aima's own one-line error naming the variable."""
    from aima import paths
    from aima.launch.lock import lock_dir
    from aima.launch.ownership import state_dir
    from aima.models.cache import hub_dir
    from aima.verify.store import result_path

    for compute in (paths.config_home, paths.data_home, paths.state_home, paths.cache_home, paths.runtime_dir,
                    lock_dir, state_dir, hub_dir, lambda e: result_path("s", e)):
        try:
            folder = compute(env)
        except AimaError as exc:
            assert "HOME" in str(exc) and "\n" not in str(exc), repr(str(exc))
            continue
        assert folder.is_absolute(), (env, folder)


def hf_uri(text: str) -> None:
    """An hf:// URI parses to a source whose every path stays inside the repository, or is a one-line ValueError."""
    from aima.models.source import check_repo_path, parse_hf_uri

    try:
        source = parse_hf_uri(text)
    except ValueError as exc:
        assert "\n" not in str(exc), repr(str(exc))
        return
    for f in source.files:
        assert check_repo_path(f.path) is None, (text, f.path)
    assert ".." not in source.revision and not any(ord(c) < 0x20 for c in source.revision), source.revision
    assert all(part not in ("", ".", "..") for part in source.repo.split("/")), source.repo
    from pathlib import Path

    from aima.models.cache import RepoCache

    assert RepoCache(Path("/hub"), source.repo).root.parent == Path("/hub"), source.repo  # one folder in the cache
    if source.folder:  # hf://ORG/REPO[@REVISION]: the snapshot folder, files listed by the hub later
        assert not source.files and source.entry is None, source
        assert source.uri == f"hf://{source.repo}@{source.revision}", source.uri


def listing_entry(item: object) -> None:
    """One entry of a hub's file listing: a file whose path stays in the repository and whose blob name is one plain
    name, or nothing (a folder), or aima's one-line refusal; never another exception."""
    from aima.models.hub import _SAFE_NAME, _listed
    from aima.models.source import SHA256, check_repo_path

    try:
        listed = _listed(item, "http://127.0.0.1:1/api/models/o/r/tree/x", "o/r", "main")
    except AimaError as exc:
        assert "\n" not in str(exc), repr(str(exc))
        return
    if listed is None:
        return
    assert check_repo_path(listed.path) is None, listed.path
    assert _SAFE_NAME.match(listed.etag) and listed.etag not in (".", ".."), listed.etag
    assert listed.lfs_sha256 is None or SHA256.match(listed.lfs_sha256), listed.lfs_sha256
    assert isinstance(listed.size, int) and not isinstance(listed.size, bool) and listed.size >= 0, listed.size


def hub_settings(env: dict[str, str]) -> None:
    """HF_ENDPOINT / HF_HUB_DOWNLOAD_TIMEOUT: usable settings or aima's one-line error, never echoing a password."""
    import math

    from aima.models.hub import settings_from_env

    try:
        settings = settings_from_env(env)
    except AimaError as exc:
        assert "\n" not in str(exc) and ":p@" not in str(exc), repr(str(exc))
        return
    assert math.isfinite(settings.timeout_s) and 0 < settings.timeout_s <= 3600, settings.timeout_s
