"""Real registries for the registry reader: the Debian docker-registry on loopback, with and without token auth.

Each session starts its own (a private plain registry; a token-auth registry with its token server), so a
test that stops or re-tags something cannot disturb another engineer's run.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.harness import HarnessError, HarnessUnavailable
from tests.harness import registry as registry_mod
from tests.harness.oci import Pusher
from tests.harness.tokenauth import start_token_registry


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason}\n(CI is set, so registry tests fail instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def plain_registry():
    try:
        reg = registry_mod.start_private_registry(registry_mod.RegistryPaths.from_env())
    except (HarnessUnavailable, HarnessError, OSError) as exc:
        _unavailable(str(exc))
    yield reg
    reg.remove()


@pytest.fixture(scope="session")
def pusher(plain_registry) -> Pusher:
    return Pusher(plain_registry.host)


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory):
    try:
        reg = start_token_registry(tmp_path_factory.mktemp("token-registry"))
    except (HarnessUnavailable, HarnessError, OSError) as exc:
        _unavailable(str(exc))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def cuda_library(tmp_path_factory) -> bytes:
    """A real shared library from nvcc carrying sm_80 SASS and compute_90 PTX."""
    nvcc = shutil.which("nvcc") or next(iter(sorted(__import__("glob").glob("/usr/local/cuda*/bin/nvcc"))), None)
    if not nvcc:
        _unavailable("nvcc is not installed, so no real CUDA library can be built")
    folder = tmp_path_factory.mktemp("cudalib")
    source = folder / "k.cu"
    source.write_text("__global__ void bump(float *x) { x[threadIdx.x] += 1.0f; }\n"
                      'extern "C" void launch(float *x) { bump<<<1, 32>>>(x); }\n')
    out = folder / "libk.so"
    subprocess.run([nvcc, "-shared", "-Xcompiler", "-fPIC", "-cudart=none",
                    "-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=compute_90",
                    "-o", str(out), str(source)], check=True, capture_output=True)
    return out.read_bytes()
