"""One `up` per stack (flock), and `status` with GPU memory per container from NVML."""

from __future__ import annotations

import pytest

from aima.errors import AimaError
from aima.launch.lock import lock_dir, stack_lock
from aima.launch.status import remove_stack, stack_status
from tests.conftest import PROFILES
from tests.launch.fakes import FakeDocker, engine_plan, plan_of


def test_second_up_on_the_same_stack_is_refused(tmp_path):
    with stack_lock("demo", directory=tmp_path):
        with pytest.raises(AimaError, match=r"stack demo is busy: `aima up` \(pid \d+\) is working on it"):
            with stack_lock("demo", "down", directory=tmp_path):
                pass
        with stack_lock("other", directory=tmp_path):  # another stack is independent
            pass
    with stack_lock("demo", directory=tmp_path):  # released
        pass


def test_lock_dir_prefers_xdg_runtime_dir(tmp_path):
    assert lock_dir({"XDG_RUNTIME_DIR": str(tmp_path)}) == tmp_path / "aima"
    assert str(lock_dir({})).startswith("/tmp/aima-")
    assert str(lock_dir({"XDG_RUNTIME_DIR": "/proc"})).startswith("/tmp/aima-")  # not a folder of ours
    assert str(lock_dir({"XDG_RUNTIME_DIR": str(tmp_path / "gone")})).startswith("/tmp/aima-")


def test_status_sums_gpu_memory_of_each_containers_processes(fake_nvml, tmp_path):
    plan = plan_of(engine_plan("asr", port=18001), engine_plan("llm", port=18000))
    docker = FakeDocker()
    asr, llm = docker.add(plan, plan.engine("asr")), docker.add(plan, plan.engine("llm"))
    docker.pids = {asr: [1001, 1002], llm: [2001]}
    profile = (PROFILES / "2x-rtx-3090.yaml").read_text()
    processes = "[{pid: 1001, used_mib: 500}, {pid: 1002, used_mib: 20}, {pid: 2001, used_mib: 9000}]"
    profile = profile.replace("  architecture: ampere\n", f"  architecture: ampere\n  processes: {processes}\n", 1)
    spec = tmp_path / "gpus.yaml"
    spec.write_text(profile)
    rows = stack_status(docker, "t", fake_nvml(spec), probe_timeout_s=0.05)
    assert {r.engine: r.gpu_memory_mib for r in rows} == {"asr": 520, "llm": 9000}
    assert all(r.endpoint and r.health != "ok" for r in rows)  # nothing listens on the test ports


def test_status_without_nvml_has_no_gpu_column(fake_nvml):
    plan = plan_of(engine_plan("asr", port=18001))
    docker = FakeDocker()
    docker.add(plan, plan.engine("asr"), state="exited")
    [row] = stack_status(docker, "t", fake_nvml("missing-library"))
    assert row.gpu_memory_mib is None and row.health == "-" and row.state == "exited"


def test_down_removes_only_this_stacks_containers_and_network():
    mine, theirs = plan_of(engine_plan("asr", port=18001)), plan_of(engine_plan("asr", port=18101), stack="x")
    docker = FakeDocker()
    docker.add(mine, mine.engine("asr"))
    other = docker.add(theirs, theirs.engine("asr"))
    docker.networks = {"aima-t": {"aima.stack": "t"}, "aima-x": {"aima.stack": "x"}, "bridge": {}}
    assert remove_stack(docker, "t") == (["aima-t-asr"], ["aima-t"], [])
    assert list(docker.containers) == [other] and set(docker.networks) == {"aima-x", "bridge"}


def test_status_names_the_model_each_container_serves_from_its_labels():
    from dataclasses import replace

    from aima.catalog.model import ModelChoice
    from aima.models.source import ModelFile, ModelSource
    from aima.render.launch import status_dict

    source = ModelSource("ggerganov/whisper.cpp", "5359861c739e955e79d9a303bcbc70fb988958b1",
                         (ModelFile("ggml-base.bin"),), entry="ggml-base.bin")
    hub = replace(engine_plan("asr", port=18001), model=ModelChoice("base", "ggml", "ggml-base.bin", source=source))
    local = replace(engine_plan("llm", port=18000), model=ModelChoice("qwen", "gguf", "qwen.gguf"))
    plan = plan_of(hub, local, engine_plan("tts", port=18002))
    docker = FakeDocker()
    for e in plan.engines:
        docker.add(plan, e, state="exited")
    rows = {r.engine: r for r in stack_status(docker, "t")}
    assert rows["asr"].model == "base"
    assert rows["asr"].model_source == f"hf://ggerganov/whisper.cpp/ggml-base.bin@{source.revision}"
    assert (rows["llm"].model, rows["llm"].model_source) == ("qwen", "")  # hand-placed: no source
    assert (rows["tts"].model, rows["tts"].model_source) == ("", "")  # no model (or made before the label)
    engines = status_dict(list(rows.values()), "t")["engines"]
    assert engines["asr"]["model_source"].startswith("hf://ggerganov/whisper.cpp/")
    assert engines["llm"]["model"] == "qwen" and engines["llm"]["model_source"] is None
    assert engines["tts"]["model"] is None
    # the labels are not in the config hash: a container made before them is not recreated for them
    assert hub.config_hash == replace(hub, model=None).config_hash
