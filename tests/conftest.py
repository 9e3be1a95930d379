"""Shared test helpers: the fake NVML and the shipped profiles."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

FAKE_NVML_DIR = Path(__file__).parent / "fakenvml"
REPO = Path(__file__).parent.parent
PROFILES = REPO / "profiles"


@pytest.fixture
def fake_nvml(monkeypatch):
    """Return a function(spec, fail="") that gives a fresh fake pynvml module replaying ``spec``."""

    def make(spec: str | Path, fail: str = ""):
        monkeypatch.setenv("AIMA_FAKE_NVML", str(spec))
        monkeypatch.setenv("AIMA_FAKE_NVML_FAIL", fail)
        monkeypatch.syspath_prepend(str(FAKE_NVML_DIR))
        sys.modules.pop("pynvml", None)
        module = importlib.import_module("pynvml")
        assert Path(module.__file__).parent == FAKE_NVML_DIR
        return module

    yield make
    sys.modules.pop("pynvml", None)
