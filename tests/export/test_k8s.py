"""aima export --format k8s: schema-valid manifests whose node affinity lets an image land only where it runs."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from aima.cli import app, main
from aima.errors import AimaError
from aima.export.affinity import accepted_capabilities, gfd_product
from aima.export.k8s import dump_k8s, k8s_objects
from tests.export.conftest import hardware

# A label value: at most 63 characters, alphanumerics with '-', '_', '.' inside (Kubernetes API conventions).
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def node(cc: str, runtime: str, driver: str = "580.95.05", arch: str = "amd64", product: str = "NVIDIA-Test",
         **extra: str) -> dict[str, str]:
    """The labels GPU Feature Discovery puts on a node with one GPU (no gpu.memory: GB10 has none)."""
    major, minor = cc.split(".")
    rmajor, rminor = runtime.split(".")
    return {"kubernetes.io/arch": arch, "nvidia.com/gpu.compute.major": major, "nvidia.com/gpu.compute.minor": minor,
            "nvidia.com/cuda.runtime-version.major": rmajor, "nvidia.com/cuda.runtime-version.minor": rminor,
            "nvidia.com/cuda.runtime-version.full": runtime, "nvidia.com/cuda.driver-version.major":
            driver.split(".")[0], "nvidia.com/cuda.driver-version.full": driver, "nvidia.com/gpu.product": product,
            **extra}


def node_of(profile: str) -> dict[str, str]:
    """GFD's labels for a shipped profile's first GPU."""
    hw = hardware(profile)
    if not hw.gpus:
        return {"kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}[hw.cpu_arch]}
    gpu = hw.gpus[0]
    return node(str(gpu.compute_capability), str(hw.cuda_driver_version), hw.driver_version,
                {"x86_64": "amd64", "aarch64": "arm64"}[hw.cpu_arch], gfd_product(gpu.name))


def _holds(expr: dict, labels: dict[str, str]) -> bool:
    """One nodeSelectorRequirement, as the scheduler evaluates it (Gt/Lt compare integers)."""
    value, op, values = labels.get(expr["key"]), expr["operator"], expr.get("values", [])
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    assert len(values) == 1, "Gt and Lt take exactly one value"
    if value is None:
        return False
    return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])


def schedulable(deployment: dict, labels: dict[str, str]) -> bool:
    """Whether the Deployment's required node affinity admits a node with these labels."""
    terms = deployment["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return any(all(_holds(e, labels) for e in term["matchExpressions"]) for term in terms)


def deployment(objects: list[dict], engine: str) -> dict:
    return next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"]["aima.engine"] == engine)


PROFILE_NAMES = ["2x-rtx-3090", "a100", "b200", "cpu-aarch64", "cpu-x86_64", "gb10", "gtx-1080", "h100",
                 "jetson-orin", "jetson-thor", "rtx-3080", "rtx-4090", "rtx-5070-ti", "rtx-5090-old-driver", "t4",
                 "v100"]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_every_shipped_profile_exports_schema_valid_manifests(planner, profile):
    plan, catalog = planner(profile, "engines:\n  llm: {env: {HF_TOKEN: hf_abc123}}\n")
    text = dump_k8s(plan, catalog)
    assert "hf_abc123" not in text
    documents = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in documents] == ["Deployment", "Service"] * len(plan.engines)
    for document in documents:
        # strict: unknown fields are errors too; the schemas ship inside the package, no network needed.
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
        for value in document["metadata"]["labels"].values():
            assert LABEL_VALUE.match(value) and len(value) <= 63, value
    for engine in plan.engines:
        found = deployment(documents, engine.engine)
        assert schedulable(found, node_of(profile)), f"{profile}/{engine.engine} refuses its own machine"
        assert "nvidia.com/gpu.memory" not in yaml.safe_dump(found)


def test_gpu_limit_counts_the_planned_devices_and_memory_cpu_follow_the_plan(planner):
    plan, catalog = planner("rtx-3080")
    container = deployment(k8s_objects(plan, catalog), "asr")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"memory": "8192Mi", "cpu": "4", "nvidia.com/gpu": 1}}
    assert container["command"] == ["bash", "-c"]
    assert container["args"] == ["whisper-server --host 0.0.0.0 --port 8080 -m /models/snapshots/"
                                 "5359861c739e955e79d9a303bcbc70fb988958b1/ggml-large-v3.bin"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True and "/dev/shm" in mounts
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 180


def test_cpu_engines_ask_for_no_gpu_and_land_on_any_node_of_the_arch(planner):
    plan, catalog = planner("gb10")
    objects = k8s_objects(plan, catalog)
    asr = deployment(objects, "asr")
    assert "nvidia.com/gpu" not in asr["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert schedulable(asr, {"kubernetes.io/arch": "arm64"})
    assert not schedulable(asr, {"kubernetes.io/arch": "amd64"})
    assert deployment(objects, "llm")["spec"]["strategy"] == {"type": "Recreate"}  # one GPU: stop, then start


def test_engines_sharing_a_gpu_in_the_plan_are_pointed_out(planner):
    plan, catalog = planner("2x-rtx-3090")
    header = dump_k8s(plan, catalog).split("---")[0]
    assert "# Note: asr, tts share GPU 1 in the plan; here each engine asks for a whole nvidia.com/gpu" in header
    plan, catalog = planner("gb10")
    assert "share GPU" not in dump_k8s(plan, catalog)


def test_secret_env_is_a_secret_key_ref_and_dollar_paren_is_literal(planner):
    plan, catalog = planner("h100", "engines:\n  llm: {env: {HF_TOKEN: hf_abc, NOTE: 'keep $(HOME)'}}\n")
    env = deployment(k8s_objects(plan, catalog), "llm")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "aima-aima-secrets", "key": "HF_TOKEN"}}} in env
    assert {"name": "NOTE", "value": "keep $$(HOME)"} in env
    assert "kubectl create secret generic aima-aima-secrets --from-literal=HF_TOKEN=..." in dump_k8s(plan, catalog)


def test_a_plan_with_refusals_is_not_exported(planner):
    plan, catalog = planner("cpu-x86_64", "engines:\n  llm: {device: gpu}\n")
    with pytest.raises(AimaError, match="refuses 1 engine"):
        k8s_objects(plan, catalog)


# --- node affinity: what the resolver accepted, as GFD label expressions -------------------------------------

ONE_CANDIDATE = """
    extends: false
    engines:
      asr:
        candidates:
          - {{id: probe, image: 'example/probe:1', gpu: true, archs: '{archs}', cuda: '{cuda}', port: 8080{extra}}}
"""
ASR_ONLY = "engines:\n  llm: {enabled: false}\n  tts: {enabled: false}\n"


def _asr(planner, profile: str, archs: str, cuda: str = "12.0", extra: str = "") -> dict:
    plan, catalog = planner(profile, ASR_ONLY, ONE_CANDIDATE.format(archs=archs, cuda=cuda, extra=extra))
    assert plan.ok, plan.refusals
    return deployment(k8s_objects(plan, catalog), "asr")


@pytest.mark.parametrize(("cc", "runs"), [("8.6", True), ("8.7", True), ("8.9", True), ("8.0", False),
                                           ("9.0", False), ("7.5", False), ("12.0", False)])
def test_sass_sm_86_needs_major_8_and_minor_at_least_6(planner, cc, runs):
    found = _asr(planner, "rtx-3080", "sm_86")
    assert schedulable(found, node(cc, "13.0")) is runs


@pytest.mark.parametrize(("cc", "runs"), [("9.0", True), ("10.0", True), ("12.1", True), ("13.0", True),
                                           ("8.9", False)])
def test_ptx_compute_90_runs_from_9_0_up_when_the_plan_itself_jits(planner, cc, runs):
    found = _asr(planner, "b200", "compute_90")  # B200 (10.0) runs it only through JIT
    assert schedulable(found, node(cc, "13.0")) is runs


def test_a_native_plan_keeps_off_nodes_that_would_only_jit(planner):
    found = _asr(planner, "rtx-3080", "sm_86 compute_86")
    assert schedulable(found, node("8.6", "13.0"))
    assert not schedulable(found, node("9.0", "13.0"))  # only the PTX would run there: slow start, ggml risk


@pytest.mark.parametrize(("cc", "runs"), [("12.1", True), ("12.0", False), ("12.2", False), ("10.0", False)])
def test_arch_specific_sm_121a_runs_on_exactly_12_1(planner, cc, runs):
    found = _asr(planner, "gb10", "sm_121a", cuda="13.0", extra=", platforms: [linux/arm64]")
    assert schedulable(found, node(cc, "13.1", arch="arm64")) is runs


def test_vllm_official_keeps_off_gb10_because_its_ptxas_lacks_sm_121a(planner):
    plan, catalog = planner("rtx-5070-ti")
    llm = deployment(k8s_objects(plan, catalog), "llm")
    assert plan.engine("llm").candidate == "vllm-official"
    assert schedulable(llm, node("12.0", "12.9"))
    assert not schedulable(llm, node("12.1", "13.1"))  # seed 004: ptxas fatal, Value 'sm_121a' is not defined


@pytest.mark.parametrize(("runtime", "runs"), [("12.8", True), ("12.9", True), ("13.0", True), ("14.0", True),
                                                ("12.4", False), ("11.8", False)])
def test_the_driver_must_support_the_image_cuda(planner, runtime, runs):
    found = _asr(planner, "rtx-3080", "sm_86", cuda="12.8")
    assert schedulable(found, node("8.6", runtime)) is runs


def test_forward_compatibility_admits_only_the_same_product_on_the_same_branch(planner):
    plan, catalog = planner("t4")  # Tesla T4 on R535 (CUDA 12.2) runs the CUDA 12.9 vLLM image via cuda-compat
    llm = deployment(k8s_objects(plan, catalog), "llm")
    assert schedulable(llm, node("7.5", "12.2", "535.183.01", product="Tesla-T4"))
    assert not schedulable(llm, node("7.5", "12.2", "535.183.01", product="NVIDIA-GeForce-RTX-2080"))
    assert not schedulable(llm, node("7.5", "12.4", "550.54.14", product="Tesla-T4"))  # R550 is another branch
    assert schedulable(llm, node("7.5", "12.9", "575.57.08", product="NVIDIA-GeForce-RTX-2080"))


def test_gb10_node_without_gpu_memory_label_gets_the_gb10_llm(planner):
    plan, catalog = planner("gb10")
    labels = node_of("gb10")
    assert "nvidia.com/gpu.memory" not in labels
    assert schedulable(deployment(k8s_objects(plan, catalog), "llm"), labels)


def test_affinity_agrees_with_the_resolver_for_every_capability(planner):
    """For the shipped rtx-3080 plan: a node matches exactly when the resolver accepts its capability natively."""
    plan, catalog = planner("rtx-3080")
    objects = k8s_objects(plan, catalog)
    hw = hardware("rtx-3080")
    for engine in plan.engines:
        candidate = catalog.candidate(engine.engine, engine.candidate)
        accepted = accepted_capabilities(candidate, catalog.engine(engine.engine), hw, hw.gpus[0])
        for major in range(3, 16):
            for minor in range(10):
                labels = node(f"{major}.{minor}", "13.0")
                assert schedulable(deployment(objects, engine.engine), labels) is ((major, minor) in accepted)


def test_cli_writes_multi_document_yaml_or_refuses(tmp_path, capsys):
    out = tmp_path / "k8s.yaml"
    result = CliRunner().invoke(app, ["export", "--format", "k8s", "--hardware", "gb10", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(list(yaml.safe_load_all(out.read_text()))) == 6
    stack = tmp_path / "aima.yaml"
    stack.write_text("engines:\n  llm: {device: gpu}\n")
    assert main(["export", "--format", "k8s", "--hardware", "cpu-x86_64", "--stack", str(stack)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_a_hub_model_reaches_the_pod_through_an_emptydir_filled_by_an_init_container(planner):
    plan, catalog = planner("rtx-3080")
    pod = deployment(k8s_objects(plan, catalog), "asr")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"] == {"name": "models", "emptyDir": {}}
    assert "hostPath" not in yaml.safe_dump(pod)  # nothing assumes the model sits on the node
    [init] = pod["initContainers"]
    assert init["image"] == "curlimages/curl:8.11.1" and init["command"] == ["sh", "-c"]
    assert init["volumeMounts"] == [{"name": "models", "mountPath": "/models"}]
    script = init["args"][0]
    assert ("huggingface.co}/ggerganov/whisper.cpp/resolve/5359861c739e955e79d9a303bcbc70fb988958b1/"
            "ggml-large-v3.bin") in script
    assert "/models/snapshots/5359861c739e955e79d9a303bcbc70fb988958b1/ggml-large-v3.bin" in script  # the args' path
    assert "sha256sum -c -" in script or "sha1sum -c -" in script
    assert init["env"][0]["valueFrom"]["secretKeyRef"]["optional"] is True  # whisper.cpp is not gated
    kubernetes_validate.validate(deployment(k8s_objects(plan, catalog), "asr"),
                                 kubernetes_validate.latest_version(), strict=True)


def test_the_init_container_script_downloads_verifies_keeps_and_refetches_against_an_hf_server(tmp_path):
    """The generated sh script run for real (curl, sha256sum) against the HF-compatible test server."""
    import hashlib
    import os
    import subprocess

    from aima.export.k8s import fetch_script
    from aima.models.source import ModelFile, ModelSource
    from tests.harness.hfserver import HfServer, Repo
    from tests.models.conftest import BIG, COMMIT, CONFIG

    source = ModelSource("org/m", COMMIT, (ModelFile("sub/w.bin", len(BIG), hashlib.sha256(BIG).hexdigest()),
                                           ModelFile("config.json")), entry="sub/w.bin")
    target = tmp_path / "pod" / "models"
    script = fetch_script(source, str(tmp_path / "hub" / "models--org--m"), str(target))
    with HfServer({"org/m": Repo({"sub/w.bin": BIG, "config.json": CONFIG}, commit=COMMIT)}) as server:
        env = {**os.environ, "HF_ENDPOINT": server.endpoint}
        env.pop("HF_TOKEN", None)

        def run() -> subprocess.CompletedProcess:
            return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)

        assert run().returncode == 0
        snapshot = target / "snapshots" / COMMIT
        assert (snapshot / "sub" / "w.bin").read_bytes() == BIG and (snapshot / "config.json").read_bytes() == CONFIG
        sent = server.log.body_bytes
        assert run().returncode == 0 and server.log.body_bytes == sent  # a restarted init container keeps them
        (snapshot / "sub" / "w.bin").write_bytes(b"x" * len(BIG))  # full size, wrong bytes: cannot resume
        assert run().returncode == 0 and (snapshot / "sub" / "w.bin").read_bytes() == BIG
        (snapshot / "sub" / "w.bin").unlink()
        server.repos["org/m"].files["sub/w.bin"] = BIG[:-1] + b"?"  # the server serves other bytes
        failed = run()
        assert failed.returncode != 0 and "FAILED" in failed.stdout + failed.stderr
