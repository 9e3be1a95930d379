"""Issue 19 items 3 and 4: placement searches GPUs and candidates before the CPU, and plans MIG instances.

Machines of the tests' own making plus the shipped issue-19 profiles (mixed-rtx3060-gtx1070, a100-mig).
"""

from __future__ import annotations

from aima.catalog.load import load_catalog
from aima.catalog.model import Candidate, Catalog, Engine, ModelChoice
from aima.hardware.model import Capability, CudaVersion, Gpu, Hardware, MigInstance
from aima.hardware.profiles import load_profile
from aima.plan import make_plan
from aima.stack import EngineSettings, Stack
from tests.conftest import PROFILES

CATALOG = load_catalog(include_user_config=False)
ASR_MODELS = (ModelChoice("big", "ggml", "big.bin", 3000, 3000, 3000),)
LLM_MODELS = (ModelChoice("llm", "hf", "llm", 6000, 6000, 6000),)


def hw(name):
    return load_profile(PROFILES / f"{name}.yaml").hardware


def two_gpus() -> Hardware:
    rtx3060 = Gpu(0, "NVIDIA GeForce RTX 3060", Capability(8, 6), 12288, brand="geforcertx")
    gtx1070 = Gpu(1, "NVIDIA GeForce GTX 1070", Capability(6, 1), 8192, brand="geforce")
    return Hardware((rtx3060, gtx1070), "570.172.08", CudaVersion(12, 8), "x86_64", 12, 65536)


def catalog(asr: tuple[Candidate, ...], allow_cpu: bool = True) -> Catalog:
    # The LLM takes most of the 3060 (vLLM sized by a fraction of the GPU, capped at 0.92).
    vllm = Candidate("vllm", "llm", "example/vllm:1", True, archs="sm_86", cuda=CudaVersion(12, 8), model_format="hf",
                     gpu_memory_utilization_max=0.92)
    asr_cpu = Candidate("asr-cpu", "asr", "example/asr-cpu:1", False, model_format="ggml")
    return Catalog((Engine("asr", (*asr, asr_cpu), ASR_MODELS, allow_cpu=allow_cpu, host_port=8001),
                    Engine("llm", (vllm,), LLM_MODELS, allow_cpu=False)))


STACK = Stack(engines=(EngineSettings("asr"), EngineSettings("llm"), EngineSettings("tts", enabled=False)))
CUDA13 = Candidate("asr-sm86", "asr", "example/asr-sm86:1", True, archs="sm_86", cuda=CudaVersion(12, 8),
                   model_format="ggml")
CUDA12_SM61 = Candidate("asr-sm61", "asr", "example/asr-sm61:1", True, archs="sm_61;sm_86", cuda=CudaVersion(12, 4),
                        model_format="ggml")


def test_the_first_candidate_does_not_fit_the_llms_gpu_so_the_sm61_build_runs_natively_on_the_1070():
    plan = make_plan(two_gpus(), catalog((CUDA13, CUDA12_SM61)), STACK)
    assert plan.ok, plan.refusals
    llm, asr = plan.engine("llm"), plan.engine("asr")
    assert llm.devices == ("0",) and llm.limits.gpu_memory_utilization == 0.92
    assert (asr.candidate, asr.devices, asr.mode, asr.gpus) == ("asr-sm61", ("1",), "native", (1,))
    # What was tried: the first candidate runs only on the LLM's 3060; the sm_61 build on the free 1070.
    assert any(t.startswith("asr-sm86: runs only on GPU 0 (NVIDIA GeForce RTX 3060), which the LLM already uses")
               for t in asr.tried)
    assert any("after trying" in w for w in asr.warnings)
    [lost] = [r.reason for r in asr.rejected if r.candidate == "asr-sm86"]
    assert "which the LLM already uses" in lost


def test_when_the_free_gpu_runs_nothing_the_engine_shares_the_llms_gpu_if_it_has_room():
    plan = make_plan(two_gpus(), catalog((CUDA13,)), Stack(engines=(
        EngineSettings("asr"), EngineSettings("llm", model="llm"), EngineSettings("tts", enabled=False))))
    # vLLM took 0.92 of the 3060: 11304 MiB; 12288 * 0.95 = 11673 usable: 369 MiB left, the 3000 MiB model
    # does not fit, so the CPU.
    assert plan.engine("asr").candidate == "asr-cpu"


def test_with_no_gpu_fit_left_the_engine_falls_back_to_its_cpu_candidate_and_says_what_was_tried():
    plan = make_plan(two_gpus(), catalog((CUDA13,)), STACK)
    asr = plan.engine("asr")
    assert asr.candidate == "asr-cpu" and asr.mode == "cpu" and not asr.devices
    assert asr.tried and asr.tried[0].startswith("asr-sm86: ")
    assert any("runs on the CPU, NOT on the GPU" in w for w in asr.warnings)


def test_without_the_cpu_the_refusal_names_what_was_tried():
    plan = make_plan(two_gpus(), catalog((CUDA13,), allow_cpu=False), STACK)
    [refusal] = plan.refusals
    assert refusal.engine == "asr" and "GPU 0 (NVIDIA GeForce RTX 3060)" in refusal.reason
    assert any(r.candidate == "asr-sm86" for r in refusal.rejected)


def test_shipped_mixed_machine_puts_each_engine_where_it_runs_natively():
    plan = make_plan(hw("mixed-rtx3060-gtx1070"), CATALOG, Stack())
    assert plan.ok
    assert (plan.engine("llm").devices, plan.engine("llm").mode) == (("0",), "native")
    assert (plan.engine("asr").candidate, plan.engine("asr").devices) == ("whisper-cpp-cuda12-sm61", ("1",))


def test_a_cuda_12_9_llm_on_the_geforce_and_l40s_machine_goes_to_the_l40s():
    plan = make_plan(hw("mixed-rtx4090-l40s-r535"), CATALOG, Stack())
    llm = plan.engine("llm")
    assert llm.candidate == "vllm-official" and llm.devices == ("1",) and llm.mode == "forward-compat"
    assert "GPU 0: NVIDIA_REQUIRE_CUDA not met" in llm.reason


# --- MIG --------------------------------------------------------------------------------------------------

def test_mig_engines_get_mig_devices_and_never_the_whole_cards_memory():
    machine = hw("a100-mig")
    gpu = machine.gpus[0]
    instances = {m.uuid: m for m in gpu.mig_instances}
    plan = make_plan(machine, CATALOG, Stack())
    assert plan.ok, plan.refusals
    used = []
    for e in plan.engines:
        [device] = e.devices
        assert device in instances and e.gpus == (0,)
        assert e.limits.gpu_memory_mib <= instances[device].memory_mib < gpu.memory_mib
        used.append(device)
    assert len(set(used)) == len(used)  # one engine per MIG instance while there are enough
    llm = plan.engine("llm")
    # vLLM's fraction is of the MIG device it sees (3g.40gb, 40192 MiB), capped at 0.92: claim 0.92 * 40192.
    assert llm.devices == ("MIG-3a000000-0000-4000-8000-000000000001",)
    assert llm.limits.gpu_memory_utilization == 0.92 and llm.limits.gpu_memory_mib == int(0.92 * 40192)


def test_one_small_mig_instance_takes_the_model_that_fits_it_or_none():
    a100 = Gpu(0, "NVIDIA A100 80GB PCIe", Capability(8, 0), 81920, mig_enabled=True, brand="nvidia",
               mig_instances=(MigInstance("MIG-small", "1g.10gb", 9728),))
    machine = Hardware((a100,), "550.127.08", CudaVersion(12, 4), "x86_64", 16, 65536)
    vllm = Candidate("vllm", "llm", "example/vllm:1", True, archs="sm_80", cuda=CudaVersion(12, 4), model_format="hf",
                     gpu_memory_utilization_max=0.92)
    cpu = Candidate("llm-cpu", "llm", "example/llm-cpu:1", False, model_format="hf")
    big = (ModelChoice("big", "hf", "big", 18432, 18432, 18432),)
    stack = Stack(engines=(EngineSettings("asr", enabled=False), EngineSettings("llm"),
                           EngineSettings("tts", enabled=False)))
    plan = make_plan(machine, Catalog((Engine("llm", (vllm, cpu), big),)), stack)
    llm = plan.engine("llm")
    # 18 GiB does not fit a 9.5 GiB slice (the card's 80 GiB would have): the CPU, with what was tried.
    assert llm.candidate == "llm-cpu"
    [vllm_lost] = [r.reason for r in llm.rejected if r.candidate == "vllm"]
    assert vllm_lost.endswith("the largest MIG instance that runs it has 9728 MiB")
