"""Never touch what is not ours, on each engine: containers and networks that carry a stack's labels
but that aima did not create (a Compose export run by hand, another tool) are reported, never removed."""

from __future__ import annotations

import uuid

from tests.e2e.upkit import aima, catalog, containers, stack


def test_look_alike_container_survives_up_and_down(engine, engine_env, stub_image, stacks, tmp_path):
    client = engine.client
    name = stacks.track(f"own-{uuid.uuid4().hex[:6]}")
    images, stack_file = catalog(tmp_path, "images.yaml", stub_image), stack(tmp_path, name)
    assert aima("up", "--images", images, "--stack", stack_file).rc == 0
    ours = containers(client, name)["llm"]
    # A copy of the llm container's labels on someone else's container, as a hand-run Compose export would have.
    copy = client.containers.run(stub_image, detach=True, labels=dict(ours.labels), name=f"copy-{name}")
    try:
        again = aima("up", "--images", images, "--stack", stack_file)
        assert again.rc == 0, again.err
        assert f"copy-{name}" in again.err and "left alone" in again.err
        assert "a second container" not in again.out + again.err
        assert client.containers.get(copy.id).status == "running"

        down = aima("down", "--stack", stack_file)
        assert down.rc == 0, down.err
        assert "removed 3 container(s)" in down.out
        assert f"copy-{name}" in down.err and "left alone" in down.err
        assert client.containers.get(copy.id).status == "running"  # still there, untouched
    finally:
        copy.remove(force=True)


def test_look_alike_network_and_container_of_a_stack_aima_never_ran_are_left(engine, engine_env,
                                                                              stub_image, stacks, tmp_path):
    client = engine.client
    name = stacks.track(f"own-{uuid.uuid4().hex[:6]}")
    labels = {"aima.stack": name, "aima.engine": "llm", "aima.config-hash": "0" * 64}
    network = client.networks.create(f"aima-{name}", labels={"aima.stack": name})
    squatter = client.containers.create(stub_image, labels=labels, name=f"someone-{name}")
    try:
        down = aima("down", "--stack", stack(tmp_path, name))
        assert down.rc == 0, down.err
        assert f"someone-{name}" in down.err and "left alone" in down.err
        assert client.containers.get(squatter.id)
        assert client.networks.get(network.id)
    finally:
        squatter.remove(force=True)
        network.remove()
