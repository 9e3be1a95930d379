"""The ContainerEngine Protocol, one set of calls, two engines: the in-memory fake the unit tests use and the real
Docker adapter on the test dockerd. Where they answer alike, a unit test on the fake means the same on Docker."""

from __future__ import annotations

import time
import uuid

import pytest

from aima.engine.labels import LABEL_ENGINE, LABEL_STACK
from aima.engine.model import Container, ContainerEngine, ContainerRefused, ContainerSpec
from aima.errors import AimaError
from aima.plan_types import PortBinding
from tests.e2e.upkit import free_port
from tests.launch.fakes import FakeDocker


@pytest.fixture(params=["fake", "docker", "podman"])
def adapter(request, stacks, stub_image):
    """(adapter, stack name) — the fake, or a real adapter on the test daemon; the stack is removed afterwards."""
    stack = stacks.new("proto")
    if request.param == "fake":
        yield FakeDocker(images={stub_image: "linux/amd64"}), stack
        return
    if request.param == "podman":
        podman = request.getfixturevalue("podman_engine")
        yield podman, stack
        for c in podman.list({LABEL_STACK: stack}):
            podman.remove(c.id)
        podman.remove_networks({LABEL_STACK: stack})
        return
    from aima.engine.docker_engine import connect

    docker_engine = request.getfixturevalue("docker_engine")
    adapter = connect({"DOCKER_HOST": docker_engine.base_url})
    yield adapter, stack
    adapter.close()


def spec(stack: str, image: str, name: str, port: int, **env: str) -> ContainerSpec:
    return ContainerSpec(name=name, engine="llm", image=image, labels={LABEL_STACK: stack, LABEL_ENGINE: "llm"},
                         env=env, command=(), entrypoint=None, ports=(PortBinding("127.0.0.1", port, 8080),),
                         mounts=(), devices=(), gpu=False, memory_mib=64, network=f"aima-{stack}")


def settled(adapter: ContainerEngine, container_id: str, timeout_s: float = 15) -> Container | None:
    """The container once it is no longer running (the fake settles at once, Docker within moments)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = adapter.inspect(container_id)
        if found is None or not found.running or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_info_and_images(adapter, stub_image):
    docker, _ = adapter
    assert docker.info().platform.split("/")[:2] == ["linux", "amd64"]
    assert docker.image(f"aima-test/absent-{uuid.uuid4().hex[:8]}:1") is None
    found = docker.image(stub_image)
    assert found is not None and found.platform.startswith("linux/amd64") and found.id
    assert found.id in {i.id for i in docker.images()}


def test_network_is_created_once_and_removed_by_its_labels(adapter):
    docker, stack = adapter
    assert docker.ensure_network(f"aima-{stack}", {LABEL_STACK: stack})  # the new network's id
    assert docker.ensure_network(f"aima-{stack}", {LABEL_STACK: stack}) == ""
    assert docker.remove_networks({LABEL_STACK: stack}) == [f"aima-{stack}"]
    assert docker.remove_networks({LABEL_STACK: stack}) == []


def test_container_lifecycle_through_the_observed_type(adapter, stub_image):
    docker, stack = adapter
    docker.ensure_network(f"aima-{stack}", {LABEL_STACK: stack})
    port = free_port()
    name = f"aima-{stack}-llm"
    cid = docker.create(spec(stack, stub_image, name, port))
    [listed] = docker.list({LABEL_STACK: stack})
    assert (listed.id, listed.name, listed.state, listed.engine, listed.stack) == (cid, name, "created", "llm", stack)
    assert listed.host_ports == (port,) and listed.image.endswith(stub_image)  # Podman: localhost/...
    assert docker.list({LABEL_STACK: ""}) and cid in {c.id for c in docker.list({LABEL_STACK: ""})}
    assert docker.list({LABEL_STACK: stack + "-other"}) == []

    with pytest.raises(ContainerRefused) as refused:
        docker.create(spec(stack, stub_image, name, free_port()))
    assert "already in use" in refused.value.text

    docker.start(cid)
    running = docker.inspect(cid)
    assert running is not None and running.running and running.host_ports == (port,)

    docker.remove(cid)
    assert docker.inspect(cid) is None and docker.list({LABEL_STACK: stack}) == []
    docker.remove(cid)  # gone already is fine
    docker.remove_networks({LABEL_STACK: stack})


def test_a_crash_is_seen_with_its_exit_code_and_its_log(adapter, stub_image):
    docker, stack = adapter
    docker.ensure_network(f"aima-{stack}", {LABEL_STACK: stack})
    cid = docker.create(spec(stack, stub_image, f"aima-{stack}-llm", free_port(), STUB_CRASH_LINE="boom at start",
                             STUB_EXIT_CODE="3"))
    docker.start(cid)
    gone = settled(docker, cid)
    assert gone is not None and (gone.state, gone.exit_code, gone.oom_killed) == ("exited", 3, False)
    assert "boom at start" in b"".join(docker.logs(cid)).decode()
    assert b"".join(docker.logs(cid, tail=0)) == b""
    assert docker.top_pids(cid) == []
    docker.remove(cid)


def test_a_short_run_reports_exit_code_and_output_and_leaves_nothing(adapter, stub_image):
    docker, stack = adapter
    run = spec(stack, stub_image, "", 0, STUB_CRASH_LINE="short run says hi", STUB_EXIT_CODE="4")
    run = ContainerSpec(**{**run.__dict__, "ports": (), "network": ""})
    result = docker.run(run, timeout_s=15)
    assert (result.start_error, result.exit_code, result.timed_out) == (None, 4, False)
    assert "short run says hi" in result.output
    assert docker.list({LABEL_STACK: stack}) == []


def test_a_missing_image_is_refused_with_the_engines_words(adapter):
    docker, stack = adapter
    with pytest.raises(AimaError):
        docker.create(spec(stack, f"aima-test/absent-{uuid.uuid4().hex[:8]}:1", f"aima-{stack}-llm", free_port()))
