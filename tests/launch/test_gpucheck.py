"""After a GPU engine starts, its GPU must really be there: a dropped request is a failure, not a CPU run."""

from __future__ import annotations

import pytest

from aima.engine.model import ContainerSpec
from aima.launch.gpucheck import gpu_problem, read_process


def _spec(devices=("1",), gpu=True) -> ContainerSpec:
    return ContainerSpec(name="aima-t-llm", engine="llm", image="x", labels={}, env={}, command=(), entrypoint=None,
                         ports=(), mounts=(), devices=devices, gpu=gpu)


@pytest.mark.parametrize(("env", "dev", "devices", "problem"), [
    ({"NVIDIA_VISIBLE_DEVICES": "1"}, [], ("1",), None),  # Docker --gpus (the NVIDIA hook mounts the nodes later)
    ({}, ["null", "nvidia1", "nvidiactl"], ("1",), None),  # CDI: device nodes, no env
    ({"NVIDIA_VISIBLE_DEVICES": "all"}, [], ("0", "1"), None),
    ({}, ["null", "zero"], ("1",), "got no GPU"),  # Podman's compat API dropped the request
    ({"NVIDIA_VISIBLE_DEVICES": "void"}, [], (), "got no GPU"),
    ({"NVIDIA_VISIBLE_DEVICES": "0"}, [], ("1",), "asked for GPU 1"),
], ids=["docker-env", "cdi-nodes", "all", "dropped", "void", "wrong-gpu"])
def test_gpu_arrival(env, dev, devices, problem):
    found = gpu_problem(_spec(devices), [42], read=lambda pid: (env, dev))
    assert (found is None) if problem is None else (problem in found)


def test_nothing_to_check_for_cpu_engines_exited_ones_or_where_proc_is_not_readable():
    assert gpu_problem(_spec(gpu=False), [42], read=lambda pid: ({}, [])) is None
    assert gpu_problem(_spec(), [], read=lambda pid: ({}, [])) is None
    assert gpu_problem(_spec(), [42], read=lambda pid: None) is None


def test_read_process_reads_environ_and_dev(tmp_path):
    (tmp_path / "7" / "root" / "dev").mkdir(parents=True)
    (tmp_path / "7" / "root" / "dev" / "nvidia0").touch()
    (tmp_path / "7" / "environ").write_bytes(b"A=1\0NVIDIA_VISIBLE_DEVICES=0\0")
    assert read_process(7, tmp_path) == ({"A": "1", "NVIDIA_VISIBLE_DEVICES": "0"}, ["nvidia0"])
    assert read_process(8, tmp_path) is None
