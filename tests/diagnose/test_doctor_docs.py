"""docs/doctor.md documents every check id doctor can produce."""

from __future__ import annotations

import re

from aima.diagnose.check_containers import logfile_checks
from aima.diagnose.checks import run_checks
from aima.diagnose.doctor import DoctorRequest, run_doctor
from aima.engine.model import Container, PortBinding
from tests.conftest import PROFILES, REPO
from tests.diagnose.test_doctor_run import FakeDocker, _adapters

DOC = REPO / "docs" / "doctor.md"
_PATTERNS = [(r"^gpu\.\d+\.", "gpu.N."), (r"^engine\.(asr|llm|tts)\.", "engine.E."),
             (r"^container\.[^.]+\.", "container.NAME."), (r"^logs\.(?!read$).+$", "logs.SIGNATURE")]


def _generic(check_id: str) -> str:
    for pattern, replacement in _PATTERNS:
        check_id = re.sub(pattern, replacement, check_id)
    return check_id


def test_every_check_id_is_documented(fake_nvml):
    running = Container(id="c1", name="aima-aima-llm", image="stub", labels={"aima.stack": "aima",
                             "aima.engine": "llm"}, state="running", ports=(PortBinding("127.0.0.1", 8000, 8080),))
    ids = {r.id for r in run_doctor(DoctorRequest(deep=True), _adapters(FakeDocker(found=[running])))[0]}
    module = fake_nvml(PROFILES / "gb10.yaml")
    ids |= {r.id for r in run_doctor(DoctorRequest(deep=True), _adapters(FakeDocker(), nvml=lambda: module))[0]}
    ids |= {r.id for r in run_checks([("logs", lambda: logfile_checks("x.log", "CUDA out of memory\n", "llm"))])}
    ids.add("gpu.checks")
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))
    generic = {_generic(i) for i in ids} - {"gpu.checks"}
    assert generic <= documented, sorted(generic - documented)
    assert "GROUP.checks" in documented
    for expected in ("engine.E.gpu-run", "engine.E.trial", "container.NAME.health", "gpu.N.memory"):
        assert expected in generic  # the scenarios above really reach the deep, container and GPU checks
