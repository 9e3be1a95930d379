"""The pipeline's front door: options -> (Hardware, Catalog, Stack) -> Plan. Used by every command that plans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from aima.catalog.model import Catalog
from aima.hardware.model import Hardware
from aima.plan_types import BuildPlan, Plan
from aima.stack import Stack

if TYPE_CHECKING:
    from aima.engine.model import ContainerEngine
    from aima.models.sizing import ModelSize


@dataclass(frozen=True)
class PlanRequest:
    """What the user gave on the command line."""

    hardware: str | None = None  # a profile path or shipped name; None: detect this machine
    images: Path | None = None  # a user catalogue extending the shipped one
    stack: Path | None = None  # a stack file; None: ./aima.yaml, else the built-in default
    expose: bool = False
    use_inspections: bool = True  # prefer archs read from images by `aima inspect` when cached
    models: tuple[str, ...] = ()  # --model ENGINE=MODEL overrides of the stack's model choice
    latest: bool = False  # --latest: pull moving tags, not the catalogue's pinned digests
    offline: bool = False  # --offline: an hf:// model's size only from disk (as HF_HUB_OFFLINE=1)
    engine: str | None = None  # the global --engine docker|podman (aima.engine.select weighs it)


def load_hardware(spec: str | None) -> Hardware:
    """A profile by name/path, or this machine."""
    if spec is None:
        from aima.hardware.detect import detect

        return detect()
    from aima.hardware.profiles import find_profile, load_profile

    profile = load_profile(find_profile(spec))
    return profile.hardware


def load_catalog_and_stack(images: Path | None, stack: Path | None) -> tuple[Catalog, Stack]:
    """The catalogue (shipped + user file) and the stack (--stack, ./aima.yaml, or the built-in one)."""
    from aima.catalog.load import load_catalog
    from aima.stack import find_stack_file, load_stack

    return load_catalog(images), load_stack(find_stack_file(stack))


def load_inputs(req: PlanRequest) -> tuple[Hardware, Catalog, Stack]:
    """Hardware, catalogue and stack for a request; every file error is an AimaError naming file:line: key."""
    catalog, stack = load_catalog_and_stack(req.images, req.stack)
    if req.models:
        stack = with_models(stack, req.models)
    hardware = load_hardware(req.hardware)
    check_gpu_pins(stack, hardware)
    return hardware, catalog, stack


def check_gpu_pins(stack: Stack, hw: Hardware) -> None:
    """A stack's `gpu:` that names no GPU of this machine is an error at its file:line listing the GPUs there are."""
    from aima.errors import AimaError

    for e in stack.engines:
        if e.gpu is None or not e.enabled or e.gpu.startswith("MIG-"):  # MIG devices: the planner checks them
            continue
        if any(e.gpu in (str(g.index), g.uuid) for g in hw.gpus):
            continue
        there = ", ".join(f"{g.index} ({g.name})" for g in hw.gpus) or "none"
        where = e.gpu_at or stack.source
        raise AimaError(f"{where}: engines.{e.name}.gpu: no GPU {e.gpu} on {hw.name or 'this machine'}; "
                        f"its GPUs: {there}", hint="pin a GPU that exists, or remove `gpu:` to let aima choose")


def with_models(stack: Stack, overrides: tuple[str, ...]) -> Stack:
    """--model ENGINE=MODEL (a catalogue name or an hf:// URI) applied to the stack."""
    from dataclasses import replace

    from aima.catalog.model import ENGINES
    from aima.errors import AimaError

    engines = {e.name: e for e in stack.engines}
    for item in overrides:
        engine, _, model = item.partition("=")
        if engine not in ENGINES or not model:
            raise AimaError(f"--model {item!r}: expected ENGINE=MODEL with ENGINE one of {', '.join(ENGINES)}")
        if model.startswith("hf://"):
            from aima.models.source import parse_hf_uri

            try:
                parse_hf_uri(model)
            except ValueError as exc:
                raise AimaError(f"--model {item!r}: {exc}") from exc
        engines[engine] = replace(engines[engine], model=model)
    return replace(stack, engines=tuple(engines[e.name] for e in stack.engines))


def build_plan(req: PlanRequest) -> Plan:
    """Plan the stack for the request."""
    return plan_with_inputs(req)[0]


def plan_with_inputs(req: PlanRequest, catalog_from: Callable[[Catalog], Catalog] | None = None,
                     ) -> tuple[Plan, Catalog, dict[str, tuple[str, str]] | None]:
    """The plan, and the catalogue and inspections it was made from (exports re-check images against them).

    ``catalog_from`` replaces the loaded catalogue before planning (`up --latest`: facts read from pulled images).
    """
    from aima.plan import PlanOptions, make_plan

    hw, catalog, stack = load_inputs(req)
    if catalog_from is not None:
        catalog = catalog_from(catalog)
    inspected = cached_inspections(catalog) if req.use_inspections else None
    local, unasked = local_only_images(catalog, hw, req.engine, stack) if req.hardware is None else (None, None)
    options = PlanOptions(expose=req.expose, inspected=inspected, builds=build_plans(catalog), local_images=local,
                          latest=req.latest, model_sizes=model_sizes(stack, req.offline))
    plan = make_plan(hw, catalog, stack, options)
    if unasked:
        plan = replace(plan, warnings=(*plan.warnings, unasked))
    return plan, catalog, inspected


def model_sizes(stack: Stack, offline: bool) -> dict[str, ModelSize] | None:
    """The bytes of every hf:// model the stack names (from the cache, else HEAD on the hub), for its memory need."""
    uris = [e.model for e in stack.enabled if e.model.startswith("hf://")]
    if not uris:
        return None
    from aima.models.cache import hub_dir
    from aima.models.hub import settings_from_env
    from aima.models.sizing import measure

    return measure(uris, hub_dir(), settings_from_env(offline=offline))


def build_plans(catalog: Catalog) -> dict[str, BuildPlan]:
    """"engine/candidate" -> BuildPlan for every candidate aima builds, marked when this machine built it."""
    from dataclasses import replace

    from aima.build import records
    from aima.build.recipe import build_plan

    done = records.load()
    plans = {}
    for engine in catalog.engines:
        for candidate in engine.candidates:
            if candidate.build is None:
                continue
            plan = build_plan(candidate)
            record = done.get(candidate.image)
            if record is not None and record.recipe_hash == plan.recipe_hash:
                plan = replace(plan, built_here=record.image_id)
            plans[f"{engine.name}/{candidate.id}"] = plan
    return plans


def local_only_images(catalog: Catalog, hw: Hardware, engine: str | None = None, stack: Stack | None = None
                      ) -> tuple[frozenset[str], str | None]:
    """The catalogue's local-only images (for this CPU) that the local engine has, and a warning when it could not
    be asked (those images then count as absent; the plan says so instead of waiting in silence)."""
    from aima.catalog.cuda import check_platform
    from aima.errors import AimaError

    wanted = {c.image for e in catalog.engines for c in e.candidates
              if c.local_only and check_platform(c.platforms, hw.cpu_arch).ok}
    if not wanted:
        return frozenset(), None
    try:
        docker = connect_engine(engine, stack, timeout=5)
        return frozenset(image for image in wanted if docker.image(image) is not None), None
    except AimaError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return frozenset(), (f"could not ask the container engine whether the local-only images "
                             f"{', '.join(sorted(wanted))} are here, so they are passed over: {first}")


def connect_engine(engine: str | None, stack: Stack | Path | None, timeout: float | None = None
                   ) -> ContainerEngine:
    """The container engine for a command: ``--engine``, AIMA_ENGINE, the stack's ``engine:``, else automatic.

    ``stack`` is the loaded stack, or the --stack option (None: ./aima.yaml when present)."""
    from aima.engine import connect

    if not isinstance(stack, Stack):
        from aima.stack import find_stack_file, load_stack

        stack = load_stack(find_stack_file(stack))
    return connect(timeout=timeout, engine=engine, configured=stack.configured_engine)


def cached_inspections(catalog: Catalog) -> dict[str, tuple[str, str]]:
    """image -> (archs, source) for catalogue images that `aima inspect` has read and cached."""
    from aima.inspect.cache import cached_archs

    images = {c.image for e in catalog.engines for c in e.candidates if c.gpu}
    return cached_archs(images)
