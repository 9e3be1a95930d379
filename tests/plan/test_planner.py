"""The planner: seed 004's GB10 plan, two-GPU placement, model downgrade, refusals with numbers, redaction."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys
import textwrap

import pytest

from aima.catalog.load import load_catalog
from aima.hardware.profiles import all_profiles, load_profile
from aima.plan import PlanOptions, make_plan
from aima.render.plan import docker_run_lines, plan_to_dict
from aima.stack import Stack, load_stack
from tests.conftest import PROFILES

CATALOG = load_catalog(include_user_config=False)


def hw(name):
    return load_profile(PROFILES / f"{name}.yaml").hardware


def stack_from(tmp_path, text):
    path = tmp_path / "aima.yaml"
    path.write_text(textwrap.dedent(text))
    return load_stack(path)


def test_gb10_plan_is_seed_004():
    plan = make_plan(hw("gb10"), CATALOG, Stack())
    assert plan.ok
    asr, llm, tts = plan.engine("asr"), plan.engine("llm"), plan.engine("tts")
    for engine in (asr, tts):
        assert not engine.gpu and engine.devices == ()
        assert engine.limits.memory_mib == 4096 and engine.limits.cpus == 2
    assert llm.candidate == "vllm-ngc-spark" and llm.devices == ("0",)
    assert llm.limits.memory_mib is None  # unlimited at the container level
    assert llm.entrypoint == ("/opt/nvidia/nvidia_entrypoint.sh",)
    assert llm.command[:2] == ("vllm", "serve")
    assert "--max-model-len" in llm.command and llm.command[llm.command.index("--max-model-len") + 1] == "8192"
    share = float(llm.command[llm.command.index("--gpu-memory-utilization") + 1])
    assert share == llm.limits.gpu_memory_utilization
    pool = hw("gb10").ram_mib
    budget = dict(plan.memory_budget)
    used = budget["OS reserve"] + budget["asr (container limit)"] + budget["tts (container limit)"] + share * pool
    assert used <= pool


def test_official_vllm_takes_arguments_only_and_the_gb10_image_takes_the_full_command():
    official = make_plan(hw("h100"), CATALOG, Stack()).engine("llm")
    assert official.candidate == "vllm-official" and official.entrypoint is None
    assert official.command[0] == "--model"


def _after(command, flag):
    return command[command.index(flag) + 1]


@pytest.mark.parametrize("profile, candidate, flag", [
    ("h100", "vllm-official", "--served-model-name"),
    ("gb10", "vllm-ngc-spark", "--served-model-name"),
    ("rtx-3080", "llama-cpp-cuda", "--alias"),
], ids=["vllm-official", "vllm-ngc", "llama-cpp"])
def test_the_llm_serves_its_model_under_the_catalogue_name_not_the_snapshot_path(profile, candidate, flag):
    llm = make_plan(hw(profile), CATALOG, Stack()).engine("llm")
    assert llm.candidate == candidate and llm.model is not None
    assert _after(llm.command, flag) == llm.model.name  # what `aima verify` and clients ask for


def test_an_hf_uri_model_is_served_under_its_repository_id(tmp_path):
    stack = stack_from(tmp_path, """
        engines:
          llm: {model: "hf://Qwen/Qwen2.5-1.5B-Instruct/model.safetensors@main"}
    """)
    llm = make_plan(hw("h100"), CATALOG, stack).engine("llm")
    assert _after(llm.command, "--served-model-name") == "Qwen/Qwen2.5-1.5B-Instruct"
    from aima.verify.stack import served_model

    assert served_model(llm) == "Qwen/Qwen2.5-1.5B-Instruct"


def test_an_hf_model_s_own_need_is_kept_free_while_the_other_engines_choose_theirs():
    from aima.models.sizing import ModelSize

    uri = "hf://org/big-GGUF/big.Q4_K_M.gguf"
    stack = Stack()
    stack = dataclasses.replace(stack, engines=tuple(dataclasses.replace(e, model=uri) if e.name == "llm" else e
                                                     for e in stack.engines))
    plan = make_plan(hw("rtx-3080"), CATALOG, stack,
                     PlanOptions(model_sizes={uri: ModelSize(3 * 2**30, "from the server")}))
    llm, asr = plan.engine("llm"), plan.engine("asr")
    assert llm.candidate == "llama-cpp-cuda" and llm.model.gpu_memory_mib == 4711  # 3 GiB x 1.2 + 1 GiB KV
    assert asr.gpu and asr.model.name == "medium"  # large-v3 would leave the LLM too little and push it to the CPU


def test_two_gpus_put_the_llm_alone_on_one_gpu():
    plan = make_plan(hw("2x-rtx-3090"), CATALOG, Stack())
    llm = plan.engine("llm")
    others = {plan.engine("asr").devices, plan.engine("tts").devices}
    assert len(llm.devices) == 1 and all(d != llm.devices for d in others)


def test_two_gpus_pin_by_uuid(tmp_path):
    stack = stack_from(tmp_path, """
        engines:
          llm: {gpu: GPU-3090b000-0000-4000-8000-000000000001}
        """)
    plan = make_plan(hw("2x-rtx-3090"), CATALOG, stack)
    assert plan.engine("llm").devices == ("GPU-3090b000-0000-4000-8000-000000000001",)


def test_small_gpu_downgrades_the_whisper_model():
    small = dataclasses.replace(hw("rtx-3080"), gpus=(dataclasses.replace(hw("rtx-3080").gpus[0], memory_mib=6144),))
    plan = make_plan(small, CATALOG, Stack())
    assert plan.engine("asr").model.name in ("medium", "base")
    big = make_plan(hw("rtx-4090"), CATALOG, Stack())
    assert big.engine("asr").model.name == "large-v3"


def test_a_named_model_that_does_not_fit_is_refused_with_the_numbers(tmp_path):
    stack = stack_from(tmp_path, """
        engines:
          llm: {model: qwen2.5-7b-instruct, candidate: vllm-official}
        """)
    plan = make_plan(hw("t4"), CATALOG, stack)
    assert not plan.ok
    refusal = next(r for r in plan.refusals if r.engine == "llm")
    assert "18432 MiB" in refusal.reason and "GPU 0" in refusal.reason


def test_unified_plan_over_budget_is_refused_with_the_numbers(tmp_path):
    stack = stack_from(tmp_path, """
        os_reserve_mib: 100000
        engines:
          llm: {model: qwen2.5-7b-instruct}
        """)
    plan = make_plan(hw("gb10"), CATALOG, stack)
    refusal = next(r for r in plan.refusals if r.engine == "llm")
    assert "122570 MiB" in refusal.reason and "100000 MiB" in refusal.reason and "18432" in refusal.reason


def test_secret_env_values_are_redacted_in_json_and_docker_run(tmp_path):
    stack = stack_from(tmp_path, """
        engines:
          llm: {env: {HF_TOKEN: hf_abcdef, LOG_LEVEL: debug}}
        """)
    plan = make_plan(hw("h100"), CATALOG, stack)
    text = json.dumps(plan_to_dict(plan)) + "\n".join(docker_run_lines(plan))
    assert "hf_abcdef" not in text and '"HF_TOKEN": "***"' in text and "debug" in text
    # A copied `docker run` line takes the token from the environment, never a literal ***.
    assert " -e HF_TOKEN " in "\n".join(docker_run_lines(plan)) and "HF_TOKEN=" not in "\n".join(docker_run_lines(plan))


def test_ports_bind_loopback_unless_exposed():
    assert all(p.host_ip == "127.0.0.1" for e in make_plan(hw("h100"), CATALOG, Stack()).engines for p in e.ports)
    exposed = make_plan(hw("h100"), CATALOG, Stack(), PlanOptions(expose=True))
    assert all(p.host_ip == "0.0.0.0" for e in exposed.engines for p in e.ports)


def test_model_folders_mount_read_only():
    plan = make_plan(hw("h100"), CATALOG, Stack())
    assert all(m.read_only for e in plan.engines for m in e.mounts)
    assert plan.engine("asr").mounts and not plan.engine("tts").mounts  # kokoro carries its model


def test_docker_run_lines_are_shell_quoted_and_parse_back():
    plan = make_plan(hw("rtx-3080"), CATALOG, Stack())
    line = next(line for line in docker_run_lines(plan) if "aima-aima-asr" in line)
    args = shlex.split(line)
    assert args[args.index("--entrypoint") + 1] == "bash"
    assert args[-2:] == ["-c", "whisper-server --host 0.0.0.0 --port 8080 -m /models/snapshots/"
                                 "5359861c739e955e79d9a303bcbc70fb988958b1/ggml-large-v3.bin"]
    assert args[args.index("--gpus") + 1] == "device=0"


def test_stack_override_of_limits_and_device(tmp_path):
    stack = stack_from(tmp_path, """
        engines:
          asr: {device: cpu, limits: {memory_mib: 6000, cpus: 3}}
          tts: {enabled: false}
        """)
    plan = make_plan(hw("rtx-4090"), CATALOG, stack)
    asr = plan.engine("asr")
    assert not asr.gpu and asr.limits.memory_mib == 6000 and asr.limits.cpus == 3
    assert asr.model.name == "large-v3"  # 4700 MiB fits the 6000 MiB limit
    assert plan.engine("tts") is None


@pytest.mark.parametrize("profile", all_profiles(PROFILES), ids=lambda p: p.hardware.name)
def test_every_profile_plans_or_refuses_clearly(profile):
    plan = make_plan(profile.hardware, CATALOG, Stack())
    for refusal in plan.refusals:
        assert refusal.reason
    assert {e.engine for e in plan.engines} | {r.engine for r in plan.refusals} == {"asr", "llm", "tts"}


def test_plan_json_cli_carries_the_documented_keys():
    out = subprocess.run([sys.executable, "-m", "aima", "plan", "--hardware", "gb10", "--json"],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    llm = data["engines"]["llm"]
    for key in ("candidate", "image", "gpu", "rejected", "warnings", "limits", "devices", "ports", "command",
                "entrypoint", "env"):
        assert key in llm
    assert llm["rejected"][0]["candidate"] == "vllm-official" and "reason" in llm["rejected"][0]


def test_an_engine_on_another_engines_default_port_is_refused_not_half_started(tmp_path):
    # asr keeps the catalogue's default 8001; llm asks for 8001 in the stack: `up` could start only one of them.
    stack = stack_from(tmp_path, """\
        engines:
          llm: {port: 8001}
        """)
    plan = make_plan(hw("h100"), CATALOG, stack)
    assert not plan.ok
    assert [r.engine for r in plan.refusals] == ["llm"]
    assert "host port 8001" in plan.refusals[0].reason and "asr" in plan.refusals[0].reason
    assert plan.engine("asr") is not None and plan.engine("llm") is None
