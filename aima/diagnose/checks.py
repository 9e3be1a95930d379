"""The doctor's check framework: independent checks, each ok / warn / fail with a remedy, run so none stops another.

A check is a name and a function that returns an ``Outcome``. ``run_checks`` calls each one on its own:
an ``AimaError`` becomes a fail with its message and hint, any other exception a fail that names it, so one
broken check (or one broken adapter under it) never hides the others. Producers of checks (a group that
needs the GPU list before it knows its checks) are run the same way: if producing fails, that group gets one
fail and the other groups still run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aima.plan_types import EnginePlan, Plan

OK, WARN, FAIL = "ok", "warn", "fail"
STATUSES = (OK, WARN, FAIL)
GROUPS = ("host", "gpu", "docker", "engines", "containers", "logs")
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Outcome:
    """What one check found: its status, one line, what to do, and values for --json."""

    status: str
    summary: str
    remedy: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")


def ok(summary: str, **details: Any) -> Outcome:
    """A passed check."""
    return Outcome(OK, summary, None, details)


def warn(summary: str, remedy: str | None = None, **details: Any) -> Outcome:
    """Worth knowing; does not make doctor exit non-zero."""
    return Outcome(WARN, summary, remedy, details)


def fail(summary: str, remedy: str | None = None, **details: Any) -> Outcome:
    """Something `aima up` will trip over."""
    return Outcome(FAIL, summary, remedy, details)


@dataclass(frozen=True)
class Check:
    """One named check: ``id`` is stable (docs/doctor.md lists them), ``run`` does the work when called."""

    id: str
    group: str
    run: Callable[..., Outcome]  # called with no arguments; `lambda g=gpu: ...` binds a loop's value


@dataclass(frozen=True)
class CheckResult:
    """A check's outcome under its id and group: what `aima doctor` prints and --json emits."""

    id: str
    group: str
    status: str
    summary: str
    remedy: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: {id, group, status, summary, remedy, details}."""
        return {"id": self.id, "group": self.group, "status": self.status, "summary": self.summary,
                "remedy": self.remedy, "details": self.details}


class NotChecked(Exception):
    """Raised by a check that cannot run because something it needs is missing; it becomes a warn, not a fail."""

    def __init__(self, reason: str, remedy: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remedy = remedy


def _failure(exc: BaseException) -> Outcome:
    from aima.errors import AimaError

    if isinstance(exc, NotChecked):
        # The cause is reported once by the check it belongs to; dependants say so without failing again.
        return warn(f"not checked: {exc.reason}", exc.remedy)
    if isinstance(exc, AimaError):
        return fail(str(exc), exc.hint)
    import traceback

    # Not a user error: a bug in the check or an adapter surprise. Say so plainly; the traceback goes to --json.
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return fail(f"the check itself failed: {type(exc).__name__}: {exc}",
                "this is a bug in aima doctor; the other checks are unaffected (`aima doctor --json` shows the "
                "traceback in this check's details: please report it)", exception=type(exc).__name__,
                traceback=trace[-4000:])


def run_one(check: Check) -> CheckResult:
    """Run one check; any exception it raises becomes a fail result."""
    try:
        outcome = check.run()
        if not isinstance(outcome, Outcome):
            raise TypeError(f"check {check.id} returned {type(outcome).__name__}, not an Outcome")
    except Exception as exc:  # noqa: BLE001 - independence: one broken check must not stop the others
        outcome = _failure(exc)
    return CheckResult(check.id, check.group, outcome.status, outcome.summary, outcome.remedy, dict(outcome.details))


def run_checks(producers: Iterable[tuple[str, Callable[[], Iterable[Check]]]]) -> list[CheckResult]:
    """Run every check of every (group, producer); a producer that raises costs its group one fail result."""
    results: list[CheckResult] = []
    for group, produce in producers:
        results.extend(_run_group(group, produce))
    return results


def _run_group(group: str, produce: Callable[[], Iterable[Check]]) -> Iterator[CheckResult]:
    try:
        for check in produce():
            yield run_one(check)
    except Exception as exc:  # noqa: BLE001 - a group that cannot even list its checks still reports why
        outcome = _failure(exc)
        yield CheckResult(f"{group}.checks", group, outcome.status, outcome.summary, outcome.remedy,
                          dict(outcome.details))


def counts(results: Iterable[CheckResult]) -> dict[str, int]:
    """How many results have each status."""
    found = dict.fromkeys(STATUSES, 0)
    for r in results:
        found[r.status] += 1
    return found


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 when nothing failed, 1 when something did."""
    return 1 if any(r.status == FAIL for r in results) else 0


# --- plan facts more than one check group reads ------------------------------------------------------------

def needs_gpu(plan: Plan) -> bool:
    """True when some engine of the plan runs on a GPU."""
    return any(e.gpu for e in plan.engines)


def model_path(e: EnginePlan) -> str | None:
    """The host path of an engine's model file or folder, or None when it needs none."""
    if e.model is None or not e.mounts:
        return None
    source = getattr(e.model, "source", None)
    if source is not None:  # in the hub cache: snapshots/COMMIT/FILE of the repo folder
        from aima.models.layout import host_path

        return str(host_path(source, Path(e.mounts[0].source).parent))
    if not e.model.file:
        return None
    return str(Path(e.mounts[0].source) / e.model.file)
