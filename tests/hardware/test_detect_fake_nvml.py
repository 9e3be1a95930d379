"""detect through the fake NVML: every profile round-trips, and every driver error path ends CPU-only or noted."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from aima.hardware.detect import detect
from aima.hardware.host import HostFacts
from aima.hardware.model import Capability, CudaVersion
from aima.hardware.profiles import dump_profile, load_profile, profile_from_value
from aima.yamlfile import parse
from tests.conftest import FAKE_NVML_DIR, PROFILES

ALL_PROFILES = sorted(PROFILES.glob("*.yaml"))


def _host_of(hw) -> HostFacts:
    return HostFacts(hw.cpu_arch, hw.cpu_cores, hw.ram_mib, hw.ram_available_mib, hw.jetson, hw.l4t_release)


def _comparable(hw):
    # Fields detect cannot know (a profile's name/description/notes) and the fake's invented defaults are
    # normalised; everything NVML reports must survive the round trip.
    gpus = tuple(dataclasses.replace(g, uuid=None, pci_bus_id=None, memory_free_mib=None) for g in hw.gpus)
    return dataclasses.replace(hw, name=None, description=None, notes=(), gpus=gpus)


@pytest.mark.parametrize("path", ALL_PROFILES, ids=lambda p: p.stem)
def test_every_profile_round_trips_through_fake_nvml_detect_save_load(path, fake_nvml, tmp_path):
    expected = load_profile(path).hardware
    nvml = fake_nvml(path if expected.gpus else "missing-library")
    seen = detect(nvml, _host_of(expected))
    saved = tmp_path / "saved.yaml"
    saved.write_text(dump_profile(seen, source="test"))
    again = load_profile(saved).hardware
    assert again == seen
    assert _comparable(again) == _comparable(expected)


def test_gb10_memory_not_supported_becomes_the_unified_host_pool(fake_nvml):
    profile = load_profile(PROFILES / "gb10.yaml").hardware
    hw = detect(fake_nvml(PROFILES / "gb10.yaml"), _host_of(profile))
    gpu = hw.gpus[0]
    assert gpu.compute_capability == Capability.parse("12.1")
    assert gpu.unified_memory is True and gpu.memory_mib is None
    assert hw.gpu_memory_mib(gpu) == profile.ram_mib
    assert any("unified memory pool" in note for note in hw.notes)


def test_discrete_gpu_whose_memory_call_fails_is_not_mistaken_for_zero_memory(fake_nvml):
    # A discrete GPU that refuses the memory query is treated like GB10 (pool from host), with a note.
    profile = load_profile(PROFILES / "rtx-4090.yaml").hardware
    hw = detect(fake_nvml(PROFILES / "rtx-4090.yaml", "nvmlDeviceGetMemoryInfo=NotSupported"), _host_of(profile))
    assert hw.gpus[0].memory_mib is None and hw.gpus[0].unified_memory


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("missing-library", "NVML library not found"),
        ("driver-not-loaded", "not loaded"),
        ("no-permission", "no permission"),
    ],
)
def test_nvml_init_failures_give_cpu_only_with_one_note(mode, words, fake_nvml):
    hw = detect(fake_nvml(mode), HostFacts("x86_64", 4, 8192, 4096, False))
    assert hw.gpus == () and hw.driver_version is None
    assert len(hw.notes) == 1 and words in hw.notes[0]


def test_gpu_lost_mid_query_skips_that_gpu_with_a_note(fake_nvml):
    hw = detect(fake_nvml(PROFILES / "2x-rtx-3090.yaml", "nvmlDeviceGetCudaComputeCapability=GpuIsLost"),
                HostFacts("x86_64", 4, 8192, 4096, False))
    assert hw.gpus == ()
    assert any("GPU 0 skipped" in n for n in hw.notes) and any("GPU 1 skipped" in n for n in hw.notes)


def test_uuid_not_supported_is_recorded_as_unknown(fake_nvml):
    nvml = fake_nvml(PROFILES / "t4.yaml", "nvmlDeviceGetUUID=NotSupported")
    hw = detect(nvml, HostFacts("x86_64", 4, 8192, 1, False))
    assert hw.gpus[0].uuid is None and hw.gpus[0].compute_capability == Capability.parse("7.5")


def test_no_nvidia_ml_py_installed_is_cpu_only():
    hw = detect(None, HostFacts("x86_64", 2, 4096, None, False), use_real_nvml=False)
    assert hw.gpus == () and "not installed" in hw.notes[0]


def test_cuda_driver_version_is_decoded_like_nvml_macros(fake_nvml, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text((PROFILES / "h100.yaml").read_text().replace("'13.0'", "'12.4'"))
    hw = detect(fake_nvml(path), HostFacts("x86_64", 2, 4096, None, False))
    assert hw.cuda_driver_version == CudaVersion.parse("12.4")  # 12040 -> 12.4


def test_aima_detect_json_cli_through_fake_nvml(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{FAKE_NVML_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "AIMA_FAKE_NVML": str(PROFILES / "2x-rtx-3090.yaml")}
    saved = tmp_path / "me.yaml"
    result = subprocess.run([sys.executable, "-m", "aima", "detect", "--json", "--save", str(saved)],
                            capture_output=True, text=True, env=env, check=True)
    data = json.loads(result.stdout)
    assert [g["compute_capability"] for g in data["gpus"]] == ["8.6", "8.6"]
    assert data["gpus"][0]["memory_mib"] == 24576 and data["cuda_driver_version"] == "12.8"
    assert {"index", "name", "compute_capability", "memory_mib", "unified_memory"} <= set(data["gpus"][0])
    assert profile_from_value(parse(saved.read_text(), str(saved))).hardware.gpus[1].uuid.startswith("GPU-3090b")


def test_aima_detect_on_this_gpu_less_machine_is_clean():
    env = {k: v for k, v in os.environ.items() if k != "AIMA_FAKE_NVML"}
    result = subprocess.run([sys.executable, "-m", "aima", "detect"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
