"""Issue 19 item 5: values NVML cannot give, replayed by the fake NVML, never crash detect/plan/doctor, and
`aima detect --save` writes a profile that `--hardware` accepts.

NVML answers replayed (tests/fakenvml/pynvml.py):
- Jetson Orin on JetPack 6: nvmlSystemGetDriverVersion -> "N/A" (nvidia-smi "Driver Version: N/A", cuda-facts
  §5c); memory -> NVML_ERROR_NOT_SUPPORTED (nvml.h: iGPUs without a framebuffer).
- GB10: nvmlDeviceGetMemoryInfo -> NVML_ERROR_NOT_SUPPORTED (DGX Spark known issues; nvml.h).
- Old drivers without a symbol: NVML_ERROR_FUNCTION_NOT_FOUND; no CUDA driver library: NOT_SUPPORTED.
- MIG: nvmlDeviceGetMaxMigDeviceCount / nvmlDeviceGetMigDeviceHandleByIndex (NotFound for empty slots),
  UUID, name ("<GPU> MIG 1g.10gb") and memory info on the MIG device handle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aima.hardware.detect import detect
from aima.hardware.host import HostFacts
from aima.hardware.model import CudaVersion
from aima.hardware.profiles import dump_profile, load_profile
from aima.plan import make_plan
from aima.stack import Stack
from tests.conftest import FAKE_NVML_DIR, PROFILES


def _host(hw) -> HostFacts:
    return HostFacts(hw.cpu_arch, hw.cpu_cores, hw.ram_mib, hw.ram_available_mib, hw.jetson, hw.l4t_release)


def test_jetson_driver_na_becomes_unknown_with_a_note_and_saves_a_loadable_profile(fake_nvml, tmp_path):
    expected = load_profile(PROFILES / "jetson-agx-orin-jp6.yaml").hardware
    hw = detect(fake_nvml(PROFILES / "jetson-agx-orin-jp6.yaml"), _host(expected))
    assert hw.driver_version is None and hw.cuda_driver_version == CudaVersion(12, 6)
    assert any("'N/A'" in n for n in hw.notes)
    assert hw.gpus[0].unified_memory and hw.gpus[0].memory_mib is None
    saved = tmp_path / "saved.yaml"
    saved.write_text(dump_profile(hw, source="test"))
    assert load_profile(saved).hardware == hw


@pytest.mark.parametrize("fail", [
    "nvmlSystemGetDriverVersion=NotSupported",
    "nvmlSystemGetCudaDriverVersion=NotSupported",
    "nvmlSystemGetCudaDriverVersion=FunctionNotFound",
    "nvmlDeviceGetMemoryInfo=NotSupported",
    "nvmlDeviceGetBrand=NotSupported",
    "nvmlDeviceGetMigMode=FunctionNotFound",
    "nvmlDeviceGetMaxMigDeviceCount=NotSupported",
])
@pytest.mark.parametrize("name", ["dgx-spark-r580", "a100-mig", "jetson-agx-orin-jp6", "mixed-rtx4090-l40s-r535"])
def test_no_nvml_answer_crashes_detect_save_load_or_plan(fake_nvml, tmp_path, name, fail):
    expected = load_profile(PROFILES / f"{name}.yaml").hardware
    hw = detect(fake_nvml(PROFILES / f"{name}.yaml", fail), _host(expected))
    saved = tmp_path / "saved.yaml"
    saved.write_text(dump_profile(hw, source="test"))
    again = load_profile(saved).hardware
    assert again == hw
    plan = make_plan(again, __import__("aima.catalog.load", fromlist=["x"]).load_catalog(include_user_config=False),
                     Stack())
    assert {e.engine for e in plan.engines} | {r.engine for r in plan.refusals} == {"asr", "llm", "tts"}


def test_mig_instances_are_read_from_nvml_mig_device_handles(fake_nvml):
    expected = load_profile(PROFILES / "a100-mig.yaml").hardware
    hw = detect(fake_nvml(PROFILES / "a100-mig.yaml"), _host(expected))
    assert hw.gpus[0].mig_enabled is True
    assert hw.gpus[0].mig_instances == expected.gpus[0].mig_instances


def test_mig_on_with_no_instance_is_said(fake_nvml, tmp_path):
    path = tmp_path / "empty-mig.yaml"
    text = (PROFILES / "a100-mig.yaml").read_text()
    path.write_text(text[:text.index("  mig_instances:")] + text[text.index("# What `aima matrix`"):])
    hw = detect(fake_nvml(path), _host(load_profile(path).hardware))
    assert hw.gpus[0].mig_enabled and hw.gpus[0].mig_instances == ()
    assert any("MIG is enabled but NVML lists no MIG device" in n for n in hw.notes)


def _env(profile: str, fail: str = "") -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{FAKE_NVML_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "AIMA_FAKE_NVML": str(PROFILES / f"{profile}.yaml"), "AIMA_FAKE_NVML_FAIL": fail,
            # doctor must not reach any real or shared test Docker engine from a unit test
            "DOCKER_HOST": f"unix:///nonexistent/aima-test-{profile}.sock"}


@pytest.mark.parametrize(("profile", "fail"), [
    ("jetson-agx-orin-jp6", ""),
    ("dgx-spark-r580", ""),
    ("a100-mig", ""),
    ("h100", "nvmlSystemGetDriverVersion=NotSupported,nvmlSystemGetCudaDriverVersion=NotSupported"),
])
def test_cli_detect_save_then_plan_hardware_and_doctor_never_crash(tmp_path, profile, fail):
    saved = tmp_path / "me.yaml"
    detect_run = subprocess.run([sys.executable, "-m", "aima", "detect", "--save", str(saved)],
                                capture_output=True, text=True, env=_env(profile, fail))
    assert detect_run.returncode == 0 and "Traceback" not in detect_run.stderr, detect_run.stderr
    plan_run = subprocess.run([sys.executable, "-m", "aima", "plan", "--hardware", str(saved), "--json"],
                              capture_output=True, text=True, env=_env(profile, fail))
    assert "Traceback" not in plan_run.stderr, plan_run.stderr
    assert plan_run.returncode in (0, 1)
    json.loads(plan_run.stdout)
    doctor_run = subprocess.run([sys.executable, "-m", "aima", "doctor", "--json"], capture_output=True, text=True,
                                env=_env(profile, fail), timeout=120)
    assert "Traceback" not in doctor_run.stderr, doctor_run.stderr
    checks = {c["id"]: c for c in json.loads(doctor_run.stdout)["checks"]}
    assert checks["gpu.nvml"]["status"] == "ok"
