"""Issue 19 item 8: exact values for the numbers the seeds depend on, derived from each rule and its source.

Each test computes the expected value from the rule, independently of the planner's code, so changing one
number (dropping the cap, rounding up, taking the smaller reserve, accepting YAML true as 1) fails a test.
"""

from __future__ import annotations

import math
import textwrap

import pytest

from aima.catalog.load import load_catalog
from aima.errors import ConfigError
from aima.hardware.profiles import load_profile, profile_from_value
from aima.plan import GPU_HEADROOM, make_plan, memory_share, unified_reserve_mib
from aima.stack import Stack, load_stack
from aima.yamlfile import parse
from tests.conftest import PROFILES

CATALOG = load_catalog(include_user_config=False)
GIB = 1024


def hw(name):
    return load_profile(PROFILES / f"{name}.yaml").hardware


# --- the OS reserve on unified memory: the larger of 8 GiB and a tenth of the pool -----------------------

@pytest.mark.parametrize(("pool", "reserve"), [
    (62841, 8 * GIB),  # Jetson AGX Orin 64 GB: a tenth (6284) is below the 8 GiB floor, so the floor
    (30697, 8 * GIB),  # AGX Orin 32 GB
    (122570, 12257),  # GB10: a tenth of the pool is above the floor
    (81920, 8192),  # exactly at the floor
])
def test_unified_reserve_is_the_larger_of_the_floor_and_a_tenth(pool, reserve):
    assert unified_reserve_mib(pool, Stack()) == reserve == max(8192, pool // 10)


def test_orin_plan_keeps_the_8_gib_floor_for_the_os():
    plan = make_plan(hw("jetson-orin"), CATALOG, Stack())
    assert dict(plan.memory_budget)["OS reserve"] == 8192


# --- vLLM's share: rounded down to 0.01, capped by the candidate ------------------------------------------

@pytest.mark.parametrize(("left", "total", "cap", "share"), [
    (1000, 3000, 0.92, 0.33),  # 0.333 -> 0.33 (rounding up would claim 0.34: more than is left)
    (20000, 24000, 0.92, 0.83),  # 0.8333 -> 0.83
    (23990, 24000, 0.92, 0.92),  # 0.9996 -> capped at 0.92
    (102121, 122570, 0.80, 0.80),  # GB10: 0.8332 -> capped at 0.80
    (10, 24000, 0.92, 0.01),  # never below 0.01
])
def test_memory_share_is_rounded_down_and_capped(left, total, cap, share):
    assert memory_share(left, total, cap) == share
    assert memory_share(left, total, cap) * total <= max(left, 0.01 * total)


def test_gb10_vllm_share_is_capped_at_0_80_where_the_pool_alone_would_give_0_83():
    # Seed 004 and NVIDIA's note on unified memory: 0.7-0.8 of the pool. The images.yaml cap for vllm-gb10 is 0.80.
    machine = hw("gb10")
    plan = make_plan(machine, CATALOG, Stack())
    llm = plan.engine("llm")
    pool = machine.ram_mib
    reserve = max(8192, pool // 10)
    cpu_engines = plan.engine("asr").limits.memory_mib + plan.engine("tts").limits.memory_mib
    uncapped = math.floor(100 * (pool - reserve - cpu_engines) / pool) / 100
    assert uncapped == 0.83  # what dropping the cap would give
    assert llm.chosen.gpu_memory_utilization_max == 0.80
    assert llm.limits.gpu_memory_utilization == 0.80
    assert llm.command[llm.command.index("--gpu-memory-utilization") + 1] == "0.80"


def test_a_shared_gpu_gives_vllm_the_room_left_rounded_down():
    # rtx-4090: vLLM sizes itself last on the one GPU, after the ASR and TTS models (seed 001).
    machine = hw("rtx-4090")
    plan = make_plan(machine, CATALOG, Stack())
    llm, asr, tts = plan.engine("llm"), plan.engine("asr"), plan.engine("tts")
    assert llm.candidate == "vllm-official" and asr.gpu and tts.gpu
    gpu = machine.gpus[0]
    usable = int(min(gpu.memory_free_mib or gpu.memory_mib, gpu.memory_mib * (1 - GPU_HEADROOM)))
    left = usable - asr.model.gpu_memory_mib - tts.model.gpu_memory_mib
    expected = min(0.92, math.floor(100 * left / gpu.memory_mib) / 100)
    assert llm.limits.gpu_memory_utilization == expected
    assert expected * gpu.memory_mib <= left < (expected + 0.01) * gpu.memory_mib  # round up would exceed it


# --- YAML true is not an integer ---------------------------------------------------------------------------

def test_port_true_is_refused_not_published_as_port_1(tmp_path):
    path = tmp_path / "aima.yaml"
    path.write_text(textwrap.dedent("""
        engines:
          asr: {port: true}
        """))
    with pytest.raises(ConfigError, match="must be an integer"):
        load_stack(path)


@pytest.mark.parametrize(("key", "value"), [("cpu_cores", "true"), ("ram_mib", "yes")])
def test_profile_integers_refuse_yaml_booleans(key, value):
    text = "cpu_arch: x86_64\nram_mib: 4096\ncpu_cores: 2\ngpus: []\n".replace(f"{key}: ", f"{key}: {value} #")
    with pytest.raises(ConfigError, match="must be an integer"):
        profile_from_value(parse(text, "p.yaml"))
