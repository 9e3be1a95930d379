"""Carry out `up`: converge containers on the plan, start engines in parallel, wait, fall back, undo on Ctrl-C."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aima.engine.labels import LABEL_CLAIM, LABEL_STACK
from aima.engine.model import Container, ContainerEngine, DaemonUnreachable
from aima.engine.spec import container_spec
from aima.errors import AimaError
from aima.knowledge import KnowledgeBase, load_knowledge
from aima.launch.converge import (
    CREATE,
    NOOP,
    RECREATE,
    REMOVE,
    START,
    Action,
    convergence_plan,
    next_fallback,
    ports_to_check,
)
from aima.launch.gpucheck import check_gpu_arrived
from aima.launch.images import check_pulled, ensure_images
from aima.launch.logwatch import LogWatcher
from aima.launch.ownership import Owners, look_alike_note
from aima.launch.preflight import preflight
from aima.launch.progress import QuietReporter, Reporter
from aima.launch.reach import HttpProbe, ProbeResult, port_error
from aima.launch.wait import (
    CANCELLED,
    CRASHED,
    EXITED,
    FAILED,
    Outcome,
    Probe,
    Waiting,
    wait_for_engine,
)
from aima.plan_types import EnginePlan, Plan


@dataclass(frozen=True)
class UpOptions:
    """The user's choices for one `up`."""

    allow_cpu: bool = False  # a GPU engine may fall back to a CPU candidate
    timeout_s: float | None = None  # caps every engine's startup allowance: one deadline for the whole run
    build: bool = False  # build (and prove) the images aima builds from recipes when they are not here
    down_command: str = "aima down"  # what removes the stack, as the user would type it (named after Ctrl-C)


@dataclass
class EngineReport:
    """What happened to one engine during `up`."""

    engine: str
    action: str  # create | recreate | start | noop
    reason: str
    target: EnginePlan  # what runs (or last tried)
    container_id: str | None = None
    outcome: Outcome | None = None
    fell_back: list[tuple[str, str]] = field(default_factory=list)  # (candidate that failed, why), in order
    no_fallback: str = ""  # why `up` did not fall back after a failure that called for it

    @property
    def ok(self) -> bool:
        """True when the engine is ready."""
        return self.outcome is not None and self.outcome.ok


@dataclass
class UpResult:
    """The whole run: every engine's report and the containers removed because the plan dropped them."""

    stack: str
    network: str
    engines: list[EngineReport]
    removed: list[str] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)  # after a failed run: the stack's (container, state)

    @property
    def ok(self) -> bool:
        """True when every engine is ready."""
        return all(e.ok for e in self.engines)


class _Journal:
    """Containers this run created and removed, so that Ctrl-C can undo exactly its own work."""

    def __init__(self) -> None:
        self.created: dict[str, str] = {}  # id -> name
        self.replaced: list[str] = []  # names of containers that existed before and were removed
        self._lock = threading.Lock()

    def add(self, container_id: str, name: str) -> None:
        with self._lock:
            self.created[container_id] = name

    def gone(self, container_id: str, name: str) -> None:
        with self._lock:
            if self.created.pop(container_id, None) is None:
                self.replaced.append(name)


def run_up(plan: Plan, docker: ContainerEngine, options: UpOptions = UpOptions(), reporter: Reporter | None = None,
           knowledge: KnowledgeBase | None = None, clock: Callable[[], float] = time.monotonic,
           port_check: Callable[[str, int], str | None] = port_error,
           probe_for: Callable[[str], Probe] = HttpProbe, builds: Any = None,
           owners: Owners | None = None) -> UpResult:
    """Bring the stack to the plan and wait for every engine; Ctrl-C removes what this run created.

    With ``owners`` (the CLI always passes it) only containers and networks recorded as created by aima are
    replaced or removed; look-alikes that merely carry the stack's labels are reported and left alone.
    """
    if not plan.ok:
        raise AimaError("the plan refuses " + "; ".join(f"{r.engine}: {r.reason}" for r in plan.refusals)
                        + "; nothing was started", hint="`aima plan` shows every candidate and why it lost")
    run = _Run(plan, docker, options, reporter or QuietReporter(), _Preload(knowledge), clock, probe_for, owners)
    run.builds = builds
    with _counting_ctrl_c():
        try:
            return run.execute(port_check)
        except KeyboardInterrupt:
            raise run.undo() from None


CLEANING_UP = "cleaning up, press Ctrl-C again to abandon"


@contextmanager
def _counting_ctrl_c() -> Iterator[None]:
    """SIGINT while `up` runs: the first interrupts (and undo starts), the second only says that cleanup goes on,
    the third interrupts the cleanup. `timeout -s INT` and an impatient user send two a moment apart; a cleanup
    that the second one broke left the whole stack running."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) in (
            signal.SIG_IGN, None):
        yield  # handlers belong to the main thread; an embedding caller, or `nohup` ignoring SIGINT, keeps its own
        return
    presses = 0

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal presses
        presses += 1
        if presses == 2:
            # os.write, not print: a handler that prints while the interrupted code prints breaks the stream.
            os.write(2, f"{CLEANING_UP}\n".encode())
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Preload:
    """Loads the knowledge base (and imports httpx) in the background while Docker creates the containers."""

    def __init__(self, given: KnowledgeBase | None) -> None:
        self._kb = given
        self._thread = None
        if given is None:
            self._thread = threading.Thread(target=self._load, name="aima-preload", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        try:
            import httpx  # noqa: F401 - the probes need it a moment later

            self._kb = load_knowledge()
        except Exception:  # noqa: BLE001 - get() loads again in the caller's thread, where the error is reported
            pass

    def get(self) -> KnowledgeBase:
        if self._thread is not None:
            self._thread.join()
        if self._kb is None:  # the background load failed: load here, so its error surfaces
            self._kb = load_knowledge()
        return self._kb


class _Run:
    def __init__(self, plan: Plan, docker: ContainerEngine, options: UpOptions, reporter: Reporter,
                 knowledge: _Preload, clock: Callable[[], float], probe_for: Callable[[str], Probe],
                 owners: Owners | None = None) -> None:
        self.plan, self.docker, self.options, self.reporter = plan, docker, options, reporter
        self.owners = owners
        self.knowledge, self.clock, self.probe_for = knowledge, clock, probe_for
        self.journal = _Journal()
        self.cancel = threading.Event()
        self.watchers: set[LogWatcher] = set()
        self.workers: list[threading.Event] = []  # one per engine thread, set when it has finished
        self.network_created = ""  # the id of the network this run created
        self.deadline = math.inf
        self.observed: list[Container] = []
        self.step = "starting"  # for the message when the daemon stops answering
        self.gone: DaemonUnreachable | None = None
        self.builds: Any = None  # the display for image builds (aima.build.builder.BuildDisplay)

    # --- the steps -------------------------------------------------------------------------------------------

    def execute(self, port_check: Callable[[str, int], str | None]) -> UpResult:
        self.docker.ping()  # a daemon that never answers is the plain "cannot connect" error
        try:
            result = self._converge(port_check)
            if self.gone is None and not result.ok:
                result.left = self._what_is_left()
        except DaemonUnreachable as exc:
            self.gone = exc
        if self.gone is not None:
            raise self._gone_error()
        return result

    def _converge(self, port_check: Callable[[str, int], str | None]) -> UpResult:
        plan, docker = self.plan, self.docker
        self.step = "looking at the stack's containers"
        observed, look_alikes, actions = _look(plan, docker, self.owners)
        if look_alikes:
            self.reporter.warn(look_alike_note(plan.stack, [c.name for c in look_alikes]))
        self.observed = observed
        self.step = "checking everything before touching anything"
        for warning in _preflight(plan, docker, self.owners, port_check, observed, actions):
            self.reporter.warn(warning)
        self.step = "building images"
        self._obtain_builds([a.target for a in actions if a.creates and a.target])
        self.step = "pulling images"
        ensure_images(docker, [a.target.image for a in actions if a.creates and a.target], self.reporter.pulls)
        self.step = "checking the pulled images against the GPUs"
        check_pulled(docker, [a.target for a in actions if a.creates and a.target], plan.hardware)
        self.step = f"creating network {plan.network}"
        claim = self.owners.claim(plan.stack) if self.owners is not None else None
        self.network_created = docker.ensure_network(plan.network, _claimed({LABEL_STACK: plan.stack}, claim))
        if self.owners is not None:
            if self.network_created:
                self.owners.add(plan.stack, self.network_created, claim)
            else:
                self.owners.drop_claim(plan.stack, claim)
        self.step = "removing containers the plan dropped"
        removed = []
        for a in actions:
            if a.kind == REMOVE and a.container is not None:
                self.reporter.say(f"{a.engine or a.container.name}: remove {a.container.name} ({a.reason})")
                docker.remove(a.container.id)
                self.journal.gone(a.container.id, a.container.name)
                removed.append(a.container.name)
        engine_actions = [a for a in actions if a.kind != REMOVE]
        for a in engine_actions:
            self.reporter.say(f"{a.engine}: {a.kind} {a.runs.candidate} ({a.runs.image}) — {a.reason}")
        if self.options.timeout_s is not None:
            self.deadline = self.clock() + self.options.timeout_s
        reports = [EngineReport(a.engine, a.kind, a.reason, a.runs) for a in engine_actions]
        self.step = "starting the engines and waiting for them"
        for action, report in zip(engine_actions, reports, strict=True):
            done = threading.Event()
            self.workers.append(done)
            threading.Thread(target=self._worker, args=(action, report, done), name=f"aima-up-{action.engine}",
                             daemon=True).start()
        try:
            self._join()
        finally:
            self.reporter.waits_done()
        return UpResult(plan.stack, plan.network, reports, removed)

    def _obtain_builds(self, targets: list[EnginePlan]) -> None:
        """Images aima builds from recipes: present with this recipe hash, else built and proven (--build)."""
        plans = [t.build for t in targets if t.build is not None]
        if not plans:
            return
        from aima.build.builder import ensure_built, needs_build, require_built

        missing = [b for b in plans if needs_build(self.docker, b)]
        if not missing:
            return
        if not self.options.build:
            what = "; ".join(f"{b.image} (recipes/{b.recipe}, about {b.minutes} min and {b.disk_gib:g} GiB)"
                             for b in missing)
            raise AimaError(f"not built on this machine yet: {what}; nothing was started",
                            hint="`aima up --build` builds and proves it first, or `aima build` does it alone "
                                 "(docs/builds.md)")
        for b in missing:
            self.reporter.say(f"{b.engine}: build {b.image} from recipes/{b.recipe} (about {b.minutes} min)")
        require_built([ensure_built(self.docker, b, self.builds) for b in missing])

    def _worker(self, action: Action, report: EngineReport, done: threading.Event) -> None:
        try:
            self._bring_up(action, report)
        finally:
            done.set()

    def _bring_up(self, action: Action, report: EngineReport) -> None:
        """One engine's life in this run: (re)create or start, wait, fall back while the diagnosis says so."""
        primary, target = self.plan.engine(action.engine), action.runs
        assert primary is not None, "convergence acts only on the plan's engines"
        try:
            since, tail = None, None
            if action.kind == RECREATE and action.container is not None:
                self.docker.remove(action.container.id)
                self.journal.gone(action.container.id, action.container.name)
            if action.kind in (CREATE, RECREATE):
                cid = self._create_and_start(target)
            else:
                assert action.container is not None, "start and noop act on an existing container"
                cid = action.container.id
                if action.kind == START:
                    # Only lines of this start count: the log still holds the previous run's output.
                    found = self.docker.inspect(cid)
                    finished = found.finished_at if found else None
                    self.docker.start(cid)
                    since = None if finished is None else finished + 1e-6
                elif action.kind == NOOP:
                    tail = 0  # a running engine's old lines are history, not news
            report.container_id = cid
            tried = [target.candidate]
            while True:
                outcome = self._wait(cid, target, since, tail)
                report.outcome, report.target = outcome, target
                diagnosis = outcome.diagnosis
                if outcome.kind not in (CRASHED, EXITED) or diagnosis is None or not diagnosis.fallback:
                    return
                fallback, why = next_fallback(primary, tried, self.options.allow_cpu)
                if fallback is None or self.cancel.is_set():
                    report.no_fallback = why or "interrupted"
                    return
                self.reporter.say(f"{action.engine}: {target.candidate} failed: {diagnosis.title} — falling back to "
                                  f"{fallback.candidate} ({fallback.image})")
                report.fell_back.append((target.candidate, diagnosis.title))
                self.docker.remove(cid)
                self.journal.gone(cid, target.container_name(self.plan.stack))
                self._obtain_builds([fallback])
                ensure_images(self.docker, [fallback.image], self.reporter.pulls)
                check_pulled(self.docker, [fallback], self.plan.hardware)
                target, since, tail = fallback, None, None
                tried.append(target.candidate)
                report.target, report.container_id = target, None
                cid = self._create_and_start(target)
                report.container_id = cid
        except AimaError as exc:
            detail = str(exc) + (f" (hint: {exc.hint})" if exc.hint else "")
            report.outcome = Outcome(CANCELLED if self.cancel.is_set() else FAILED, detail)
            if isinstance(exc, DaemonUnreachable) and self.gone is None:
                self.gone = exc
                self._stop_waiting()  # the others cannot get far without the daemon: end the run now
        except Exception as exc:  # noqa: BLE001 - a bug in one engine's thread must not vanish or kill the others
            report.outcome = Outcome(FAILED, f"internal error: {type(exc).__name__}: {exc}")

    def _create_and_start(self, target: EnginePlan) -> str:
        if self.cancel.is_set():
            raise AimaError("interrupted")
        spec = container_spec(target, self.plan)
        claim = self.owners.claim(self.plan.stack) if self.owners is not None else None
        try:
            cid = self.docker.create(dataclasses.replace(spec, labels=_claimed(spec.labels, claim)))
        except BaseException:
            if self.owners is not None:
                self.owners.drop_claim(self.plan.stack, claim)
            raise
        self.journal.add(cid, spec.name)
        if self.owners is not None:
            self.owners.add(self.plan.stack, cid, claim)
        try:
            self.docker.start(cid)
            problem = check_gpu_arrived(self.docker, cid, spec)
            if problem is not None:
                # A GPU engine without its GPU is a failure, never a silent CPU run.
                raise AimaError(f"{spec.name}: {problem}", hint="use Podman's own API (aima --engine podman) rather "
                                "than its Docker-compatible socket, or check the NVIDIA Container Toolkit / CDI spec "
                                "(`aima doctor`)")
        except AimaError:
            # A container that never ran (or ran without its GPU) has nothing to show; keep the stack clean.
            self.docker.remove(cid)
            self.journal.gone(cid, spec.name)
            raise
        return cid

    def _wait(self, cid: str, target: EnginePlan, since: float | None, tail: int | None) -> Outcome:
        watcher = LogWatcher(self.knowledge.get(), target.engine)
        self.watchers.add(watcher)
        if self.cancel.is_set():
            watcher.wake.set()
        watcher.follow(self.docker, cid, since=since, tail=tail)
        now = self.clock()
        allowance = target.health.startup_timeout_s
        deadline = min(now + allowance, self.deadline)
        probe = (self.probe_for(target.endpoint + target.health.path) if target.endpoint
                 else (lambda: ProbeResult(_running(self.docker.inspect(cid)), "container state")))
        limit = (f"--timeout {self.options.timeout_s:g} s" if deadline < now + allowance
                 else f"startup allowance {allowance:g} s")
        try:
            waiting = Waiting(cid, probe, watcher, deadline, target.health.interval_s, limit, target.engine,
                              self.reporter.waiting)
            return wait_for_engine(self.docker, waiting, self.clock, self.cancel)
        finally:
            watcher.stop()
            close = getattr(probe, "close", None)
            if close is not None:
                close()
            self.watchers.discard(watcher)

    def _what_is_left(self) -> list[tuple[str, str]]:
        """After a failed run: the stack's containers as they are now; its new network goes when none is left."""
        left = sorted((c.name, c.state) for c in self.docker.list({LABEL_STACK: self.plan.stack}))
        if not left and self.network_created:
            self.docker.remove_networks({LABEL_STACK: self.plan.stack}, ids={self.network_created})
        return left

    def _gone_error(self) -> AimaError:
        """The daemon stopped answering mid-run: say so, and what was left behind as last seen."""
        created = sorted(self.journal.created.values())
        before = sorted(c.name for c in self.observed if c.name not in self.journal.replaced)
        parts = ([f"{', '.join(created)} (created by this run)"] if created else []) + \
                ([f"{', '.join(before)} (there before)"] if before else []) + \
                ([f"network {self.plan.network}"] if self.network_created else [])
        left = ("left behind as last seen: " + "; ".join(parts) if parts
                else f"nothing of stack {self.plan.stack} had been created")
        title = "Podman" if getattr(self.docker, "name", "docker") == "podman" else "Docker"
        return AimaError(f"{title} at {self.docker.url} stopped answering while `up` was {self.step}; {left}",
                         hint=f"when {title} answers again, `aima down` removes what is left, or `aima up` finishes "
                              "the stack")

    def _stop_waiting(self) -> None:
        self.cancel.set()
        for watcher in list(self.watchers):
            watcher.wake.set()

    def _join(self) -> None:
        # Events, not Thread.join: a join that Ctrl-C interrupts marks the thread as finished while it still runs
        # (CPython's bpo-45274 handling), so undo would not wait for a create still in flight and miss its container.
        for done in self.workers:
            while not done.wait(0.2):  # short waits keep Ctrl-C deliverable to the main thread
                pass

    # --- Ctrl-C ----------------------------------------------------------------------------------------------

    def undo(self) -> AimaError:
        """Stop the workers, remove what this run created, and say exactly what is left.

        A second Ctrl-C is only told that cleaning up goes on (_counting_ctrl_c); a third abandons it, and the
        message then names what is left as Docker lists it and the command that removes it."""
        self._stop_waiting()
        removing: dict[str, str] = {}  # id -> name of removals started and not finished
        try:
            self._join()
            removed = list(self.journal.created.values())
            removing.update(self.journal.created)
            threads = [threading.Thread(target=self._quiet_remove, args=(cid, removing), daemon=True)
                       for cid in list(self.journal.created)]
            for t in threads:
                t.start()
            give_up = time.monotonic() + 15
            for t in threads:
                while t.is_alive() and time.monotonic() < give_up:
                    t.join(0.2)  # short joins: Ctrl-C stays deliverable (see _join)
            left = [c.name for c in self.docker.list({LABEL_STACK: self.plan.stack})]
            if self.network_created and not left:
                self.docker.remove_networks({LABEL_STACK: self.plan.stack}, ids={self.network_created})
        except KeyboardInterrupt:
            return self._abandoned(dict(removing))
        except AimaError as exc:
            return AimaError(f"interrupted; cleaning up failed ({exc}): containers of stack {self.plan.stack} may be "
                             "left", hint=f"`aima status` shows them, `{self.options.down_command}` removes them",
                             exit_code=130)
        parts = [f"removed what this run created: {', '.join(sorted(removed))}" if removed
                 else "this run had created nothing yet"]
        if self.journal.replaced:
            parts.append(f"containers this run had already replaced or removed: {', '.join(self.journal.replaced)}")
        parts.append(f"left as they were: {', '.join(sorted(left))}" if left
                     else f"nothing of stack {self.plan.stack} is left")
        return AimaError("interrupted; " + "; ".join(parts), hint="run `aima up` again to finish" if left or
                         self.journal.replaced else None, exit_code=130)

    def _abandoned(self, removing: dict[str, str]) -> AimaError:
        """Ctrl-C a third time: stop cleaning up and name what is left, as Docker lists it now."""
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a fourth press ends even the listing
        stack = self.plan.stack
        try:
            found = sorted((c.name, c.state) for c in self.docker.list({LABEL_STACK: stack}))
            seen = "left"
        except (KeyboardInterrupt, AimaError):
            before = [c.name for c in self.observed if c.name not in self.journal.replaced]
            found = sorted((n, "as last seen") for n in {*self.journal.created.values(), *before})
            seen = "left as last seen (Docker was not asked again)"
        things = []
        if found:
            things.append("containers " + ", ".join(f"{n} ({s})" for n, s in found))
        # The network goes last in a cleanup, so one this run created is still there when the cleanup is abandoned.
        if self.network_created or found:
            things.append(f"network {self.plan.network}")
        pending = sorted(n for n in removing.values() if any(n == f for f, _ in found))
        what = (f"{seen}: " + " and ".join(things) if things else f"nothing of stack {stack} is left")
        if pending:
            what += f" (the removal of {', '.join(pending)} was under way and may still finish)"
        return AimaError(f"interrupted; cleanup abandoned (Ctrl-C a third time); {what}",
                         hint=f"`{self.options.down_command}` removes them" if things else None, exit_code=130)

    def _quiet_remove(self, cid: str, removing: dict[str, str]) -> None:
        try:
            self.docker.remove(cid)
            removing.pop(cid, None)
        except AimaError:
            pass  # reported through the list of what is left


def _running(container: Container | None) -> bool:
    return container is not None and container.running


def _claimed(labels: Mapping[str, str], claim: str | None) -> dict[str, str]:
    """The labels plus the claim token recorded before the create (aima.launch.ownership)."""
    return {**labels, LABEL_CLAIM: claim} if claim else dict(labels)


def check_before_models(plan: Plan, docker: ContainerEngine, owners: Owners | None = None,
                        port_check: Callable[[str, int], str | None] = port_error) -> None:
    """Every check `up` makes before it creates anything, except the model files: run before those are downloaded,
    so that a taken port or name, a limit the host cannot grant or an image nobody publishes is said before the
    gigabytes arrive (PreflightFailed), not after. `up` checks everything again once the files are there."""
    observed, _, actions = _look(plan, docker, owners)
    _preflight(plan, docker, owners, port_check, observed, actions, models=False)


def _look(plan: Plan, docker: ContainerEngine, owners: Owners | None
          ) -> tuple[list[Container], list[Container], Sequence[Action]]:
    """The stack's containers that aima can prove it created, the look-alikes, and what the plan does to them."""
    observed: list[Container] = docker.list({LABEL_STACK: plan.stack})
    look_alikes: list[Container] = []
    if owners is not None:
        observed, look_alikes = owners.split(plan.stack, observed)
    return observed, look_alikes, convergence_plan(plan, observed)


def _preflight(plan: Plan, docker: ContainerEngine, owners: Owners | None,
               port_check: Callable[[str, int], str | None], observed: list[Container], actions: Sequence[Action],
               models: bool = True) -> list[str]:
    creating = [a.target for a in actions if a.creates and a.target is not None]
    ports = [(a.engine, p) for a in actions if a.creates and a.target for p in ports_to_check([a], observed)]
    return preflight(plan, creating, docker, port_check, ports, observed, owners, models=models)
