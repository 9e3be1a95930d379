"""Issue 19 rules in the resolver, on machines of the tests' own making (not the shipped profiles).

- Per visible device: libnvidia-container evaluates NVIDIA_REQUIRE_* once for every device the container
  will see (src/cli/configure.c, configure_command), so a GPU that fails is never given to the container.
- Forward compatibility: only data-centre GPUs and Jetson (NVIDIA's forward-compatibility page); refused with
  both reasons elsewhere.
- Values NVML cannot give pass as in the toolkit (configure.c check_cuda_version / check_driver_version return
  true when the value is NULL), and the plan says what it could not know.
- L4T is not SBSA.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from aima.catalog.model import Candidate, Catalog, Engine, ModelChoice
from aima.hardware.model import Capability, CudaVersion, Gpu, Hardware, MigInstance
from aima.resolve import CPU, FORWARD_COMPAT, NATIVE, Fit, Rejection, evaluate, resolve

# nvidia/cuda 12.9-style requirement: the driver's CUDA, or a data-centre brand on the R535 branch (no GeForce).
REQUIRE_12_9 = ("cuda>=12.9 brand=tesla,driver>=535,driver<536 brand=nvidia,driver>=535,driver<536 "
                "brand=quadro,driver>=535,driver<536")
# nvidia/cuda 12.4.1-style: GeForce branches are listed too, so the toolkit starts it on a GeForce.
REQUIRE_12_4 = (
    "cuda>=12.4 brand=geforce,driver>=535,driver<536 brand=geforcertx,driver>=535,driver<536 "
    "brand=tesla,driver>=535,driver<536"
)
MODELS = (ModelChoice("small", "gguf", "s.gguf", 100, 2000, 2000),)


def gpu(index: int, name: str, cc: str, brand: str, memory: int = 24576, **kw) -> Gpu:
    return Gpu(index, name, Capability.parse(cc), memory, brand=brand, **kw)


def host(*gpus: Gpu, driver: str | None = "535.183.01", cuda: str | None = "12.2", arch: str = "x86_64",
         **kw) -> Hardware:
    return Hardware(tuple(gpus), driver, CudaVersion.parse(cuda) if cuda else None, arch, 16, 65536, **kw)


def cand(cid: str, **kw) -> Candidate:
    base = dict(image=f"example/{cid}:1", gpu=True, archs="sm_80;sm_86;sm_89", model_format="gguf")
    base.update(kw)
    return Candidate(id=cid, engine="llm", **base)


def catalog(*candidates: Candidate, allow_cpu: bool = True) -> Catalog:
    cpu = Candidate(id="cpu", engine="llm", image="example/cpu:1", gpu=False, model_format="gguf",
                    platforms=("linux/amd64", "linux/arm64"))
    return Catalog((Engine("llm", (*candidates, cpu), MODELS, allow_cpu=allow_cpu),))


GEFORCE = gpu(0, "NVIDIA GeForce RTX 4090", "8.9", "geforcertx")
L40S = gpu(1, "NVIDIA L40S", "8.9", "nvidia")


def test_a_cuda_12_9_image_next_to_a_geforce_goes_to_the_data_centre_card():
    res = resolve("llm", host(GEFORCE, L40S), catalog(cand("new", cuda=CudaVersion(12, 9), require_cuda=REQUIRE_12_9)))
    fit = res.chosen_fit
    assert res.chosen.id == "new" and fit.gpus == (1,)
    assert fit.on_gpu(1).mode == FORWARD_COMPAT and fit.on_gpu(0) is None
    assert "GPU 0: NVIDIA_REQUIRE_CUDA not met" in fit.reason  # says why not the GeForce
    assert any("forward compatibility" in w for w in res.warnings)


def test_the_same_image_on_two_geforces_is_refused():
    other = gpu(1, "NVIDIA GeForce RTX 4090", "8.9", "geforcertx")
    res = resolve("llm", host(GEFORCE, other), catalog(cand("new", require_cuda=REQUIRE_12_9), allow_cpu=False))
    assert res.chosen is None
    [rejection] = [r for r in res.rejected if r.candidate == "new"]
    assert "GPU 0:" in rejection.reason and "GPU 1:" in rejection.reason


def test_geforce_started_through_a_brand_clause_is_refused_with_both_reasons():
    found = evaluate(cand("old", require_cuda=REQUIRE_12_4), Engine("llm", (), MODELS), host(GEFORCE))
    assert isinstance(found, Rejection)
    # The toolkit's reason (it would start) and NVIDIA's (forward compatibility does not work here).
    assert "the container toolkit would start it" in found.reason and "brand=geforcertx" in found.reason
    assert "error 804" in found.reason


def test_the_same_brand_clause_on_a_tesla_runs_through_forward_compatibility_with_a_warning():
    tesla = gpu(0, "Tesla T4", "7.5", "tesla")
    found = evaluate(cand("old", archs="sm_75", require_cuda=REQUIRE_12_4), Engine("llm", (), MODELS), host(tesla))
    assert isinstance(found, Fit) and found.forward_compat and found.on_gpu(0).mode == FORWARD_COMPAT
    assert any("only through CUDA forward compatibility" in w for w in found.warnings)


def test_gb10_is_refused_forward_compatibility_even_with_the_nvidia_brand():
    gb10 = Gpu(0, "NVIDIA GB10", Capability(12, 1), None, unified_memory=True, brand="nvidia")
    hw = host(gb10, driver="580.95.05", cuda="13.0", arch="aarch64")
    require = "cuda>=13.1 brand=nvidia,driver>=580,driver<581"
    found = evaluate(cand("c13", archs="sm_121a", require_cuda=require, platforms=("linux/arm64",)),
                     Engine("llm", (), MODELS), hw)
    assert isinstance(found, Rejection) and "UNAVAILABLE" in found.reason and "brand=nvidia" in found.reason


def test_a_native_candidate_ranks_before_one_that_needs_forward_compatibility():
    tesla = gpu(0, "Tesla T4", "7.5", "tesla")
    first = cand("compat", archs="sm_75", require_cuda=REQUIRE_12_4)
    second = cand("native", archs="sm_75", cuda=CudaVersion(12, 2))
    res = resolve("llm", host(tesla), catalog(first, second))
    assert res.chosen.id == "native"
    assert "CUDA forward compatibility" in next(r.reason for r in res.rejected if r.candidate == "compat")


@pytest.mark.parametrize(("driver", "cuda"), [(None, "12.6"), ("540.4.0", None), (None, None)])
def test_values_nvml_cannot_give_pass_as_in_the_toolkit_and_are_said(driver, cuda):
    orin = Gpu(0, "Orin (nvgpu)", Capability(8, 7), None, unified_memory=True, brand="nvidia")
    hw = host(orin, driver=driver, cuda=cuda, arch="aarch64", jetson=True, l4t_release="36.4")
    res = resolve("llm", hw, catalog(cand("l4t", archs="sm_87", cuda=CudaVersion(12, 6),
                                          require_cuda="cuda>=12.6", platforms=("linux/arm64",),
                                          cuda_platform="l4t")))
    assert res.chosen.id == "l4t"
    assert any("NVML did not report" in w and "lets an unknown value pass" in w for w in res.warnings)


def test_an_sbsa_image_is_refused_on_jetpack_6_and_an_l4t_image_on_gb10():
    orin = Gpu(0, "Orin (nvgpu)", Capability(8, 7), None, unified_memory=True, brand="nvidia")
    jetson = host(orin, driver="540.4.0", cuda="12.6", arch="aarch64", jetson=True, l4t_release="36.4")
    sbsa = cand("sbsa", archs="sm_87", platforms=("linux/arm64",), cuda_platform="sbsa")
    res = resolve("llm", jetson, catalog(sbsa))
    assert res.chosen.id == "cpu"
    assert "L4T CUDA userspace" in next(r.reason for r in res.rejected if r.candidate == "sbsa")
    gb10 = Gpu(0, "NVIDIA GB10", Capability(12, 1), None, unified_memory=True, brand="nvidia")
    spark = host(gb10, driver="580.95.05", cuda="13.0", arch="aarch64")
    l4t = cand("l4t", archs="sm_121", platforms=("linux/arm64",), cuda_platform="l4t")
    res = resolve("llm", spark, catalog(l4t))
    assert "built for Jetson's L4T" in next(r.reason for r in res.rejected if r.candidate == "l4t")


def test_a_mig_gpu_without_instances_is_not_usable_and_says_so():
    a100 = gpu(0, "NVIDIA A100 80GB PCIe", "8.0", "nvidia", 81920, mig_enabled=True)
    res = resolve("llm", host(a100, cuda="12.4", driver="550.127.08"), catalog(cand("g", cuda=CudaVersion(12, 4))))
    assert res.chosen.id == "cpu"
    reason = next(r.reason for r in res.rejected if r.candidate == "g")
    assert reason.startswith("GPU 0: MIG is enabled and NVML lists no MIG instance")
    assert res.chosen_fit.mode_on(None) == CPU


def test_mode_is_native_on_a_driver_that_supports_the_image():
    ampere = gpu(0, "NVIDIA RTX A6000", "8.6", "nvidiartx")
    res = resolve("llm", host(ampere, cuda="12.8", driver="570.172.08"), catalog(cand("n", cuda=CudaVersion(12, 8))))
    assert res.chosen_fit.on_gpu(0).mode == NATIVE


def test_mig_instances_are_the_unit_and_report_their_own_memory():
    mig = MigInstance("MIG-1", "1g.10gb", 9728)
    a100 = gpu(0, "NVIDIA A100 80GB PCIe", "8.0", "nvidia", 81920, mig_enabled=True, mig_instances=(mig,))
    hw = host(a100, cuda="12.4", driver="550.127.08")
    assert hw.device_memory_mib(a100) == 9728
    assert hw.device_memory_mib(replace(a100, mig_enabled=False)) == 81920
