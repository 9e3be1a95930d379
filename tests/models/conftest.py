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
    """The server with a whisper-like repo, a sharded GGUF repo with a config file, a gated repo, and vLLM model
    folders (open, private, gated with a public listing) and a GGUF-only repository."""
    repos = {
        "ggerganov/whisper.cpp": Repo({"ggml-tiny.bin": BIG}, commit=COMMIT),
        "org/split-GGUF": Repo({"m-00001-of-00002.gguf": SHARD1, "m-00002-of-00002.gguf": SHARD2,
                                "config.json": CONFIG}),
        "org/gated": Repo({"w.bin": SHARD2}, token="hf_right_token"),
        "org/vllm-folder": Repo(dict(FOLDER_FILES), commit=FOLDER_COMMIT),
        "org/gated-folder": Repo(dict(FOLDER_FILES), token="hf_right_token"),  # private: the listing needs it too
        "org/gated-listed": Repo(dict(FOLDER_FILES), token="hf_right_token", list_public=True),  # the hub's gated
        "org/gguf-only": Repo({"m-q4.gguf": SHARD2, "README.md": b"# m\n"}),
    }
    with HfServer(repos) as server:
        server.page_size = 4  # the folder's 11 entries come in three pages (Link: rel="next")
        yield server


@pytest.fixture
def env(hf, tmp_path, monkeypatch):
    """The CLI's environment for the test server: HF_ENDPOINT at it, an empty HF_HUB_CACHE (returned), no token
    or offline switch of the user's."""
    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_ENDPOINT", hf.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token file of the user's
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return hub


def settings(server: HfServer, **kw) -> HubSettings:
    """Settings pointing at the test server."""
    return HubSettings(endpoint=server.endpoint, timeout_s=kw.pop("timeout_s", 5.0), **kw)


def whisper_source(**file_kw) -> ModelSource:
    """The whisper-like model, pinned, with the catalogue's size and SHA-256."""
    import hashlib

    f = ModelFile("ggml-tiny.bin", len(BIG), hashlib.sha256(BIG).hexdigest(), **file_kw)
    return ModelSource("ggerganov/whisper.cpp", COMMIT, (f,), entry="ggml-tiny.bin")


# A vLLM model folder: config, tokenizer and index (small files), two safetensors shards (LFS), and what vLLM does
# not read: a PyTorch copy of the weights, an ONNX export, Llama's original/ checkpoint, .gitattributes.
INDEX = (b'{"metadata": {"total_size": 3145728}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", '
         b'"b.weight": "model-00002-of-00002.safetensors"}}\n')
ST1, ST2 = payload(2 * 2**20 + 11, 4), payload(2**20 + 5, 5)
FOLDER_FILES = {
    "config.json": CONFIG, "tokenizer.json": b'{"version": "1.0"}\n', "tokenizer_config.json": b"{}\n",
    "model.safetensors.index.json": INDEX, "model-00001-of-00002.safetensors": ST1,
    "model-00002-of-00002.safetensors": ST2, "pytorch_model.bin": payload(3 * 2**20, 6),
    "onnx/model.onnx": payload(4096, 7), "original/consolidated.00.pth": payload(5000, 8), ".gitattributes": b"*\n",
}
FOLDER_FETCHED = ["config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
                  "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
FOLDER_COMMIT = "a09a35458c702b33eeacc393d103063234e8bc28"


def at_once(call, runs: int = 2, timeout_s: float = 60) -> tuple[list, list[Exception]]:
    """call() in `runs` threads started together: (what they returned, what they raised)."""
    import threading

    results: list = []
    errors: list[Exception] = []

    def run():
        try:
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    return results, errors
