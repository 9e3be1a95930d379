"""Limits fitted to the host: the planner never hands Docker more CPUs or memory than the machine has."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from aima.catalog.load import load_catalog
from aima.hardware.profiles import load_profile
from aima.hostfit import Demand, fit_to_host
from aima.plan import make_plan
from aima.stack import Stack
from tests.conftest import PROFILES, REPO

CATALOG = load_catalog(include_user_config=False)


def small_host(cores: int, ram_mib: int, profile: str = "cpu-x86_64"):
    hw = load_profile(PROFILES / f"{profile}.yaml").hardware
    return dataclasses.replace(hw, cpu_cores=cores, ram_mib=ram_mib, name=f"{cores}-core")


@pytest.mark.parametrize(
    ("demands", "cores", "ram", "cpus", "memory", "refused"),
    [
        ([Demand("llm", 4, 8192, 2304)], 2, 32768, {"llm": 2.0}, {"llm": 8192}, []),
        ([Demand("asr", 2, 4096, 500), Demand("llm", 4, 8192, 2304), Demand("tts", 2, 4096, 2048)], 2, 32768,
         {"asr": 0.66, "llm": 0.66, "tts": 0.66}, {"asr": 4096, "llm": 8192, "tts": 4096}, []),
        ([Demand("asr", 2, 4096, 500), Demand("llm", 4, 8192, 2304)], 16, 8192,
         {"asr": 2, "llm": 4}, {"asr": 2154, "llm": 5013}, []),
        ([Demand("asr", 2, 4096, 500), Demand("llm", 4, 8192, 6144)], 16, 6144, {"asr": 2}, {"asr": 4096}, ["llm"]),
        ([Demand("big", 512, None), Demand("small", 0.5, None)], 2, 8192, {"big": 1.6, "small": 0.4}, {"big": None,
                                                                                              "small": None}, []),
        ([Demand(str(i), 1, None) for i in range(12)], 1, 8192, {}, {}, [str(i) for i in range(12)]),
        ([Demand("llm", None, None)], 2, 4096, {"llm": None}, {"llm": None}, []),
    ],
    ids=["one-engine-over-cores", "three-engines-share-two-cores", "memory-shared-above-model-needs",
         "model-cannot-fit", "one-greedy-engine-does-not-starve-the-others", "too-many-engines-for-one-cpu",
         "unlimited"],
)
def test_fit_to_host(demands, cores, ram, cpus, memory, refused):
    fit = fit_to_host(demands, cores, ram)
    assert {e: g.cpus for e, g in fit.grants.items()} == cpus
    assert {e: g.memory_mib for e, g in fit.grants.items()} == memory
    assert [e for e, _ in fit.refusals] == refused
    for grant in fit.grants.values():
        if grant.cpus is not None:
            assert grant.cpus <= cores and grant.threads == max(1, int(grant.cpus))
    limited = [g.cpus for g in fit.grants.values() if g.cpus is not None]
    assert sum(limited) <= cores + 1e-9
    mem = [g.memory_mib for g in fit.grants.values() if g.memory_mib is not None]
    assert sum(mem) <= ram


def test_reductions_say_what_and_why():
    fit = fit_to_host([Demand("llm", 4, 8192, 2304)], 2, 32768)
    assert fit.grants["llm"].reductions == ("CPUs 4 -> 2: this host has 2 CPUs",)


def test_two_core_host_gets_no_engine_with_more_than_two_cpus_and_threads_follow():
    plan = make_plan(small_host(2, 32768), CATALOG, Stack())
    assert plan.ok, plan.refusals
    assert sum(e.limits.cpus for e in plan.engines) <= 2
    llm = plan.engine("llm")
    assert llm.limits.cpus <= 2
    threads = llm.command[llm.command.index("-t") + 1]
    assert threads == str(max(1, int(llm.limits.cpus)))
    assert any("llm: CPUs 4 ->" in w for w in plan.warnings)


def test_host_too_small_for_the_models_is_refused_by_plan_and_doctor(tmp_path):
    profile = tmp_path / "tiny.yaml"
    text = (PROFILES / "cpu-x86_64.yaml").read_text()
    text = "\n".join("ram_mib: 3072" if line.startswith("ram_mib:") else "cpu_cores: 2" if
                     line.startswith("cpu_cores:") else line for line in text.splitlines()
                     if not line.startswith(("expect", "  asr:", "  llm:", "  tts:"))) + "\n"
    profile.write_text(text)
    plan = make_plan(load_profile(profile).hardware, CATALOG, Stack())
    refused = {r.engine: r.reason for r in plan.refusals}
    assert "does not fit this host" in refused.get("llm", ""), refused
    assert "3072 MiB" in refused["llm"]
    proc = subprocess.run([sys.executable, "-m", "aima", "plan", "--hardware", str(profile), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode != 0
    assert "does not fit this host" in json.loads(proc.stdout)["engines"]["llm"]["refused"]
