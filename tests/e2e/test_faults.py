"""`aima up` when things break underneath it, on each engine (the test dockerd, the test Podman service): the engine
going away, an engine killed while it loads, the registry stopping during the pulls, a full disk, a port
taken after the port check.

Each test drives the real CLI and then looks at the engine itself: what aima said is left is exactly what exists
(by the label aima.stack=<name>), `aima down` leaves nothing, and an unlabelled container that runs beside these
tests is never touched (the `fault` fixture checks it, and that no output holds a traceback).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
import yaml

from tests.e2e import test_faults_kit as kit
from tests.e2e.test_faults_kit import pushed_not_here, streamed_error
from tests.e2e.upkit import catalog

engine_proxy, fault, foreign = kit.engine_proxy, kit.fault, kit.foreign  # the kit's fixtures, for this module

NEVER_READY = {"env": {"STUB_NEVER_READY": "1"}}
QUICK = {"env": {"STUB_READY_AFTER": "0"}}


def test_daemon_going_away_while_up_waits_says_so_and_names_what_is_left(fault, engine_proxy):
    stack_file = fault.stack_file(asr=QUICK, llm=NEVER_READY)
    up = fault.start("up", "--images", fault.images, "--stack", stack_file, via=engine_proxy.url)
    llm = fault.wait_created("llm")
    engine_proxy.wait_for("GET", fault.engine.follow_logs_path(llm.id))  # up is waiting for readiness
    time.sleep(0.3)
    engine_proxy.cut()
    rc, _, err, took = fault.finish(up)

    assert rc == 1 and took < 3, err
    asr, llm_name = fault.container("asr"), fault.container("llm")
    assert (f"error: {fault.engine.title} at {engine_proxy.url} stopped answering while `up` was starting the "
            f"engines and waiting for them; left behind as last seen: {asr}, {llm_name} (created by this run); "
            f"network aima-{fault.name}") in err
    assert "`aima down` removes what is left" in err
    # Through the real socket: what the message named is exactly what exists, and down removes it.
    assert fault.left() == {asr: "running", llm_name: "running"}
    assert fault.networks() == [f"aima-{fault.name}"]
    fault.down_leaves_nothing()


def test_daemon_going_away_during_the_pull_says_nothing_was_created(fault, engine_proxy, docker_engine, registry,
                                                                    stub_image):
    ref = pushed_not_here(docker_engine, registry, stub_image, f"faults-gone-{uuid.uuid4().hex[:8]}")
    engine_proxy.hold("POST", fault.engine.pull_path())  # the pull is under way when the daemon goes
    up = fault.start("up", "--images", catalog(fault.tmp_path, "images.yaml", ref),
                     "--stack", fault.stack_file(llm=QUICK), via=engine_proxy.url)
    engine_proxy.wait_for("POST", fault.engine.pull_path())
    engine_proxy.cut()
    rc, _, err, took = fault.finish(up)

    assert rc == 1 and took < 3, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {fault.engine.title} at {engine_proxy.url} stopped answering while `up` was pulling "
                      f"images; nothing of stack {fault.name} had been created"]
    assert fault.left() == {} and fault.networks() == []


def test_engine_killed_while_loading_fails_fast_with_its_log_tail(fault):
    stack_file = fault.stack_file(llm=NEVER_READY)
    up = fault.start("up", "--images", fault.images, "--stack", stack_file)
    llm = fault.wait_created("llm")
    time.sleep(0.5)  # loading: /health answers 503
    llm.kill()
    rc, _, err, took = fault.finish(up)

    assert rc == 1 and took < 2, err
    assert "error: llm (stub-llm): exited: exited with code 137 (killed by SIGKILL)" in err
    assert "last log lines:" in err and "stub: loading (never ready)" in err
    name = fault.container("llm")
    assert (f"error: 1 of 1 engines did not come up: llm (exited); stack {fault.name} now has: {name} (exited)"
            in err)
    assert "`aima logs llm` shows its log; `aima down` removes the stack" in err
    assert fault.left() == {name: "exited"}  # kept for `aima logs`, as the message says
    fault.down_leaves_nothing()


def test_registry_stopping_during_the_pulls_starts_nothing(fault, engine_proxy, docker_engine, registry, stub_image):
    token = uuid.uuid4().hex[:8]
    first = pushed_not_here(docker_engine, registry, stub_image, f"faults-a-{token}")
    second = pushed_not_here(docker_engine, registry, stub_image, f"faults-b-{token}")
    images = catalog(fault.tmp_path, "images.yaml", first)
    data = yaml.safe_load(images.read_text())
    data["engines"]["llm"]["candidates"][0]["image"] = second
    images.write_text(yaml.safe_dump(data))

    def stop_registry_once_the_first_is_pulled(request):
        # Both pulls are under way; the second reaches the engine only after the registry has stopped.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not fault.client.images.list(name=first.rsplit(":", 1)[0]):
            time.sleep(0.05)
        registry.stop()

    engine_proxy.on("POST", rf"{fault.engine.pull_path()}\?.*faults-b-{token}", stop_registry_once_the_first_is_pulled)
    try:
        up = fault.start("up", "--images", images, "--stack", fault.stack_file(asr=QUICK, llm=QUICK),
                         via=engine_proxy.url)
        rc, _, err, _ = fault.finish(up)
    finally:
        registry.start()

    assert rc == 1, err
    assert fault.client.images.list(name=first.rsplit(":", 1)[0])  # the first pull did finish
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"error: cannot pull {second}: registry {registry.host} is not reachable (")
    assert "connection refused" in errors[0]
    assert engine_proxy.requests and not [r for r in engine_proxy.requests if "/containers/create" in r.path]
    assert fault.left() == {} and fault.networks() == []


# What each engine streams when writing a layer hits ENOSPC (the HTTP status is already 200 by then): dockerd's
# status/progress events ending in error + errorDetail; libpod's {"stream": ...} lines ending in {"error": ...}
# (its text in the shape containers/storage reports a failed layer write).
ENOSPC = {
    "docker": ("failed to register layer: Error processing tar file(exit status 1): write /stub/engine.sh: "
               "no space left on device"),
    "podman": ("writing blob: adding layer with blob \"sha256:ece53acb6cea\": processing tar file(write "
               "/stub/engine.sh: no space left on device): exit status 1"),
}


def _enospc_stream(kind: str) -> bytes:
    text = ENOSPC[kind]
    if kind == "docker":
        return streamed_error([
            {"status": "Pulling from aima-test/nospace", "id": "latest"},
            {"status": "Pulling fs layer", "progressDetail": {}, "id": "4f4fb700ef54"},
            {"status": "Downloading", "progressDetail": {"current": 1024, "total": 2048}, "id": "4f4fb700ef54"},
            {"errorDetail": {"message": text}, "error": text}])
    return streamed_error([{"stream": "Trying to pull 127.0.0.1/aima-test/nospace...\n"},
                           {"stream": "Getting image source signatures\n"},
                           {"stream": "Copying blob sha256:ece53acb6cea\n"}, {"error": text}])


def test_disk_full_during_the_pull_is_one_line_and_starts_nothing(fault, engine_proxy, registry, docker_engine,
                                                                  stub_image):
    # In the registry (so preflight finds it obtainable), not on the engine: `up` pulls, and the pull hits ENOSPC.
    ref = pushed_not_here(docker_engine, registry, stub_image, f"nospace-{uuid.uuid4().hex[:8]}")
    kind, title = fault.engine.kind, fault.engine.title
    engine_proxy.on("POST", fault.engine.pull_path(), lambda request: _enospc_stream(kind))
    up = fault.start("up", "--images", catalog(fault.tmp_path, "images.yaml", ref),
                     "--stack", fault.stack_file(llm=QUICK), via=engine_proxy.url)
    rc, _, err, _ = fault.finish(up)

    assert rc == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: cannot pull {ref}: the {title} host ran out of disk space ({ENOSPC[kind]})"]
    assert f"Hint: free space where {title} keeps its data (`{kind} system df`" in err
    assert not [r for r in engine_proxy.requests if r.method == "POST" and "/containers/create" in r.path]
    assert fault.left() == {} and fault.networks() == []


@pytest.mark.parametrize("stolen", [("llm",), ("asr", "llm")], ids=["one-of-two", "both"])
def test_port_taken_after_the_check_names_engine_and_port_and_leaves_nothing_half_started(
        fault, engine_proxy, stolen):
    stack_file = fault.stack_file(asr=QUICK, llm=QUICK)
    ports = {engine: fault.ports[engine] for engine in stolen}
    holders, once = [], threading.Lock()

    def steal(request):
        # The port check passed long ago; now, as the first container is created, another process takes them.
        with once:  # the engines' creates come in parallel
            if holders:
                return
            for port in ports.values():
                holder = socket.socket()
                holder.bind(("127.0.0.1", port))
                holder.listen()
                holders.append(holder)

    engine_proxy.on("POST", r"/containers/create", steal)
    try:
        up = fault.start("up", "--images", fault.images, "--stack", stack_file, via=engine_proxy.url)
        rc, _, err, _ = fault.finish(up)
    finally:
        for holder in holders:
            holder.close()

    assert rc == 1, err
    for engine, port in ports.items():
        assert (f"error: {engine} (stub-{engine}): failed: cannot start {fault.container(engine)}: "
                f"127.0.0.1:{port} is already in use") in err
    if stolen == ("llm",):
        asr = fault.container("asr")
        assert (f"error: 1 of 2 engines did not come up: llm (failed); stack {fault.name} now has: {asr} (running)"
                in err)
        assert fault.left() == {asr: "running"}  # the one that could start is up; nothing stays created
        fault.down_leaves_nothing()
    else:
        assert f"error: 2 of 2 engines did not come up: asr (failed), llm (failed); nothing of stack {fault.name} " \
               "is left" in err
        assert fault.left() == {} and fault.networks() == []  # the network this run created went too
