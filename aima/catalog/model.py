"""The catalogue as data: engines, their ordered image candidates, and model choices."""

from __future__ import annotations

from dataclasses import dataclass, field

from aima.engines import ENGINES as ENGINES  # re-exported for the stack and the loader
from aima.hardware.model import CudaVersion
from aima.models.source import ModelSource


@dataclass(frozen=True)
class Health:
    """How readiness is probed: an HTTP GET on the container port."""

    path: str = "/health"
    startup_timeout_s: float = 120.0  # vLLM loads for minutes; whisper in seconds
    interval_s: float = 0.5


@dataclass(frozen=True)
class Limits:
    """Container resource limits; None means unlimited / engine default."""

    memory_mib: int | None = None
    cpus: float | None = None
    shm_mib: int | None = None
    pids: int | None = None


@dataclass(frozen=True)
class Build:
    """How aima builds a candidate's image from a recipe it ships (docs/builds.md)."""

    recipe: str  # as written: a name under recipes/, or a folder relative to the catalogue file
    recipe_dir: str  # the recipe's folder, resolved when the catalogue was read
    args: tuple[tuple[str, str], ...] = ()  # Docker build arguments, sorted by name
    minutes: int = 0  # expected duration on an 8-core machine with a warm network
    disk_gib: float = 0.0  # free disk the build needs (base images, sources, layers)


OBTAIN_PULL, OBTAIN_BUILD, OBTAIN_LOCAL = "pull", "build", "local"


@dataclass(frozen=True)
class Pin:
    """The image digest a candidate's facts were read from, for one platform, and when (``aima catalog verify``)."""

    platform: str  # linux/amd64
    digest: str  # sha256:... of that platform's manifest
    read_at: str  # ISO date (or date-time) the facts were read


@dataclass(frozen=True)
class Candidate:
    """One image that can serve an engine, with what it needs from the machine and how to run it."""

    id: str
    engine: str
    image: str
    gpu: bool
    platforms: tuple[str, ...] = ("linux/amd64",)
    archs: str | None = None  # CUDA code carried, in any spelling parse_targets accepts
    cuda: CudaVersion | None = None  # the CUDA runtime the image is built on (12.8)
    require_cuda: str | None = None  # the image's NVIDIA_REQUIRE_CUDA, when known
    runtime_compiler_cuda: CudaVersion | None = None  # CUDA of a run-time kernel compiler (vLLM's Triton ptxas)
    official: bool = False
    source: str = ""
    unconfirmed: str | None = None
    port: int = 8080  # the port the engine listens on inside the container
    health: Health = field(default_factory=Health)
    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] = ()  # templates: {port} {model_path} {gpu_memory_utilization} ... (docs/catalog.md)
    env: tuple[tuple[str, str], ...] = ()
    limits: Limits = field(default_factory=Limits)
    model_format: str | None = None  # ggml | gguf | hf | builtin; None: the engine needs no model file
    model_dir: str = "/models"  # where the model folder is mounted (read-only) inside the container
    concurrency: int | None = None  # requests at a time the engine survives (seed 002)
    ptx_jit: bool = True  # False: the engine's kernels trap when JIT-compiled from older PTX (seed 000)
    gpu_memory_utilization_max: float | None = None  # engines sized by a fraction of GPU memory (vLLM)
    known_failures: tuple[str, ...] = ()  # knowledge-base signature ids this image is known to hit
    notes: tuple[str, ...] = ()
    cuda_platform: str | None = None  # arm64 GPU images: 'sbsa' (servers, GB10) or 'l4t' (Jetson); None = sbsa
    build: Build | None = None  # aima builds this image from a recipe (it is published nowhere)
    local_only: str | None = None  # why nobody can pull or build it: used only when already on this machine
    pins: tuple[Pin, ...] = ()  # per platform: the digest the facts were read from; empty: facts only cited
    cpu_features: tuple[str, ...] = ()  # CPU extensions the image's binaries need (hardware.host.CPU_FEATURES)

    @property
    def obtain(self) -> str:
        """How `up` gets this image: pull it, build it from a recipe, or find it already here."""
        if self.build is not None:
            return OBTAIN_BUILD
        return OBTAIN_LOCAL if self.local_only else OBTAIN_PULL

    def pin(self, platform: str) -> Pin | None:
        """The pinned digest for one platform, or None when the facts for it are only cited."""
        return next((p for p in self.pins if p.platform == platform), None)


@dataclass(frozen=True)
class ModelChoice:
    """One model an engine can serve, with what it needs (seed 001's whisper table)."""

    name: str
    format: str  # ggml | gguf | hf | builtin
    file: str | None = None  # file or folder name under the engine's model directory
    size_mib: int = 0
    gpu_memory_mib: int = 0  # working set on the GPU (weights + buffers)
    memory_mib: int = 0  # working set in RAM when run on the CPU
    source: ModelSource | None = None  # where `aima pull` fetches it (docs/models.md); None: files placed by hand

    @property
    def served_name(self) -> str:
        """The name the engine serves it under and clients ask for: the catalogue name, or an hf:// model's
        repository id (ORG/REPO), never the path it happens to be mounted at."""
        if self.name.startswith("hf://") and self.source is not None:
            return self.source.repo
        return self.name


@dataclass(frozen=True)
class Engine:
    """An engine (asr, llm, tts): its candidates in priority order and its models."""

    name: str
    candidates: tuple[Candidate, ...]
    models: tuple[ModelChoice, ...] = ()
    allow_cpu: bool = True  # the catalogue allows a CPU candidate when no GPU one fits
    host_port: int = 8000  # default published port
    replace: bool = False  # in an override file: drop the shipped candidates of this engine
    set_keys: frozenset[str] = frozenset()  # in an override file: which engine keys it set

    def models_of(self, model_format: str | None) -> list[ModelChoice]:
        """The models this engine lists in one format."""
        return [m for m in self.models if m.format == model_format]

    def position(self, candidate_id: str) -> int:
        """A candidate's place in the priority order (0 first; unknown ids first too)."""
        return next((i for i, c in enumerate(self.candidates) if c.id == candidate_id), 0)


@dataclass(frozen=True)
class Catalog:
    """The whole hardware-to-image compatibility map."""

    engines: tuple[Engine, ...]
    sources: tuple[str, ...] = ()  # files it was read from, in order

    def engine(self, name: str) -> Engine | None:
        """The engine of that name, or None."""
        return next((e for e in self.engines if e.name == name), None)

    def candidate(self, engine: str, candidate_id: str) -> Candidate | None:
        """A candidate by engine and id, or None."""
        found = self.engine(engine)
        return next((c for c in found.candidates if c.id == candidate_id), None) if found else None
