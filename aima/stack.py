"""The stack: which engines to run, with which models, ports and overrides (aima.yaml, or the built-in default)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from aima import yamlfile
from aima.catalog.load import read_env, read_limits
from aima.catalog.model import ENGINES, Limits
from aima.engine.select import ENGINES as CONTAINER_ENGINES

DEFAULT_STACK_FILE = "aima.yaml"
DEFAULT_MAX_MODEL_LEN = 8192  # seed 004's --max-model-len
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
_ENGINE_KEYS = ("enabled", "model", "models_dir", "port", "device", "candidate", "gpu", "limits", "env",
                "max_model_len", "concurrency")


@dataclass(frozen=True)
class EngineSettings:
    """What the user asks of one engine; None means 'the catalogue's default'."""

    name: str
    enabled: bool = True
    model: str = "auto"  # a model name from the catalogue, or auto: the largest that fits
    models_dir: str | None = None  # host folder with the model files (mounted read-only)
    port: int | None = None  # published host port
    device: str = "auto"  # auto | gpu | cpu
    candidate: str | None = None  # pin one catalogue candidate
    gpu: str | None = None  # pin a GPU by index ("1") or UUID ("GPU-...")
    limits: Limits | None = None  # overrides of the catalogue's limits (only the fields given)
    limit_keys: frozenset[str] = frozenset()
    env: tuple[tuple[str, str], ...] = ()
    max_model_len: int = DEFAULT_MAX_MODEL_LEN
    concurrency: int | None = None
    gpu_at: str | None = None  # "file:line" of the stack's gpu: (errors name it)


@dataclass(frozen=True)
class Stack:
    """A whole stack description."""

    name: str = "aima"
    engines: tuple[EngineSettings, ...] = field(default_factory=lambda: tuple(EngineSettings(e) for e in ENGINES))
    os_reserve_mib: int | None = None  # unified memory kept for the OS; default max(8 GiB, 10 % of the pool)
    source: str = "built-in default"
    latest: bool = False  # pull moving tags even where the catalogue pins a digest (as `up --latest`)
    container_engine: str | None = None  # the file's `engine: docker|podman`; None: found automatically
    container_engine_at: str | None = None  # "file:line" of that key (doctor and errors name it)

    @property
    def configured_engine(self) -> tuple[str, str] | None:
        """The file's ``engine:`` as (docker|podman, "file:line"), or None (aima.engine.select weighs it)."""
        if self.container_engine is None:
            return None
        return self.container_engine, self.container_engine_at or self.source

    def engine(self, name: str) -> EngineSettings | None:
        """Settings of one engine, or None when the stack does not name it."""
        return next((e for e in self.engines if e.name == name), None)

    @property
    def enabled(self) -> tuple[EngineSettings, ...]:
        """The engines to run."""
        return tuple(e for e in self.engines if e.enabled)


def default_models_dir(engine: str) -> str:
    """~/.local/share/aima/models/<engine> (XDG_DATA_HOME respected, aima.paths)."""
    from aima.paths import data_home

    return str(data_home() / "aima" / "models" / engine)


def find_stack_file(explicit: Path | None, cwd: Path | None = None) -> Path | None:
    """--stack FILE, else ./aima.yaml when present, else None (the built-in default)."""
    if explicit is not None:
        return explicit
    candidate = (cwd or Path.cwd()) / DEFAULT_STACK_FILE
    return candidate if candidate.exists() else None


def load_stack(path: Path | None) -> Stack:
    """Read and validate a stack file; None gives the built-in default."""
    if path is None:
        return Stack()
    root = yamlfile.load(path)
    top = root.mapping(allowed=("name", "engine", "engines", "os_reserve_mib", "latest"))
    name = top["name"].str() if "name" in top else "aima"
    if not _NAME.match(name):
        raise top["name"].error(f"must be 1-31 lower-case letters, digits, '-' or '_'; got {name!r}")
    engines = []
    if "engines" in top:
        for engine, value in top["engines"].mapping(allowed=ENGINES).items():
            engines.append(_engine(engine, value))
    named = {e.name for e in engines}
    # Engines the file does not mention keep running with defaults, so a file can change one thing.
    engines += [EngineSettings(e) for e in ENGINES if e not in named]
    engines.sort(key=lambda e: ENGINES.index(e.name))
    ports = [(e.port, e.name) for e in engines if e.enabled and e.port is not None]
    seen: dict[int, str] = {}
    for port, engine in ports:
        if port in seen:
            raise top["engines"].error(f"engines {seen[port]} and {engine} both ask for host port {port}")
        seen[port] = engine
    return Stack(
        name=name,
        engines=tuple(engines),
        os_reserve_mib=top["os_reserve_mib"].int(min=0) if "os_reserve_mib" in top else None,
        source=str(path),
        latest=top["latest"].bool() if "latest" in top else False,
        container_engine=top["engine"].choice(CONTAINER_ENGINES) if "engine" in top else None,
        container_engine_at=f"{top['engine'].path}:{top['engine'].line}" if "engine" in top else None,
    )


def _models_dir(value: yamlfile.Value) -> str:
    """An absolute folder (``~/`` allowed): a relative one would mean a different folder in each directory."""
    raw = value.str()
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise value.error(f"{raw!r} is a relative path; write the folder as an absolute path (or ~/...), since "
                          "Docker mounts only absolute paths and aima does not guess where it is relative to")
    return str(path)


def _engine(name: str, value: yamlfile.Value) -> EngineSettings:
    if value.is_null:
        return EngineSettings(name)
    e = value.mapping(allowed=_ENGINE_KEYS)
    limits, keys = None, frozenset[str]()
    if "limits" in e:
        limits = read_limits(e["limits"])
        keys = frozenset(e["limits"].mapping())  # only the keys given override the catalogue's
    gpu, gpu_at = None, None
    if "gpu" in e:
        gpu = str(e["gpu"].plain())
        if not (gpu.isdigit() or gpu.startswith(("GPU-", "MIG-"))):
            raise e["gpu"].error(f"must be a GPU index (0, 1, ...) or UUID (GPU-...), got {gpu!r}")
        gpu_at = f"{e['gpu'].path}:{e['gpu'].line}"
    return EngineSettings(
        name=name,
        enabled=e["enabled"].bool() if "enabled" in e else True,
        model=_model(e["model"]) if "model" in e else "auto",
        models_dir=_models_dir(e["models_dir"]) if "models_dir" in e else None,
        port=e["port"].int(min=1, max=65535) if "port" in e else None,
        device=e["device"].choice(("auto", "gpu", "cpu")) if "device" in e else "auto",
        candidate=_name(e["candidate"], "a candidate name from the catalogue") if "candidate" in e else None,
        gpu=gpu,
        gpu_at=gpu_at,
        limits=limits,
        limit_keys=keys,
        env=tuple(read_env(e["env"])) if "env" in e else (),
        max_model_len=(e["max_model_len"].int(min=128, max=10_000_000) if "max_model_len" in e
                       else DEFAULT_MAX_MODEL_LEN),
        concurrency=e["concurrency"].int(min=1, max=1024) if "concurrency" in e else None,
    )


def _model(value: yamlfile.Value) -> str:
    """A catalogue model name, auto, or hf://ORG/REPO[/PATH/FILE][@REVISION]."""
    text = _name(value, "a model name from the catalogue, auto, or hf://ORG/REPO[/PATH/FILE][@REVISION]")
    if text.startswith("hf://"):
        from aima.models.source import parse_hf_uri

        try:
            parse_hf_uri(text)
        except ValueError as exc:
            raise value.error(str(exc)) from exc
    return text


def _name(value: yamlfile.Value, what: str) -> str:
    """A name written as text: an unquoted number or true/false is a type error at file:line, not a name to look up."""
    plain = value.plain()
    if isinstance(plain, (bool, int, float)) and not value.node.style:
        kind = "true/false" if isinstance(plain, bool) else "a number"
        raise value.error(f"must be {what}, got {kind} ({value.node.value})",
                          hint="write the name as text; quote it if it really is a number")
    return value.str()
