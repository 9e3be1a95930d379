"""Build real CUDA binaries with nvcc once per test session, for exact, known sets of targets."""

from __future__ import annotations

import glob
import os
import shutil

import pytest
from cuda_builds import CudaBinaries, build_all

_BUILD_SECONDS = pytest.StashKey[float]()


def find_nvcc() -> str | None:
    """nvcc on PATH, else the newest /usr/local/cuda*/bin/nvcc."""
    found = shutil.which("nvcc")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/local/cuda*/bin/nvcc"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def nvcc() -> str:
    path = find_nvcc()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("nvcc is not installed; CI must build real CUDA binaries for tests/inspect")
        pytest.skip("nvcc is not installed (CUDA toolkit), so no real CUDA binaries can be built")
    return path


@pytest.fixture(scope="session")
def cuda_binaries(nvcc: str, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> CudaBinaries:
    binaries = build_all(nvcc, tmp_path_factory.mktemp("cuda"))
    pytestconfig.stash[_BUILD_SECONDS] = binaries.seconds
    return binaries


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest's hook signature
    seconds = config.stash.get(_BUILD_SECONDS, None)
    if seconds is not None:
        terminalreporter.write_line(f"tests/inspect: built the nvcc test binaries in {seconds:.1f} s")
