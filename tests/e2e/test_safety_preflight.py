"""Preflight on each engine: every problem of every engine is found before the first pull, network or
container, and listed at once."""

from __future__ import annotations

import uuid

import yaml

from tests.e2e.upkit import aima, catalog, containers, stack


def _catalog_with_models(tmp_path, stub_image, registry_host):
    path = catalog(tmp_path, "images.yaml", stub_image)
    data = yaml.safe_load(path.read_text())
    llm = data["engines"]["llm"]
    llm["models"] = [{"name": "tiny", "format": "gguf", "file": "tiny.gguf", "size_mib": 4, "memory_mib": 64,
                      "gpu_memory_mib": 64}]
    llm["candidates"][0].update(model_format="gguf", command=["--model", "{model_path}"])
    # An image that is neither here nor in the (real, loopback) registry.
    data["engines"]["asr"]["candidates"][0]["image"] = f"{registry_host}/aima-test/not-there:1"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_problem_is_listed_before_anything_is_pulled_or_created(engine, engine_env, stub_image,
                                                                        registry, stacks, tmp_path):
    client = engine.client
    name = stacks.track(f"pre-{uuid.uuid4().hex[:6]}")
    images = _catalog_with_models(tmp_path, stub_image, registry.host)
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny.gguf").write_bytes(b"GGUF" + b"\0" * 1000)  # 1 KB of a 4 MiB model: a cut-short download
    # (A NUL in an env value is refused earlier still, when the stack file is read: tests/safety/test_secrets.py.)
    stack_file = stack(tmp_path, name, {"llm": {"models_dir": str(models)}})
    # A container of nobody's stack holds the name this stack's tts would get.
    squatter = client.containers.create(stub_image, name=f"aima-{name}-tts")
    try:
        images_before = {i.id for i in client.images.list()}
        result = aima("up", "--images", images, "--stack", stack_file)
        assert result.rc == 1, result.out + result.err
        err = " ".join(result.err.split())
        assert "preflight found 3 problems, nothing was pulled or created" in err, err
        assert "not-there:1" in err  # the image nobody has
        assert "cut short" in err and "tiny.gguf" in err  # the truncated model
        assert f"container name aima-{name}-tts is taken" in err
        assert containers(client, name) == {}
        assert not client.networks.list(names=[f"aima-{name}"])
        assert {i.id for i in client.images.list()} == images_before
        assert client.containers.get(squatter.id).status == "created"  # untouched
    finally:
        squatter.remove(force=True)


def test_missing_model_folder_stops_up_before_other_engines_start(engine, engine_env, stub_image,
                                                                   registry, stacks, tmp_path):
    client = engine.client
    name = stacks.track(f"pre-{uuid.uuid4().hex[:6]}")
    images = _catalog_with_models(tmp_path, stub_image, registry.host)
    data = yaml.safe_load(images.read_text())
    data["engines"]["asr"]["candidates"][0]["image"] = stub_image
    images.write_text(yaml.safe_dump(data, sort_keys=False))
    stack_file = stack(tmp_path, name, {"llm": {"models_dir": str(tmp_path / "no-such-folder")}})
    result = aima("up", "--images", images, "--stack", stack_file, "--json")
    assert result.rc == 1
    assert "model folder" in result.err and "no-such-folder does not exist" in result.err
    assert containers(client, name) == {}
