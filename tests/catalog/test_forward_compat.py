"""Issue 19 rules 1 and 6 as tables: where CUDA forward compatibility works, and L4T vs SBSA.

Sources (cited in aima/catalog/cuda.py too):
- NVIDIA, CUDA Compatibility, "Forward Compatibility" (docs.nvidia.com/deploy/cuda-compatibility/
  forward-compatibility.html): "Forward Compatibility is applicable only for systems with: NVIDIA Data Center
  GPUs; Select NGC Server Ready SKUs of RTX cards; Jetson boards."
- CUDA runtime error 804 cudaErrorCompatNotSupportedOnDevice: "forward compatibility was attempted on non
  supported HW" (GeForce).
- eugr/spark-vllm-docker#266: DGX Spark (GB10) reports "compatibility mode is UNAVAILABLE" on R580.
- NVIDIA JetPack 7.1 notes: "With the JetPack 7 series, Jetson software aligns with the Server Base System
  Architecture (SBSA)"; JetPack 6 and older Jetson Linux (R36 and below) ship the L4T CUDA userspace.
- nvml.h nvmlBrandType_t for the brand names, in NVIDIA_REQUIRE_CUDA spelling.
"""

from __future__ import annotations

import pytest

from aima.catalog.cuda import check_userspace, forward_compat_support
from aima.hardware.host import l4t_release
from aima.hardware.model import Capability, CudaVersion, Gpu, Hardware


def machine(brand: str | None, *, unified: bool = False, jetson: bool = False, arch: str = "x86_64",
            l4t: str | None = None, name: str = "GPU") -> tuple[Gpu, Hardware]:
    gpu = Gpu(0, name, Capability(8, 0), None if unified else 40960, unified_memory=unified, brand=brand)
    hw = Hardware((gpu,), "535.183.01", CudaVersion(12, 2), arch, 8, 65536, jetson=jetson, l4t_release=l4t)
    return gpu, hw


@pytest.mark.parametrize(("brand", "supported"), [
    # Data-centre brands: NVML says Tesla for older cards, NVIDIA for A100/H100/L40S; vGPU brands run on them.
    ("tesla", True), ("nvidia", True), ("grid", True), ("vapps", True), ("vpc", True), ("vcs", True),
    ("vws", True), ("cloudgaming", True),
    # Consumer: error 804.
    ("geforce", False), ("geforcertx", False), ("titan", False), ("titanrtx", False),
    # Workstation: only select NGC Server Ready SKUs, which NVML cannot tell.
    ("quadro", False), ("quadrortx", False), ("nvidiartx", False), ("nvs", False),
    # Unknown: aima cannot judge; it passes with that said, as the toolkit lets unknown values pass.
    (None, True), ("unknown", True),
])
def test_forward_compatibility_by_nvml_brand_on_a_discrete_gpu(brand, supported):
    gpu, hw = machine(brand)
    verdict = forward_compat_support(gpu, hw)
    assert verdict.ok is supported
    assert "forward-compatibility.html" in verdict.reason
    if brand in ("geforce", "geforcertx", "titan", "titanrtx"):
        assert "error 804" in verdict.reason
    if brand in ("quadro", "nvidiartx"):
        assert "NGC Server Ready" in verdict.reason
    if brand in (None, "unknown"):
        assert "cannot tell" in verdict.reason


def test_jetson_boards_are_supported_whatever_their_brand():
    gpu, hw = machine("nvidia", unified=True, jetson=True, arch="aarch64", l4t="36.4", name="Orin (nvgpu)")
    assert forward_compat_support(gpu, hw).ok


def test_gb10_an_integrated_sbsa_gpu_is_not_although_its_brand_is_nvidia():
    gpu, hw = machine("nvidia", unified=True, arch="aarch64", name="NVIDIA GB10")
    verdict = forward_compat_support(gpu, hw)
    assert not verdict.ok and "UNAVAILABLE" in verdict.reason


@pytest.mark.parametrize(("jetson", "release", "arch", "userspace"), [
    (False, None, "x86_64", None),  # x86_64: nothing to match
    (False, None, "aarch64", "sbsa"),  # GB10, Grace
    (True, "35.4", "aarch64", "l4t"),  # JetPack 5 (Orin, Xavier)
    (True, "36.4", "aarch64", "l4t"),  # JetPack 6
    (True, "38.2", "aarch64", "sbsa"),  # JetPack 7.0 (Thor)
    (True, "39.2", "aarch64", "sbsa"),  # JetPack 7.2 (Orin rebased onto SBSA)
    (True, None, "aarch64", "l4t"),  # a Jetson whose release is unknown counts as L4T
])
def test_cuda_userspace_of_the_host(jetson, release, arch, userspace):
    _, hw = machine("nvidia", unified=jetson, jetson=jetson, arch=arch, l4t=release)
    assert hw.cuda_userspace == userspace


@pytest.mark.parametrize(("image", "jetson", "release", "ok"), [
    ("sbsa", False, None, True),
    (None, False, None, True),  # an arm64 GPU image that does not say is SBSA, as nvidia/cuda arm64 is
    ("l4t", False, None, False),  # an L4T image on GB10
    ("sbsa", True, "36.4", False),  # an SBSA image on JetPack 6
    (None, True, "36.4", False),
    ("l4t", True, "36.4", True),
    ("sbsa", True, "38.2", True),  # JetPack 7 is SBSA
    ("l4t", True, "38.2", False),
])
def test_l4t_and_sbsa_images_do_not_cross(image, jetson, release, ok):
    _, hw = machine("nvidia", unified=True, jetson=jetson, arch="aarch64", l4t=release)
    verdict = check_userspace(image, hw)
    assert verdict.ok is ok
    if not ok:
        assert ("L4T" in verdict.reason) and ("SBSA" in verdict.reason)


@pytest.mark.parametrize(("first_line", "release"), [
    ("# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 2024", "36.4"),
    ("# R38 (release), REVISION: 2.0, GCID: 40000000, BOARD: generic, EABI: aarch64, DATE: Fri Aug 22 2025", "38.2"),
    ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64", "35.4.1"),
    ("garbage", None),
])
def test_l4t_release_from_nv_tegra_release(tmp_path, first_line, release):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_text(first_line + "\n# KERNEL_VARIANT: oot\n")
    assert l4t_release(tmp_path) == release


def test_no_nv_tegra_release_means_no_l4t_release(tmp_path):
    assert l4t_release(tmp_path) is None
