"""`aima up` ends with the speech loop, and `aima verify` runs it again: the real CLI on each engine (the test
dockerd, the test Podman service), stub engines that speak the engines' real request formats (tests/harness/stubs.py)
and answer right or with garbage. The garbage table runs on Docker only: it judges HTTP answers of the stubs, which
do not depend on the engine that runs them.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.upkit import PROFILE_2X3090, aima, catalog, containers, stack

SEED_002 = "whisper.cpp/ggml/src/ggml-cuda/ggml-cuda.cu:502: GGML_ASSERT(ptr == (void *)((char *)(pool_addr) + " \
           "pool_used)) failed"


@pytest.fixture(autouse=True)
def _own_state(tmp_path, monkeypatch):
    """Each test keeps its verify results in its own state folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _name(stacks, hint: str) -> str:
    return stacks.track(f"vf-{hint}-{uuid.uuid4().hex[:6]}")


def test_up_ends_with_the_loop_then_status_and_verify_show_it(engine, engine_env, stub_image, stacks,
                                                              tmp_path):
    name = _name(stacks, "loop")
    images, stack_file = catalog(tmp_path, "images.yaml", stub_image), stack(tmp_path, name)
    args = ["--images", images, "--stack", stack_file]

    up = aima("up", *args)
    assert up.rc == 0, up.err
    assert "verifying" in up.out
    assert re.search(r"loop: ASR real-time factor [\d.]+ · LLM TTFT \d+ ms · LLM \d+ tok/s · TTS [\d.]+ s of audio/s",
                     up.out), up.out

    status = aima("status", "--stack", stack_file)
    assert status.rc == 0 and "last verify: passed 0 min ago" in status.out, status.out
    stored = aima("status", "--stack", stack_file, "--json").json()["verify"]
    assert stored["ok"] and set(stored["engines"]) == {"llm", "tts", "asr"}

    again = aima("verify", *args, "--json")
    assert again.rc == 0, again.err
    data = again.json()
    assert data["ok"] and {e: c["result"] for e, c in data["engines"].items()} == {
        "llm": "pass", "tts": "pass", "asr": "pass"}
    # the loop: the LLM's words went to the TTS engine, whose speech the ASR engine heard back
    said = "The weather is mild and calm today."
    assert said in data["engines"]["tts"]["sent"] and said in data["engines"]["asr"]["got"]
    assert data["engines"]["asr"]["figures"]["wer"] == 0.0
    assert set(data["figures"]) == {"asr.real_time_factor", "asr.wer", "llm.ttft_s", "llm.tokens_per_s",
                                    "tts.audio_s_per_s"}
    assert aima("status", "--stack", stack_file, "--json").json()["verify"]["at"] == data["at"]

    only = aima("verify", "asr", *args, "--json").json()
    assert list(only["engines"]) == ["asr"] and "reference recording" in only["engines"]["asr"]["sent"]

    assert aima("down", "--stack", stack_file).rc == 0
    assert (tmp_path / "state" / "aima" / "stacks" / name).exists() is False


# (role, STUB_ANSWER, the one-line reason up and verify give, engines in the stack)
GARBAGE = [
    ("llm", "empty", "llm (empty answer", ("llm",)),
    ("llm", "http500", "llm (HTTP 500 instead of an answer", ("llm",)),
    ("llm", "truncated", "llm (the connection broke before a whole answer came", ("llm",)),
    ("llm", "notjson", "llm (the answer is not an OpenAI chat completion", ("llm",)),
    ("tts", "wrong-words", "tts (its speech is not what it was asked to say: asr heard 'purple", ("tts", "asr")),
    ("tts", "empty", "tts (empty body: no audio at all", ("tts",)),
    ("tts", "truncated", "tts (truncated WAV: the header promises", ("tts",)),
    ("tts", "silence", "tts (silence:", ("tts",)),
    ("tts", "notaudio", "tts (not audio:", ("tts",)),
    ("asr", "wrong-words", "asr (heard 'purple monkeys juggle seven frozen pineapples' for 'The quick", ("asr",)),
    ("asr", "empty", "asr (heard nothing in", ("asr",)),
    ("asr", "hang", "asr (no answer within 1.5 s (asr on the CPU; capped by --timeout)", ("asr",)),
]


@pytest.mark.parametrize("role, answer, reason, enabled", GARBAGE, ids=[f"{g[0]}-{g[1]}" for g in GARBAGE])
def test_garbage_answer_is_caught_by_up_and_by_verify(docker_engine, docker_host_env, stub_image, stacks, tmp_path,
                                                      role, answer, reason, enabled):
    name = _name(stacks, f"{role}-{answer}"[:14])
    images = catalog(tmp_path, "images.yaml", stub_image)
    settings = {e: {"enabled": e in enabled} for e in ("asr", "llm", "tts")}
    settings[role]["env"] = {"STUB_ANSWER": answer}
    stack_file = stack(tmp_path, name, settings)
    args = ["--images", images, "--stack", stack_file]

    up = aima("up", *args, "--verify-timeout", "1.5")
    assert up.rc == 1
    assert f"stack {name} is up, but verify failed: {reason}" in up.err, up.err
    assert set(containers(docker_engine.client, name)) == set(enabled)  # up leaves the stack up

    again = aima("verify", *args, "--timeout", "1.5", "--json")
    assert again.rc == 1
    check = again.json()["engines"][role]
    assert not check["ok"] and check["sent"] and check["reason"].startswith(reason[len(role) + 2:])
    assert aima("status", "--stack", stack_file, "--json").json()["verify"]["ok"] is False


def test_request_that_crashes_the_engine_is_diagnosed_from_its_log(engine, engine_env, stub_image, stacks,
                                                                   tmp_path):
    name = _name(stacks, "crash")
    images = catalog(tmp_path, "images.yaml", stub_image)
    env = {"STUB_ANSWER": "crash", "STUB_REQUEST_CRASH_LINE": SEED_002}
    stack_file = stack(tmp_path, name, {"asr": {"env": env}, "llm": {"enabled": False}, "tts": {"enabled": False}})

    up = aima("up", "--images", images, "--stack", stack_file, "--json")
    assert up.rc == 1
    check = up.json()["verify"]["engines"]["asr"]
    assert check["result"] == "fail" and "connection broke" in check["reason"]
    assert "the engine died on the request: container exited with code 134" in check["cause"]
    assert "its log says: ggml's CUDA VMM memory pool was freed out of order" in check["cause"]
    assert "GGML_CUDA_NO_VMM" in check["cause"]  # the remedy that really exists (seed 002)


def test_gpu_engine_that_answers_on_the_cpu_is_a_placement_failure(engine, engine_env, stub_image, stacks,
                                                                   tmp_path, fake_nvml):
    name = _name(stacks, "place")
    images = catalog(tmp_path, "images-gpu.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"asr": {"candidate": "stub-asr-sm86"}, "tts": {"enabled": False}})
    args = ["--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file]
    up = aima("up", *args, "--no-verify")
    assert up.rc == 0, up.err
    found = containers(engine.client, name)

    # NVML lists only the LLM's processes on the GPUs: the ASR engine answers, but not on its GPU.
    llm_pids = engine.host_pids(found["llm"])
    profile = tmp_path / "nvml.yaml"
    profile.write_text(_nvml_profile([{"pid": pid, "used_mib": 900} for pid in llm_pids]))
    fake_nvml(profile)
    result = aima("verify", *args, "--json")
    assert result.rc == 1
    checks = result.json()["engines"]
    assert checks["llm"]["result"] == "pass"
    assert checks["asr"]["result"] == "placement"
    assert "it runs on the CPU, not on the GPU the plan gave it" in checks["asr"]["reason"]


def _nvml_profile(processes: list[dict]) -> str:
    import yaml

    data = yaml.safe_load(open(PROFILE_2X3090).read())
    data["gpus"][0]["processes"] = processes
    return yaml.safe_dump(data)


def test_endpoint_checks_an_engine_aima_did_not_start(engine, engine_env, stub_image, tmp_path):
    container = engine.client.containers.run(stub_image, detach=True, ports={"8080/tcp": ("127.0.0.1", None)},
                                                    labels={"aima.test.verify": "1"})
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        result = aima("verify", "--endpoint", f"llm=http://127.0.0.1:{port}", "--endpoint",
                      f"asr=http://127.0.0.1:{port}", "--json")
        assert result.rc == 0, result.err
        data = result.json()
        assert set(data["engines"]) == {"llm", "asr"} and data["ok"]
        assert data["engines"]["llm"]["url"] == f"http://127.0.0.1:{port}"
    finally:
        container.remove(force=True)
    refused = aima("verify", "--endpoint", "llm:8000")
    assert refused.rc == 2 and "expected ENGINE=URL" in refused.err
    refused = aima("verify", "--candidate", "llama-cpp-cpu")
    assert refused.rc == 2 and "--candidate only applies to --endpoint" in refused.err


def test_doctor_deep_verifies_the_running_stack(engine, engine_env, stub_image, stacks, tmp_path):
    name = _name(stacks, "doctor")
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"tts": {"env": {"STUB_ANSWER": "silence"}}})
    args = ["--images", images, "--stack", stack_file]
    before = aima("doctor", "--deep", *args, "--json").json()["checks"]
    assert {c["id"]: c["status"] for c in before if "verify" in c["id"]} == {"stack.verify": "warn"}

    assert aima("up", *args, "--no-verify").rc == 0
    after = {c["id"]: c for c in aima("doctor", "--deep", *args, "--json").json()["checks"] if "verify" in c["id"]}
    assert {i: c["status"] for i, c in after.items()} == {
        "engine.asr.verify": "ok", "engine.llm.verify": "ok", "engine.tts.verify": "fail"}
    assert "silence" in after["engine.tts.verify"]["summary"]
