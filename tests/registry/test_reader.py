"""The registry reader against real registries: manifest lists, configs, bearer tokens, credentials, outages."""

from __future__ import annotations

import base64
import json
import socket
import uuid

import pytest

from aima.registry.client import RegistryClient, RegistryRefused, RegistryUnreachable, credentials_for
from aima.registry.facts import read_image
from aima.registry.layers import image_archs
from aima.registry.reference import DOCKER_HUB, parse_reference, plain_http
from tests.harness.oci import PlatformSpec, Pusher

NVIDIA_REQUIRE = "cuda>=12.9 brand=tesla,driver>=535,driver<536 brand=tesla,driver>=570,driver<571"


def _repo(prefix: str = "aima-test") -> str:
    return f"{prefix}/r{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), [
    ("busybox", DOCKER_HUB, "library/busybox", "latest", None),
    ("vllm/vllm-openai:v0.15.0", DOCKER_HUB, "vllm/vllm-openai", "v0.15.0", None),
    ("docker.io/library/ubuntu:24.04", DOCKER_HUB, "library/ubuntu", "24.04", None),
    ("ghcr.io/ggml-org/llama.cpp:server-cuda13", "ghcr.io", "ggml-org/llama.cpp", "server-cuda13", None),
    ("127.0.0.1:5000/aima/x@sha256:" + "a" * 64, "127.0.0.1:5000", "aima/x", None, "sha256:" + "a" * 64),
    ("localhost/whisper.cpp:sm120", "localhost", "whisper.cpp", "sm120", None),
], ids=["hub-official", "hub-user", "hub-explicit", "ghcr", "loopback-digest", "localhost"])
def test_references_split_as_docker_splits_them(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


@pytest.mark.parametrize(("host", "plain"), [
    ("127.0.0.1:5000", True), ("127.1.2.3:443", True), ("localhost:5000", True), ("ghcr.io", False),
    ("registry-1.docker.io", False), ("10.0.0.1:5000", False),
])
def test_only_loopback_registries_are_spoken_to_over_plain_http(host, plain):
    assert plain_http(host) is plain


def test_a_manifest_list_gives_every_platform_its_digest_and_config(pusher: Pusher):
    repo = _repo()
    amd64 = PlatformSpec("linux/amd64", env={"CUDA_VERSION": "12.9.1", "NVIDIA_REQUIRE_CUDA": NVIDIA_REQUIRE,
                                             "PATH": "/usr/bin"},
                         entrypoint=["/app/llama-server"], cmd=["--help"], exposed_ports=["8080/tcp"],
                         labels={"org.opencontainers.image.version": "b9000"})
    arm64 = PlatformSpec("linux/arm64", env={"CUDA_VERSION": "13.0.2"}, entrypoint=["/app/llama-server"],
                         created="2026-11-29T08:00:00Z")
    pushed = pusher.push(repo, "server-cuda", [amd64, arm64])
    with RegistryClient() as client:
        facts = read_image(client, pushed.reference)
    assert facts.is_index and facts.digest == pushed.digest
    assert facts.platforms == ("linux/amd64", "linux/arm64")
    a, b = facts.platform("linux/amd64"), facts.platform("linux/arm64")
    assert (a.digest, b.digest) == (pushed.platform_digests["linux/amd64"], pushed.platform_digests["linux/arm64"])
    assert a.config.cuda_version == "12.9" and b.config.cuda_version == "13.0"
    assert a.config.env_value("NVIDIA_REQUIRE_CUDA") == NVIDIA_REQUIRE
    assert a.config.entrypoint == ("/app/llama-server",) and a.config.cmd == ("--help",)
    assert a.config.tcp_ports == (8080,) and b.config.tcp_ports == ()
    assert dict(a.config.labels) == {"org.opencontainers.image.version": "b9000"}
    assert b.config.created == "2026-11-29T08:00:00Z"


def test_a_single_docker_v2_manifest_reads_its_platform_from_the_config(pusher: Pusher):
    pushed = pusher.push(_repo(), "cpu", [PlatformSpec("linux/arm64", env={"A": "1"})], index=False,
                         docker_types=True)
    with RegistryClient() as client:
        facts = read_image(client, pushed.reference)
    assert not facts.is_index and facts.platforms == ("linux/arm64",)
    assert facts.digest == pushed.digest == facts.images[0].digest


def test_a_missing_tag_is_refused_not_unreachable(plain_registry):
    with RegistryClient() as client, pytest.raises(RegistryRefused, match="has no"):
        read_image(client, f"{plain_registry.host}/aima-test/never-pushed:v1")


def test_a_registry_that_does_not_answer_is_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with RegistryClient(timeout=3) as client, pytest.raises(RegistryUnreachable, match=f"127.0.0.1:{port}"):
            read_image(client, f"127.0.0.1:{port}/aima/x:v1")


def test_the_anonymous_bearer_flow_reads_a_public_image(token_registry):
    owner = Pusher(token_registry.host, credentials=(token_registry.tokens.user, token_registry.tokens.password))
    pushed = owner.push(_repo("public"), "v1", [PlatformSpec(env={"CUDA_VERSION": "12.6.3"})])
    token_registry.tokens.requests.clear()
    with RegistryClient(docker_config=None) as client:
        client._docker_config = None  # noqa: SLF001 - no credentials: the anonymous flow
        facts = read_image(client, pushed.reference)
    assert facts.images[0].config.cuda_version == "12.6"
    repo = pushed.reference.split("/", 1)[1].rsplit(":", 1)[0]
    # One token for the repository, asked for anonymously with the scope from the challenge, reused after.
    assert token_registry.tokens.requests == [(None, f"repository:{repo}:pull")]


def test_a_private_image_needs_the_docker_config_credentials(token_registry, tmp_path, monkeypatch):
    tokens = token_registry.tokens
    owner = Pusher(token_registry.host, credentials=(tokens.user, tokens.password))
    pushed = owner.push(_repo("private"), "v1", [PlatformSpec(env={"CUDA_VERSION": "13.0.2"})])
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with RegistryClient() as client, pytest.raises(RegistryRefused, match="denied access"):
        read_image(client, pushed.reference)  # anonymous token, no access: the registry says 401 again
    auth = base64.b64encode(f"{tokens.user}:{tokens.password}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {token_registry.host: {"auth": auth}}}))
    tokens.requests.clear()
    with RegistryClient() as client:
        assert read_image(client, pushed.reference).images[0].config.cuda_version == "13.0"
    assert tokens.requests and all(user == tokens.user for user, _ in tokens.requests)
    wrong = base64.b64encode(f"{tokens.user}:nope".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {f"https://{token_registry.host}": {"auth": wrong}}}))
    with RegistryClient() as client, pytest.raises(RegistryRefused, match="refused the stored credentials"):
        read_image(client, pushed.reference)


def test_docker_hub_credentials_are_found_under_the_v1_index_key(tmp_path):
    auth = base64.b64encode(b"me:tok").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}}}))
    found = credentials_for(DOCKER_HUB, tmp_path / "config.json")
    assert found is not None and (found.username, found.secret) == ("me", "tok")
    assert credentials_for("ghcr.io", tmp_path / "config.json") is None


def test_layer_archs_stream_through_the_fatbin_reader_and_are_cached_by_digest(pusher, cuda_library, tmp_path):
    spec = PlatformSpec(files={"usr/lib/libk.so": cuda_library, "etc/hostname": b"x\n"})
    pushed = pusher.push(_repo(), "gpu", [spec])
    ref = parse_reference(pushed.reference)
    with RegistryClient() as client:
        image = read_image(client, ref).images[0]
        sass, ptx, layers = image_archs(client, ref, image, tmp_path)
        assert (sass, ptx) == (("sm_80",), ("compute_90",))
        assert [la.cached for la in layers] == [False]
        _, _, again = image_archs(client, ref, image, tmp_path)
    assert [la.cached for la in again] == [True]
    assert list(tmp_path.glob("sha256-*.json"))
