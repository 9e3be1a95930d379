"""CPU instruction-set extensions: read from /proc/cpuinfo, carried by profiles and detect."""

from __future__ import annotations

from pathlib import Path

import pytest

from aima.errors import ConfigError
from aima.hardware.host import read_cpu_features, read_host
from aima.hardware.profiles import dump_profile, load_profile

HASWELL = ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v3\n"
           "flags\t\t: fpu vme de pse tsc msr pae sse sse2 ssse3 fma cx16 sse4_1 sse4_2 popcnt avx f16c "
           "avx2 bmi1 bmi2\n\nprocessor\t: 1\nflags\t\t: fpu avx\n")
SANDY_BRIDGE = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt avx\n"
NEOVERSE_V2 = ("processor\t: 0\nBogoMIPS\t: 2000.00\n"
               "Features\t: fp asimd evtstrm aes asimdhp asimddp sve sve2 i8mm bf16\n")


def _root(tmp_path: Path, cpuinfo: str) -> Path:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(cpuinfo)
    (tmp_path / "proc/meminfo").write_text("MemTotal: 16384000 kB\n")
    return tmp_path


@pytest.mark.parametrize(("cpuinfo", "features"), [
    (HASWELL, ("sse4_2", "avx", "avx2", "fma", "f16c")),
    (SANDY_BRIDGE, ("sse4_2", "avx")),
    (NEOVERSE_V2, ("asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2")),
], ids=["haswell-avx2-no-avx512", "sandy-bridge-no-avx2", "grace-arm64"])
def test_cpu_features_come_from_the_first_processor(tmp_path, cpuinfo, features):
    assert read_cpu_features(_root(tmp_path, cpuinfo)) == features
    assert read_host(tmp_path, "x86_64").cpu_features == features


def test_unreadable_cpuinfo_is_unknown_not_empty(tmp_path):
    assert read_cpu_features(tmp_path) is None


def test_this_machine_reports_its_features():
    # The build machines are x86_64 with AVX2 at least (GitHub runners and these hosts alike).
    features = read_cpu_features()
    assert features is not None and "sse4_2" in features


def test_a_profile_carries_cpu_features_through_save_and_load(tmp_path):
    path = tmp_path / "old-xeon.yaml"
    path.write_text("name: old-xeon\ncpu_arch: x86_64\nram_mib: 32768\ngpus: []\ncpu_features: [avx, sse4_2]\n")
    profile = load_profile(path)
    assert profile.hardware.cpu_features == ("sse4_2", "avx")
    again = tmp_path / "again.yaml"
    again.write_text(dump_profile(profile.hardware))
    assert load_profile(again).hardware.cpu_features == ("sse4_2", "avx")


def test_a_profile_without_cpu_features_leaves_them_unknown(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("cpu_arch: x86_64\nram_mib: 32768\ngpus: []\n")
    assert load_profile(path).hardware.cpu_features is None


def test_an_unknown_cpu_feature_names_file_line_and_key(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("cpu_arch: x86_64\nram_mib: 32768\ngpus: []\ncpu_features: [avx3]\n")
    with pytest.raises(ConfigError, match=r"p.yaml:4: cpu_features: unknown CPU feature 'avx3'"):
        load_profile(path)
