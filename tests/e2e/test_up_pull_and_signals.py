"""`aima up` with pulls from a real registry (present, absent, down), Ctrl-C, and a second `up` at the same time,
on each engine (Podman pulls from the loopback registry that .ci/setup-podman marks insecure)."""

from __future__ import annotations

import signal
import time
import uuid

from tests.e2e.upkit import aima, aima_process, catalog, containers, stack
from tests.harness import stubs


def _name(stacks, hint: str) -> str:
    return stacks.track(f"up-{hint}-{uuid.uuid4().hex[:6]}")


def _pushed_elsewhere(docker_engine, registry, stub_image) -> str:
    """The stub in the registry under a fresh name, and on neither engine: `up` has to pull it."""
    repository = f"aima-test/pull-{uuid.uuid4().hex[:8]}"
    pushed = stubs.push(docker_engine.client, stub_image, registry.host, repository=repository)
    docker_engine.client.images.remove(pushed.ref)
    return pushed.ref


def _one_engine(tmp_path, name, **llm):
    return stack(tmp_path, name, {"llm": llm, "asr": {"enabled": False}, "tts": {"enabled": False}})


def test_absent_image_is_pulled_from_the_registry(engine, engine_env, docker_engine, registry, stub_image, stacks,
                                                 tmp_path):
    ref = _pushed_elsewhere(docker_engine, registry, stub_image)
    name = _name(stacks, "pull")
    result = aima("up", "--images", catalog(tmp_path, "images.yaml", ref), "--stack", _one_engine(tmp_path, name))
    assert result.rc == 0, result.err
    assert f"pulling {ref}" in result.err and f"pulled {ref} (" in result.err
    assert containers(engine.client, name)["llm"].attrs["Config"]["Image"] == ref


def test_absent_image_with_the_registry_down_starts_nothing(engine, engine_env, docker_engine, registry, stub_image,
                                                            stacks, tmp_path):
    ref = _pushed_elsewhere(docker_engine, registry, stub_image)
    name = _name(stacks, "regdown")
    images, stack_file = catalog(tmp_path, "images.yaml", ref), _one_engine(tmp_path, name)
    with registry.stopped():
        result = aima("up", "--images", images, "--stack", stack_file)
    assert result.rc == 1
    # Preflight asks the registry before anything is pulled or created.
    assert "nothing was pulled or created" in result.err
    assert f"cannot pull {ref}: registry {registry.host} is not reachable" in result.err
    assert "Traceback" not in result.err
    assert containers(engine.client, name) == {}
    assert not engine.client.networks.list(names=[f"aima-{name}"])


def test_image_the_registry_does_not_have(engine, engine_env, docker_engine, registry, stacks, tmp_path):
    ref = f"{registry.host}/aima-test/absent-{uuid.uuid4().hex[:8]}:latest"
    name = _name(stacks, "absent")
    result = aima("up", "--images", catalog(tmp_path, "images.yaml", ref), "--stack", _one_engine(tmp_path, name))
    assert result.rc == 1
    assert "nothing was pulled or created" in result.err
    assert f"image {ref} is not on this machine and registry {registry.host} does not have it" in result.err


def test_second_up_is_refused_and_ctrl_c_leaves_nothing_behind(engine, engine_env, stub_image, stacks,
                                                               tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the lock files of this test's processes
    name = _name(stacks, "sigint")
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = _one_engine(tmp_path, name, env={"STUB_NEVER_READY": "1"})
    first = aima_process("up", "--images", images, "--stack", stack_file, "--timeout", "60")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and containers(engine.client, name).get("llm") is None:
            time.sleep(0.1)
        assert "llm" in containers(engine.client, name), "the first up never created its container"

        second = aima("up", "--images", images, "--stack", stack_file)
        assert second.rc == 1
        assert f"error: stack {name} is busy: `aima up` (pid {first.pid}) is working on it" in second.err
        assert aima("down", "--stack", stack_file).rc == 1  # down waits its turn too

        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, err
    assert f"interrupted; removed what this run created: aima-{name}-llm; nothing of stack {name} is left" in err
    assert "Traceback" not in err
    assert containers(engine.client, name) == {}
    assert not engine.client.networks.list(names=[f"aima-{name}"])
