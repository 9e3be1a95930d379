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


def _killed_between_create_and_record(engine, stub_image, name: str, count: int = 1):
    """What `up` leaves when it is killed after the engine created its objects but before their ids were recorded:
    the claims recorded first, a network and container(s) carrying the claim label, no ids."""
    from aima.engine import connect
    from aima.launch.ownership import owners_for

    owners = owners_for(connect())
    network = engine.client.networks.create(f"aima-{name}", labels={"aima.stack": name,
                                                                    "aima.claim": owners.claim(name)})
    token = owners.claim(name)
    labels = {"aima.stack": name, "aima.engine": "llm", "aima.config-hash": "0" * 64, "aima.claim": token}
    made = [engine.client.containers.create(stub_image, labels=labels, name=f"aima-{name}-llm" + "-x" * i)
            for i in range(count)]
    return owners, token, network, made


def test_what_a_killed_up_created_before_recording_it_is_proven_by_its_claim(engine, engine_env, stub_image,
                                                                             stacks, tmp_path):
    name = stacks.track(f"own-{uuid.uuid4().hex[:6]}")
    owners, token, network, (container,) = _killed_between_create_and_record(engine, stub_image, name)
    stack_file = stack(tmp_path, name)
    again = aima("up", "--images", catalog(tmp_path, "images.yaml", stub_image), "--stack", stack_file)
    assert again.rc == 0, again.err
    assert "left alone" not in again.err  # its own leftover is not a look-alike
    assert container.id in owners.owned(name) and f"claim:{token}" not in owners.owned(name)  # the id now
    down = aima("down", "--stack", stack_file)
    assert down.rc == 0, down.err
    assert "left alone" not in down.err
    assert not containers(engine.client, name)
    assert not engine.client.networks.list(names=[f"aima-{name}"])  # the claimed network went too
    assert not owners.owned(name)


def test_a_claim_on_two_objects_proves_neither(engine, engine_env, stub_image, stacks, tmp_path):
    name = stacks.track(f"own-{uuid.uuid4().hex[:6]}")
    _, _, network, made = _killed_between_create_and_record(engine, stub_image, name, count=2)
    try:
        down = aima("down", "--stack", stack(tmp_path, name))
        assert down.rc == 0, down.err
        assert "left alone" in down.err
        assert all(engine.client.containers.get(c.id) for c in made)  # both left, neither proven
        assert engine.client.networks.get(network.id)  # look-alike containers: the network stays with them
    finally:
        for c in made:
            c.remove(force=True)
        network.remove()
