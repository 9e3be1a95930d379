"""The real-Docker harness itself: daemon, stub engines, stand-in GPU hook, loopback registry."""

from __future__ import annotations

import time
import uuid

import docker
import httpx
import pytest
from docker.types import DeviceRequest

from tests.harness import stubs


def _run_stub(engine, stacks, image, env=None, **kwargs):
    """Start a stub engine in a fresh stack with its port published on a free loopback port."""
    stack = stacks.new()
    return engine.client.containers.run(
        image,
        detach=True,
        environment=env or {},
        labels=stacks.labels(stack),
        ports={f"{stubs.STUB_PORT}/tcp": ("127.0.0.1", None)},
        **kwargs,
    )


def _health_url(container) -> str:
    container.reload()
    host_port = container.ports[f"{stubs.STUB_PORT}/tcp"][0]["HostPort"]
    return f"http://127.0.0.1:{host_port}/health"


def _probe(url: str) -> int | str:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError as exc:
        return type(exc).__name__  # not listening yet: refused, reset


def _wait_for_log(container, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = container.logs().decode()
        if text in logs:
            return logs
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in logs after {timeout}s:\n{container.logs().decode()}")


def test_test_daemon_answers_ping_on_its_own_socket(docker_engine):
    assert docker_engine.base_url.startswith("unix:///")
    assert docker_engine.client.ping()
    info = docker_engine.client.info()
    assert info["DockerRootDir"] == str(docker_engine.daemon.paths.data_root)
    assert "127.0.0.0/8" in info["RegistryConfig"]["InsecureRegistryCIDRs"]


def test_stub_answers_503_while_loading_then_200_after_ready_after(docker_engine, stacks, stub_image):
    container = _run_stub(docker_engine, stacks, stub_image, {"STUB_READY_AFTER": "2"})
    started = time.monotonic()
    url = _health_url(container)
    seen = []
    while time.monotonic() - started < 10:
        status = _probe(url)
        seen.append((round(time.monotonic() - started, 1), status))
        if status == 200:
            break
        time.sleep(0.2)
    assert 503 in [status for _, status in seen], seen
    assert seen[-1][1] == 200, seen
    assert seen[-1][0] >= 1.5, f"healthy too early: {seen}"
    assert httpx.get(url, timeout=2).json() == {"status": "ok"}
    assert "stub: ready" in container.logs().decode()


def test_never_ready_stub_keeps_answering_503(docker_engine, stacks, stub_image):
    container = _run_stub(docker_engine, stacks, stub_image, {"STUB_NEVER_READY": "1"})
    url = _health_url(container)
    _wait_for_log(container, "stub: loading (never ready)")
    time.sleep(0.5)  # the listener starts just before the "loading" line
    statuses = {_probe(url) for _ in range(5)}
    assert statuses == {503}


def test_stub_stops_quickly_on_sigterm(docker_engine, stacks, stub_image):
    container = _run_stub(docker_engine, stacks, stub_image)
    _wait_for_log(container, "stub: ready")
    started = time.monotonic()
    container.stop(timeout=10)
    assert time.monotonic() - started < 3, "the stub ignored SIGTERM and waited for the kill"
    assert "stub: stopping" in container.logs().decode()


def test_crash_stub_prints_its_line_to_stderr_and_exits_1(docker_engine, stacks, stub_image):
    line = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    container = _run_stub(docker_engine, stacks, stub_image, {"STUB_CRASH_LINE": line, "STUB_CRASH_AFTER": "1"})
    assert container.wait(timeout=15)["StatusCode"] == 1
    assert line in container.logs(stdout=False, stderr=True).decode()
    assert line not in container.logs(stdout=True, stderr=False).decode()


def test_gpu_request_for_device_1_sees_nvidia_visible_devices_1_and_calls_the_hook(docker_engine, stacks, stub_image):
    gpu_1 = DeviceRequest(device_ids=["1"], capabilities=[["gpu"]])
    container = _run_stub(docker_engine, stacks, stub_image, device_requests=[gpu_1])
    logs = _wait_for_log(container, "stub: ready")
    assert "stub: NVIDIA_VISIBLE_DEVICES=1\n" in logs
    container.reload()
    assert container.attrs["HostConfig"]["DeviceRequests"][0]["DeviceIDs"] == ["1"]
    calls = [call for call in docker_engine.hook_calls() if container.id in call]
    assert len(calls) == 1 and calls[0].startswith("args=prestart ")


def test_container_without_gpu_request_sees_no_nvidia_devices(docker_engine, stacks, stub_image):
    container = _run_stub(docker_engine, stacks, stub_image)
    logs = _wait_for_log(container, "stub: ready")
    assert "stub: NVIDIA_VISIBLE_DEVICES=unset\n" in logs
    assert not [call for call in docker_engine.hook_calls() if container.id in call]


def test_push_then_pull_back_by_digest(docker_engine, registry):
    client = docker_engine.client
    # An image of its own (a unique label gives it its own digest), so removing it locally to
    # force a real pull cannot disturb other tests or other sessions on the same daemon.
    run_id = uuid.uuid4().hex[:8]
    tag = f"aima-test/pull-probe:{run_id}"
    image_id = stubs.build_stub(client, tag, labels={"aima.test.run": run_id})
    pushed = stubs.push(client, image_id, registry.host, repository="aima-test/pull-probe", tag=run_id)
    assert pushed.digest.startswith("sha256:")
    client.images.remove(image_id, force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(image_id)

    try:
        pulled = client.images.pull(pushed.pinned)
        assert pulled.id == image_id
        assert pushed.pinned in pulled.attrs["RepoDigests"]
    finally:
        client.images.remove(image_id, force=True)


def test_pull_fails_while_the_registry_is_down_and_works_after(docker_engine, registry, pushed_stub):
    client = docker_engine.client
    with registry.stopped():
        assert not registry.is_up()
        with pytest.raises(docker.errors.APIError, match="connection refused"):
            client.images.pull(pushed_stub.pinned)
    assert registry.is_up()
    assert client.images.pull(pushed_stub.pinned).id == client.images.get(pushed_stub.ref).id


def test_stacks_cleanup_removes_labelled_containers_and_networks(docker_engine, stacks, stub_image):
    client = docker_engine.client
    stack = stacks.new("cleanup")
    network = client.networks.create(stack, labels=stacks.labels(stack))
    client.containers.create(stub_image, labels=stacks.labels(stack), network=network.name)
    selector = {"label": f"aima.stack={stack}"}
    assert client.containers.list(all=True, filters=selector)

    stacks.cleanup()

    assert not client.containers.list(all=True, filters=selector)
    assert not client.networks.list(filters=selector)
