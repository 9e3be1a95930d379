"""The overhead rules for hf:// models, held against the catalogue's own (measured) figures, and the file-name
formats."""

from __future__ import annotations

import pytest

from aima.catalog.load import load_catalog
from aima.models.layout import format_of
from aima.models.sizing import memory_figures

CATALOG = load_catalog(include_user_config=False)
SIZED = [(e.name, m) for e in CATALOG.engines for m in e.models
         if m.source is not None and m.source.known_bytes and m.format in ("gguf", "hf", "ggml")]


@pytest.mark.parametrize("engine, model", SIZED, ids=[m.name for _, m in SIZED])
def test_the_rule_is_never_below_the_catalogue_figure_for_the_same_files(engine, model):
    weights = sum(f.size or 0 for f in model.source.files)
    _, gpu, ram = memory_figures(weights, model.format, 8192)
    assert gpu >= model.gpu_memory_mib and ram >= model.memory_mib, (gpu, ram)


def test_context_length_grows_the_gguf_need_only():
    short, long = memory_figures(2**30, "gguf", 2048)[1], memory_figures(2**30, "gguf", 32768)[1]
    assert long - short == 1024 * (32768 - 2048) // 8192
    assert memory_figures(2**30, "hf", 2048) == memory_figures(2**30, "hf", 32768)


@pytest.mark.parametrize("path, fmt", [
    ("qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "gguf"), ("sub/Model.Q4_K_M.GGUF", "gguf"),
    ("model-00001-of-00004.safetensors", "hf"), ("ggml-large-v3.bin", "ggml"),
    ("pytorch_model.bin", None), ("config.json", None), (None, None),
])
def test_the_file_name_says_the_format(path, fmt):
    assert format_of(path) == fmt
