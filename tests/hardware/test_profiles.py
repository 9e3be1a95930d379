"""Hardware profiles: all shipped ones load; bad ones fail with file:line: key."""

from __future__ import annotations

import pytest

from aima.errors import AimaError, ConfigError
from aima.hardware.model import Capability
from aima.hardware.profiles import all_profiles, find_profile, load_profile
from tests.conftest import PROFILES

REQUIRED = ["gtx-1080", "rtx-3080", "rtx-5070-ti", "gb10", "rtx-4090", "a100", "h100", "v100", "2x-rtx-3090",
            "jetson-orin", "jetson-thor", "cpu-x86_64", "cpu-aarch64"]


def test_every_required_machine_is_shipped_and_loads():
    names = {p.hardware.name for p in all_profiles(PROFILES)}
    assert set(REQUIRED) <= names


@pytest.mark.parametrize("name", REQUIRED)
def test_profile_name_matches_file(name):
    assert load_profile(PROFILES / f"{name}.yaml").hardware.name == name


def test_seed_machines_carry_the_seed_numbers():
    assert load_profile(PROFILES / "rtx-5070-ti.yaml").hardware.gpus[0].compute_capability == Capability.parse("12.0")
    assert load_profile(PROFILES / "gtx-1080.yaml").hardware.gpus[0].compute_capability == Capability.parse("6.1")
    gb10 = load_profile(PROFILES / "gb10.yaml").hardware
    assert gb10.cpu_arch == "aarch64" and gb10.gpus[0].unified_memory
    assert gb10.gpus[0].compute_capability == Capability(12, 1)


GOOD = (PROFILES / "rtx-4090.yaml").read_text()


@pytest.mark.parametrize(
    ("mutate", "marker", "key", "words"),
    [
        (lambda t: t.replace("cpu_cores: 16", "cpu_cores: 16\ncolour: red"), "colour", "colour", "unknown key"),
        (lambda t: t.replace("compute_capability: '8.9'", "compute_capability: 'sm_89'"), "sm_89",
         "gpus[0].compute_capability", "8.6"),
        (lambda t: t.replace("compute_capability: '8.9'", "compute_capability: '42.0'"), "42.0",
         "gpus[0].compute_capability", "no NVIDIA GPU"),
        (lambda t: t.replace("memory_mib: 24564", "memory_mib: lots"), "lots", "gpus[0].memory_mib", "integer"),
        (lambda t: t.replace("ram_mib: 65536", "ram_mib: -1"), "ram_mib: -1", "ram_mib", "at least"),
        (lambda t: t.replace("cpu_arch: x86_64", "cpu_arch: sparc"), "sparc", "cpu_arch", "one of"),
        (lambda t: t.replace("driver_version: 575.64.03", "driver_version: latest"), "latest", "driver_version",
         "driver version"),
        (lambda t: t.replace("  unified_memory: false", "  unified_memory: false\n  memory_free_mib: 99999"), "99999",
         "gpus[0].memory_free_mib", "exceeds"),
    ],
    ids=["unknown-key", "bad-cc-spelling", "impossible-cc", "memory-not-int", "negative-ram", "bad-arch",
         "bad-driver", "free-over-total"],
)
def test_bad_profile_names_file_line_and_key(tmp_path, mutate, marker, key, words):
    path = tmp_path / "bad.yaml"
    text = mutate(GOOD)
    path.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if marker in row)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    err = info.value
    assert (err.path, err.key) == (str(path), key), str(err)
    assert err.line == line, str(err)
    assert words in str(err)


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ngpus: [\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+: not valid YAML"):
        load_profile(path)


def test_gpu_machine_whose_driver_nvml_cannot_name_still_loads(tmp_path):
    # Issue 19 item 5: Jetson's NVML answers "N/A" for the driver; `detect --save` writes null and
    # `--hardware` must accept what it wrote (the resolver lets unknown values pass, as the toolkit does).
    path = tmp_path / "nodriver.yaml"
    path.write_text(GOOD.replace("driver_version: 575.64.03\n", "driver_version: null\n"))
    assert load_profile(path).hardware.driver_version is None


def test_find_profile_by_name_or_unknown_name():
    assert find_profile("gb10").name == "gb10.yaml"
    with pytest.raises(AimaError, match="no hardware profile 'gb11'"):
        find_profile("gb11")
