"""Every hardware profile x engine, planned and compared with the profiles' `expect:` blocks (pure, no Docker)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aima.catalog.model import Catalog
from aima.hardware.profiles import Expectation, Profile
from aima.plan import PlanOptions, make_plan
from aima.resolve import Rejection
from aima.stack import Stack

REFUSED = "refused"
REGENERATE = "aima matrix --format markdown -o docs/compatibility.md"


@dataclass(frozen=True)
class Cell:
    """One (profile, engine) outcome: the chosen candidate or a refusal, and what the profile expects."""

    profile: str
    engine: str
    candidate: str | None  # None: refused
    image: str | None
    gpu: bool
    devices: tuple[str, ...]
    reason: str
    warnings: tuple[str, ...] = ()
    expectation: Expectation | None = None  # None: the profile states no expectation
    expected_known: bool = True  # False: the expectation names no candidate of the catalogue (a typo?)
    expected_lost: str | None = None  # why the expected candidate was rejected here, when it was
    model: str | None = None  # the planned model's name
    mode: str | None = None  # native | ptx-jit | forward-compat | ptx-jit+forward-compat | cpu; None when refused

    @property
    def expected(self) -> str | None:
        """The expected candidate id or "refused"; None when the profile states no expectation."""
        return self.expectation.candidate if self.expectation else None

    @property
    def outcome(self) -> str:
        """The candidate id, or "refused"."""
        return self.candidate or REFUSED

    @property
    def checked(self) -> bool:
        """True when the profile states an expectation for this engine."""
        return self.expected is not None

    @property
    def mismatches(self) -> tuple[str, ...]:
        """Each pinned field that differs: 'candidate', 'devices', 'model', 'mode' (issue 19 item 7)."""
        e = self.expectation
        if e is None:
            return ()
        if e.candidate != self.outcome:
            return ("candidate",)
        got = {"devices": self.devices if self.candidate else None, "model": self.model, "mode": self.mode}
        return tuple(k for k in ("devices", "model", "mode") if getattr(e, k) is not None and getattr(e, k) != got[k])

    @property
    def ok(self) -> bool:
        """True unless the outcome differs from the expectation in any pinned field."""
        return not self.mismatches

    @property
    def got(self) -> str:
        """The outcome with what an expectation can pin: 'llama-cpp-cuda (devices=1, model=..., mode=native)'."""
        if self.candidate is None:
            return REFUSED
        devices = ",".join(self.devices) if self.devices else "cpu"
        parts = [f"devices={devices}"] + [f"{k}={v}" for k, v in (("model", self.model), ("mode", self.mode)) if v]
        return f"{self.candidate} ({', '.join(parts)})"

    @property
    def failure(self) -> str | None:
        """Why this cell fails, in one line; None when it passes."""
        if self.ok:
            return None
        expected = str(self.expectation) if self.expected_known else \
            f"{self.expected} (not a candidate in the catalogue)"
        got = self.outcome if "candidate" in self.mismatches else self.got
        line = f"{self.profile}/{self.engine}: expected {expected}, got {got}: {self.reason}"
        return line + (f"; {self.expected} lost: {self.expected_lost}" if self.expected_lost else "")

    @property
    def placement(self) -> str:
        """'GPU 0', 'GPU 0,1', 'CPU' or '-' (refused)."""
        if self.candidate is None:
            return "-"
        return f"GPU {','.join(self.devices)}" if self.gpu else "CPU"


@dataclass(frozen=True)
class MatrixResult:
    """The whole matrix: cells in profile order, then engine order, plus expectations naming unknown engines."""

    profiles: tuple[Profile, ...]
    engines: tuple[str, ...]
    cells: tuple[Cell, ...]
    stray: tuple[str, ...] = ()  # expectations for engines the stack does not run: each one is a failure

    @property
    def failures(self) -> tuple[str, ...]:
        """Every mismatch, one line each."""
        return tuple(c.failure for c in self.cells if c.failure) + self.stray

    @property
    def ok(self) -> bool:
        """True when every expectation holds."""
        return not self.failures

    def cell(self, profile: str, engine: str) -> Cell:
        """One cell by profile name and engine (every profile has one per engine); KeyError for others."""
        found = next((c for c in self.cells if c.profile == profile and c.engine == engine), None)
        if found is None:
            raise KeyError(f"no cell for profile {profile!r} and engine {engine!r}")
        return found


def profile_name(profile: Profile) -> str:
    """The profile's name, else its file name without .yaml."""
    return profile.hardware.name or Path(profile.path).stem


def run_matrix(profiles: Iterable[Profile], catalog: Catalog, stack: Stack) -> MatrixResult:
    """Plan the stack on every profile and compare each engine's outcome with the profile's expectation."""
    profiles = tuple(profiles)
    engines = tuple(e.name for e in stack.enabled)
    cells: list[Cell] = []
    stray: list[str] = []
    known = {c.id for e in catalog.engines for c in e.candidates} | {REFUSED}
    for profile in profiles:
        name = profile_name(profile)
        # No cached inspections: the matrix (and the doc made from it) must be the same on every machine.
        plan = make_plan(profile.hardware, catalog, stack, PlanOptions())
        for engine in engines:
            expectation = profile.expect.get(engine)
            expected = expectation.candidate if expectation else None
            named = expected is None or expected in known
            planned = plan.engine(engine)
            if planned is not None:
                lost = _lost(planned.rejected, expected) if expected != planned.candidate else None
                cells.append(Cell(name, engine, planned.candidate, planned.image, planned.gpu, planned.devices,
                                  planned.reason, planned.warnings, expectation, named, lost,
                                  planned.model.name if planned.model else None, planned.mode))
                continue
            refusal = next((r for r in plan.refusals if r.engine == engine), None)
            reason = refusal.reason if refusal else "the planner returned no plan and no refusal for it"
            lost = _lost(refusal.rejected if refusal else (), expected)
            cells.append(Cell(name, engine, None, None, False, (), reason, (), expectation, named, lost))
        stray += [f"{name}: expects {value} for engine {engine!r}, which the stack does not run "
                  f"(it runs: {', '.join(engines) or 'nothing'})"
                  for engine, value in profile.expect.items() if engine not in engines]
    return MatrixResult(profiles, engines, tuple(cells), tuple(stray))


def _lost(rejected: Iterable[Rejection], expected: str | None) -> str | None:
    return next((r.reason for r in rejected if r.candidate == expected), None)


# --- output ----------------------------------------------------------------------------------------------

def to_dict(result: MatrixResult) -> dict:
    """The JSON form: every cell with outcome, expectation and reason."""
    return {
        "ok": result.ok,
        "profiles": [profile_name(p) for p in result.profiles],
        "engines": list(result.engines),
        "failures": list(result.failures),
        "cells": [{
            "profile": c.profile, "engine": c.engine, "outcome": c.outcome, "candidate": c.candidate,
            "image": c.image, "gpu": c.gpu, "devices": list(c.devices), "model": c.model, "mode": c.mode,
            "expected": c.expected, "expectation": _expectation_dict(c.expectation), "ok": c.ok,
            "reason": c.reason, "warnings": list(c.warnings),
        } for c in result.cells],
    }


def _expectation_dict(e: Expectation | None) -> dict | None:
    if e is None:
        return None
    return {"candidate": e.candidate, "devices": None if e.devices is None else list(e.devices), "model": e.model,
            "mode": e.mode}


def to_junit(result: MatrixResult) -> str:
    """JUnit XML: one testsuite per profile, one testcase per engine; a mismatch is a <failure>."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="aima matrix")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for profile in result.profiles:
        name = profile_name(profile)
        cells = [c for c in result.cells if c.profile == name]
        stray = [s for s in result.stray if s.startswith(f"{name}: ")]
        suite = ET.SubElement(root, "testsuite", name=f"matrix.{name}")
        counts = {"tests": len(cells) + len(stray), "failures": sum(not c.ok for c in cells) + len(stray),
                  "skipped": sum(not c.checked for c in cells)}
        for cell in cells:
            case = ET.SubElement(suite, "testcase", classname=f"matrix.{name}", name=cell.engine, time="0")
            if cell.failure:
                failure = ET.SubElement(case, "failure", message=cell.failure, type="ExpectationMismatch")
                failure.text = _junit_details(cell)
            elif not cell.checked:
                ET.SubElement(case, "skipped", message=f"profile {name} has no expect: entry for {cell.engine}")
            out = ET.SubElement(case, "system-out")
            out.text = f"{cell.outcome} ({cell.placement}): {cell.reason}"
        for line in stray:
            case = ET.SubElement(suite, "testcase", classname=f"matrix.{name}", name="expect", time="0")
            ET.SubElement(case, "failure", message=line, type="UnknownEngine").text = line
        suite.attrib.update({k: str(v) for k, v in counts.items()}, errors="0", time="0")
        for key in totals:
            totals[key] += counts[key]
    root.attrib.update({k: str(v) for k, v in totals.items()}, errors="0", time="0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_details(cell: Cell) -> str:
    e = cell.expectation
    pinned = e is not None and (e.devices, e.model, e.mode) != (None, None, None)
    lines = [f"expected: {e}", f"got: {cell.got if pinned else cell.outcome} ({cell.placement})"]
    if cell.expected_lost:
        lines.append(f"{cell.expected} lost: {cell.expected_lost}")
    if cell.image:
        lines.append(f"image: {cell.image}")
    lines.append(f"reason: {cell.reason}")
    lines += [f"warning: {w}" for w in cell.warnings]
    lines.append("If the new outcome is right, update the profile's expect: block and regenerate the doc with: "
                 + REGENERATE)
    return "\n".join(lines)


def table_rows(result: MatrixResult) -> list[list[str]]:
    """Rows for the terminal table: profile, then one 'candidate (GPU 0)' column per engine; mismatches marked."""
    rows = []
    for profile in result.profiles:
        name = profile_name(profile)
        row = [name]
        for engine in result.engines:
            cell = result.cell(name, engine)
            text = f"{cell.outcome} ({cell.placement})" if cell.candidate else REFUSED
            if not cell.ok:
                text = f"FAIL {text}, expected {cell.expectation}"
            elif not cell.checked:
                text += " - no expectation"
            row.append(text)
        rows.append(row)
    return rows


def to_markdown(result: MatrixResult) -> str:
    """docs/compatibility.md: a profile x engine table, then every cell's reason."""
    md = _md_escape
    lines = [
        "# Compatibility matrix",
        "",
        f"<!-- Generated by `{REGENERATE}` from profiles/*.yaml, images.yaml and the built-in stack. "
        "Do not edit by hand: a test fails when it is stale. -->",
        "",
        "What `aima plan --hardware PROFILE` chooses for every shipped hardware profile, with the built-in "
        "stack and the shipped catalogue (catalogue archs only, no cached `aima inspect` results). "
        "`aima matrix` checks each cell against the profile's `expect:` block; CI runs it with "
        "`--format junit`.",
        "",
        "| profile | machine | " + " | ".join(result.engines) + " |",
        "|---|---|" + "---|" * len(result.engines),
    ]
    for profile in result.profiles:
        name = profile_name(profile)
        row = [f"[{name}](#{_anchor(name)})", md(_machine(profile))]
        for engine in result.engines:
            cell = result.cell(name, engine)
            row.append(f"`{cell.candidate}` ({cell.placement})" if cell.candidate else "**refused**")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "GPU *n*: runs on that GPU index; CPU: runs on the CPU; refused: no candidate fits.", "",
              "## Reasons", ""]
    for profile in result.profiles:
        name = profile_name(profile)
        lines += [f'### <a id="{_anchor(name)}"></a>{name}', ""]
        if profile.hardware.description:
            lines += [md(profile.hardware.description), ""]
        for engine in result.engines:
            cell = result.cell(name, engine)
            head = (f"`{cell.candidate}` on {cell.placement} (`{cell.image}`)" if cell.candidate
                    else "**refused**")
            lines.append(f"- **{engine}**: {head}: {md(cell.reason)}")
            lines += [f"  - warning: {md(w)}" for w in cell.warnings]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _machine(profile: Profile) -> str:
    hw = profile.hardware
    gpus = ", ".join(f"{g.name} ({g.compute_capability})" for g in hw.gpus) or "no NVIDIA GPU"
    driver = f", CUDA {hw.cuda_driver_version}" if hw.cuda_driver_version else ""
    return f"{gpus}{driver}, {hw.cpu_arch}"


def _anchor(name: str) -> str:
    return "profile-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())


def _md_escape(text: str) -> str:
    # '|' would end a table cell, '<' can open HTML and '*' emphasis; '_' is safe inside words (sm_86) in GFM.
    return text.replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*")
