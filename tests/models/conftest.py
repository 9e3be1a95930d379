"""An HF-compatible server on 127.0.0.1 with real files of a few MB, and a pull helper."""

from __future__ import annotations

import pytest

from aima.models.hub import HubSettings
from aima.models.source import ModelFile, ModelSource
from tests.harness.hfserver import HfServer, Repo

COMMIT = "5359861c739e955e79d9a303bcbc70fb988958b1"


def payload(size: int, seed: int) -> bytes:
    """Deterministic incompressible-looking bytes."""
    import hashlib

    block = b"".join(hashlib.sha256(b"%d-%d" % (seed, i)).digest() for i in range(2048))  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


BIG = payload(3 * 2**20 + 123, 1)  # an LFS file: 302 to the CDN, X-Linked-Etag
SHARD1, SHARD2 = payload(2 * 2**20, 2), payload(2**20 + 7, 3)
CONFIG = b'{"architectures": ["Qwen2ForCausalLM"]}\n'  # a small (non-LFS) file: ETag is the git blob id


@pytest.fixture
def hf():
    """The server with a whisper-like repo, a sharded GGUF repo with a config file, and a gated repo."""
    repos = {
        "ggerganov/whisper.cpp": Repo({"ggml-tiny.bin": BIG}, commit=COMMIT),
        "org/split-GGUF": Repo({"m-00001-of-00002.gguf": SHARD1, "m-00002-of-00002.gguf": SHARD2,
                                "config.json": CONFIG}),
        "org/gated": Repo({"w.bin": SHARD2}, token="hf_right_token"),
    }
    with HfServer(repos) as server:
        yield server


def settings(server: HfServer, **kw) -> HubSettings:
    """Settings pointing at the test server."""
    return HubSettings(endpoint=server.endpoint, timeout_s=kw.pop("timeout_s", 5.0), **kw)


def whisper_source(**file_kw) -> ModelSource:
    """The whisper-like model, pinned, with the catalogue's size and SHA-256."""
    import hashlib

    f = ModelFile("ggml-tiny.bin", len(BIG), hashlib.sha256(BIG).hexdigest(), **file_kw)
    return ModelSource("ggerganov/whisper.cpp", COMMIT, (f,), entry="ggml-tiny.bin")
