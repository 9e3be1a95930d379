"""images.yaml -> Catalog, strictly validated; a user file extends or overrides the shipped one."""

from __future__ import annotations

import re
import string
from pathlib import Path

from aima import yamlfile
from aima.catalog.cuda import CUDA_PLATFORMS
from aima.catalog.model import ENGINES, Build, Candidate, Catalog, Engine, Health, Limits, ModelChoice, Pin
from aima.data import shipped
from aima.hardware.model import CPU_ARCHES, CudaVersion, platform_arch, platform_for
from aima.models.source import ModelFile, ModelSource
from aima.parsecache import cached

PLATFORMS = tuple(platform_for(a) for a in CPU_ARCHES)
MODEL_FORMATS = ("ggml", "gguf", "hf", "builtin")
PLACEHOLDERS = ("port", "model_path", "model_file", "model_name", "served_model_name", "model_dir",
                "gpu_memory_utilization", "max_model_len", "concurrency", "threads")
_CUDA = re.compile(r"^\d{1,2}\.\d{1,2}(\.\d{1,3})?$")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_WHEN = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})?)?$")
_CANDIDATE_KEYS = ("id", "image", "gpu", "platforms", "archs", "cuda", "require_cuda", "runtime_compiler_cuda",
                   "official", "source", "unconfirmed", "port", "health", "entrypoint", "command", "env", "limits",
                   "model_format", "model_dir", "concurrency", "ptx_jit", "gpu_memory_utilization_max",
                   "known_failures", "notes", "cuda_platform", "build", "local_only",
                   "verified", "cpu_features")
_ENGINE_KEYS = ("allow_cpu", "host_port", "models", "candidates", "replace")


def default_catalog_path() -> Path:
    """The shipped images.yaml."""
    return shipped("images.yaml")


def user_catalog_path() -> Path:
    """~/.config/aima/images.yaml (XDG_CONFIG_HOME respected, aima.paths); read when it exists."""
    from aima.paths import config_home

    return config_home() / "aima" / "images.yaml"


def load_catalog(user_file: Path | None = None, *, include_user_config: bool = True) -> Catalog:
    """The shipped catalogue, extended/overridden by ``user_file`` (or the user's config file when present)."""
    catalog = cached("catalog", default_catalog_path(), read_catalog)
    extra = user_file
    if extra is None and include_user_config and user_catalog_path().exists():
        extra = user_catalog_path()
    if extra is not None:
        override, extends = cached("catalog-override", extra, lambda p: (read_catalog(p, partial=True), _extends(p)))
        catalog = merge(catalog, override, extends=extends)
    return catalog


def _extends(path: Path) -> bool:
    root = yamlfile.load(path).mapping()
    return root["extends"].bool() if "extends" in root else True


def read_catalog(path: Path, *, partial: bool = False) -> Catalog:
    """Read one catalogue file; ``partial`` allows engines without candidates (an override file)."""
    root = yamlfile.load(path)
    top = root.mapping(allowed=("engines", "extends", "version"), required=("engines",))
    if "version" in top and top["version"].int() != 1:
        raise top["version"].error("only version 1 is understood")
    engines = []
    for name, value in top["engines"].mapping(allowed=ENGINES).items():
        engines.append(_engine(name, value, partial, Path(path).resolve().parent))
    return Catalog(tuple(engines), (str(path),))


def _engine(name: str, value: yamlfile.Value, partial: bool, folder: Path) -> Engine:
    e = value.mapping(allowed=_ENGINE_KEYS, required=() if partial else ("candidates",))
    items = e["candidates"].items() if "candidates" in e else []
    candidates = tuple(_candidate(name, item, folder) for item in items)
    seen: set[str] = set()
    for item, cand in zip(items, candidates, strict=True):
        if cand.id in seen:
            raise item.mapping()["id"].error(f"duplicate candidate id {cand.id!r} in engine {name}")
        seen.add(cand.id)
    models = tuple(_model(item) for item in e["models"].items()) if "models" in e else ()
    engine = Engine(
        name=name,
        candidates=candidates,
        models=models,
        allow_cpu=e["allow_cpu"].bool() if "allow_cpu" in e else True,
        host_port=e["host_port"].int(min=1, max=65535) if "host_port" in e else 8000,
        replace=e["replace"].bool() if "replace" in e else False,
        set_keys=frozenset(e),  # merge() overrides only the keys an override file set
    )
    return engine


def _candidate(engine: str, item: yamlfile.Value, folder: Path) -> Candidate:
    c = item.mapping(allowed=_CANDIDATE_KEYS, required=("id", "image", "gpu", "port"))
    cid = c["id"].str()
    if not _ID.match(cid):
        raise c["id"].error(f"must be lower-case letters, digits, '.', '_' or '-'; got {cid!r}")
    gpu = c["gpu"].bool()
    archs = _archs(c["archs"]) if "archs" in c else None
    if gpu and archs is None:
        raise item.error("a GPU candidate must say which CUDA code it carries (archs)")
    if not gpu and archs is not None:
        raise c["archs"].error("a CPU candidate carries no CUDA code; remove archs or set gpu: true")
    require = _require(c["require_cuda"]) if "require_cuda" in c else None
    return Candidate(
        id=cid,
        engine=engine,
        image=_image(c["image"]),
        gpu=gpu,
        platforms=tuple(_platform(p) for p in (c["platforms"].items() if "platforms" in c else [])) or ("linux/amd64",),
        archs=archs,
        cuda=_cuda(c["cuda"]) if "cuda" in c else None,
        require_cuda=require,
        runtime_compiler_cuda=_cuda(c["runtime_compiler_cuda"]) if "runtime_compiler_cuda" in c else None,
        cuda_platform=c["cuda_platform"].choice(CUDA_PLATFORMS) if "cuda_platform" in c else None,
        official=c["official"].bool() if "official" in c else False,
        source=c["source"].str() if "source" in c else "",
        unconfirmed=c["unconfirmed"].str() if "unconfirmed" in c else None,
        port=c["port"].int(min=1, max=65535),
        health=_health(c["health"]) if "health" in c else Health(),
        entrypoint=tuple(_templates(c["entrypoint"])) if "entrypoint" in c and not c["entrypoint"].is_null else None,
        command=tuple(_templates(c["command"])) if "command" in c else (),
        env=tuple(read_env(c["env"])) if "env" in c else (),
        limits=read_limits(c["limits"]) if "limits" in c else Limits(),
        model_format=c["model_format"].choice(MODEL_FORMATS) if "model_format" in c else None,
        model_dir=c["model_dir"].str() if "model_dir" in c else "/models",
        concurrency=c["concurrency"].int(min=1) if "concurrency" in c else None,
        ptx_jit=c["ptx_jit"].bool() if "ptx_jit" in c else True,
        gpu_memory_utilization_max=(c["gpu_memory_utilization_max"].float(min=0.05, max=1.0)
                                    if "gpu_memory_utilization_max" in c else None),
        known_failures=_signature_ids(c["known_failures"]) if "known_failures" in c else (),
        notes=tuple(c["notes"].str_list()) if "notes" in c else (),
        build=_build(c["build"], folder) if "build" in c else None,
        local_only=_local_only(c, "build" in c),
        pins=_pins(c["verified"]) if "verified" in c else (),
        cpu_features=_cpu_features(c["cpu_features"]) if "cpu_features" in c else (),
    )


_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def recipes_dir() -> Path:
    """The shipped recipes folder (recipes/ in a checkout, aima/data/recipes in a wheel)."""
    return shipped("recipes")


def _build(value: yamlfile.Value, folder: Path) -> Build:
    """A build block: the recipe (shipped name or folder next to the catalogue), its arguments, its cost."""
    b = value.mapping(allowed=("recipe", "args", "minutes", "disk_gib"), required=("recipe",))
    recipe = b["recipe"].str()
    if "/" in recipe or recipe.startswith("."):
        where = (folder / recipe).resolve()
    elif _ID.match(recipe):
        where = recipes_dir() / recipe
    else:
        raise b["recipe"].error(f"not a recipe name or folder: {recipe!r}")
    if not (where / "Dockerfile").is_file():
        raise b["recipe"].error(f"recipe {recipe!r} has no Dockerfile (looked in {where})",
                                hint="a recipe is a folder with a Dockerfile: docs/builds.md")
    args = b["args"].str_map() if "args" in b else {}
    for key in args:
        if not _ARG.match(key):
            raise b["args"].error(f"not a build argument name: {key!r}")
    return Build(recipe=recipe, recipe_dir=str(where), args=tuple(sorted(args.items())),
                 minutes=b["minutes"].int(min=0, max=24 * 60) if "minutes" in b else 0,
                 disk_gib=b["disk_gib"].float(min=0, max=10_000) if "disk_gib" in b else 0.0)


def _local_only(c: dict, has_build: bool) -> str | None:
    if "local_only" not in c:
        return None
    if has_build:
        raise c["local_only"].error("a candidate aima builds is not local-only; remove one of build/local_only")
    return c["local_only"].str()


def _pins(value: yamlfile.Value) -> tuple[Pin, ...]:
    """``verified: {linux/amd64: {digest: sha256:…, at: 2026-11-30}}``."""
    pins = []
    for platform, entry in value.mapping().items():
        if platform not in PLATFORMS:
            raise value.error(f"unknown platform {platform!r}", hint=f"one of: {', '.join(PLATFORMS)}")
        e = entry.mapping(allowed=("digest", "at"), required=("digest", "at"))
        digest = e["digest"].str()
        if not _DIGEST.match(digest):
            raise e["digest"].error(f"must be sha256:<64 hex digits>, got {digest!r}")
        when = e["at"].plain()
        when = when.isoformat() if hasattr(when, "isoformat") else str(when)
        if not _WHEN.match(when):
            raise e["at"].error(f"must be a date like 2026-11-30, got {when!r}")
        pins.append(Pin(platform, digest, when))
    return tuple(pins)


def _cpu_features(value: yamlfile.Value) -> tuple[str, ...]:
    from aima.hardware.host import CPU_FEATURES

    names = [n.lower() for n in value.str_list()]
    for name in names:
        if name not in CPU_FEATURES:
            raise value.error(f"unknown CPU feature {name!r}", hint=f"known: {', '.join(CPU_FEATURES)}")
    return tuple(names)


def _image(value: yamlfile.Value) -> str:
    ref = value.str()
    if any(ch.isspace() for ch in ref) or ref.startswith(("-", ":", "@")):
        raise value.error(f"not an image reference: {ref!r}")
    return ref


def _platform(value: yamlfile.Value) -> str:
    # One platform rule (aima.hardware.model.platform_arch): linux/<arch>[/<variant>] for an arch aima knows.
    text = value.str()
    arch = platform_arch(text)
    if "/" not in text or arch not in CPU_ARCHES:
        raise value.error(f"must be one of {', '.join(PLATFORMS)} (a variant such as linux/arm64/v8 is fine), "
                          f"got {text!r}")
    return text


def _archs(value: yamlfile.Value) -> str:
    from aima.catalog.cuda import parse_targets

    spec = ";".join(value.str_list())
    try:
        parse_targets(spec)
    except ValueError as exc:
        raise value.error(str(exc)) from None
    return spec


def _require(value: yamlfile.Value) -> str:
    from aima.catalog.require import parse_require_cuda

    text = value.str()
    try:
        parse_require_cuda(text)
    except ValueError as exc:
        raise value.error(str(exc)) from None
    return text


def _cuda(value: yamlfile.Value) -> CudaVersion:
    text = value.str()
    if not _CUDA.match(text):
        raise value.error(f"must be a CUDA version like 12.8, got {text!r}")
    return CudaVersion.parse(text)


def _health(value: yamlfile.Value) -> Health:
    h = value.mapping(allowed=("path", "startup_timeout_s", "interval_s"))
    path = h["path"].str() if "path" in h else "/health"
    if not path.startswith("/"):
        raise h["path"].error(f"must start with '/', got {path!r}")
    return Health(
        path=path,
        startup_timeout_s=h["startup_timeout_s"].float(min=1, max=7200) if "startup_timeout_s" in h else 120.0,
        interval_s=h["interval_s"].float(min=0.05, max=60) if "interval_s" in h else 0.5,
    )


def read_limits(value: yamlfile.Value) -> Limits:
    """A limits block (memory_mib, cpus, shm_mib, pids), in the catalogue or a stack file."""
    lim = value.mapping(allowed=("memory_mib", "cpus", "shm_mib", "pids"))
    return Limits(
        memory_mib=lim["memory_mib"].int(min=64) if "memory_mib" in lim and not lim["memory_mib"].is_null else None,
        cpus=lim["cpus"].float(min=0.1, max=1024) if "cpus" in lim and not lim["cpus"].is_null else None,
        shm_mib=lim["shm_mib"].int(min=1) if "shm_mib" in lim and not lim["shm_mib"].is_null else None,
        pids=lim["pids"].int(min=16) if "pids" in lim and not lim["pids"].is_null else None,
    )


def _templates(value: yamlfile.Value) -> list[str]:
    out = []
    for item in value.items():
        text = item.str() if not item.is_null else ""
        try:
            names = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
        except ValueError as exc:
            raise item.error(f"bad template: {exc}") from None
        for name in names:
            if name not in PLACEHOLDERS:
                raise item.error(f"unknown placeholder {{{name}}}", hint=f"known: {', '.join(PLACEHOLDERS)}")
        out.append(text)
    return out


def read_env(value: yamlfile.Value) -> list[tuple[str, str]]:
    """An env block: variable names checked, values as strings, sorted by name."""
    env = value.str_map()
    for key, text in env.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise value.error(f"not an environment variable name: {key!r}")
        if "\x00" in text:  # no process environment can hold it; the value is never echoed (it may be a secret)
            raise value.error(f"the value of {key} contains a NUL character; fix the value (it is not shown here)")
    return sorted(env.items())


def _signature_ids(value: yamlfile.Value) -> tuple[str, ...]:
    # Only the spelling is checked here, to keep loading cheap; tests and `aima doctor` check that each id
    # exists in aima/knowledge/signatures.yaml.
    ids = value.str_list()
    for sid in ids:
        if not _ID.match(sid):
            raise value.error(f"not a failure signature id: {sid!r}")
    return tuple(ids)


def _model(item: yamlfile.Value) -> ModelChoice:
    m = item.mapping(allowed=("name", "format", "file", "size_mib", "gpu_memory_mib", "memory_mib", "source"),
                     required=("name", "format"))
    fmt = m["format"].choice(MODEL_FORMATS)
    source = None
    if "source" in m:
        if fmt == "builtin":
            raise m["source"].error("a builtin model ships inside its image; it has no source to download")
        source = _source(m["source"], m["file"].str() if "file" in m else None)
    return ModelChoice(
        name=m["name"].str(),
        format=m["format"].choice(MODEL_FORMATS),
        file=m["file"].str() if "file" in m else None,
        size_mib=m["size_mib"].int(min=0) if "size_mib" in m else 0,
        gpu_memory_mib=m["gpu_memory_mib"].int(min=0) if "gpu_memory_mib" in m else 0,
        memory_mib=m["memory_mib"].int(min=0) if "memory_mib" in m else 0,
        source=source,
    )


def _source(value: yamlfile.Value, entry: str | None) -> ModelSource:
    """source: {repo: ORG/REPO, revision: COMMIT, gated: bool, files: [{path, size, sha256, sha1}]}."""
    from aima.models.source import COMMIT, SHA1, SHA256, check_repo_path

    s = value.mapping(allowed=("repo", "revision", "files", "gated"), required=("repo", "revision", "files"))
    repo = s["repo"].str()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$", repo):
        raise s["repo"].error(f"must be ORG/REPO, got {repo!r}")
    revision = s["revision"].str()
    if not COMMIT.match(revision):
        raise s["revision"].error(f"must be a full 40-hex commit (pinned), got {revision!r}")
    files = []
    for item in s["files"].items():
        f = item.mapping(allowed=("path", "size", "sha256", "sha1"), required=("path",))
        path = f["path"].str()
        problem = check_repo_path(path)
        if problem:
            raise f["path"].error(problem)
        digests = {}
        for key, pattern in (("sha256", SHA256), ("sha1", SHA1)):
            if key in f:
                digests[key] = f[key].str().lower()
                if not pattern.match(digests[key]):
                    raise f[key].error(f"not a {key.upper()} hex digest: {digests[key]!r}")
        files.append(ModelFile(path, f["size"].int(min=0) if "size" in f else None, **digests))
    if not files:
        raise s["files"].error("lists no file")
    if entry is not None and entry not in {f.path for f in files}:
        raise value.error(f"the model's file {entry!r} is not among the source's files")
    return ModelSource(repo, revision, tuple(files), gated=s["gated"].bool() if "gated" in s else False, entry=entry)


def merge(base: Catalog, override: Catalog, *, extends: bool = True) -> Catalog:
    """Apply an override catalogue: same-id candidates replace in place, new ones go first (preferred).

    ``extends: false`` in the override file, or ``replace: true`` on an engine, drops what it replaces.
    """
    if not extends:
        return Catalog(tuple(e for e in override.engines if e.candidates), base.sources + override.sources)
    engines = {e.name: e for e in base.engines}
    for over in override.engines:
        keys = over.set_keys
        old = engines.get(over.name)
        if old is None or over.replace:
            engines[over.name] = over
            continue
        by_id = {c.id: c for c in over.candidates}
        replaced = tuple(by_id.pop(c.id, c) for c in old.candidates)
        new_first = tuple(c for c in over.candidates if c.id in by_id)
        engines[over.name] = Engine(
            name=over.name,
            candidates=new_first + replaced,
            models=over.models if "models" in keys else old.models,
            allow_cpu=over.allow_cpu if "allow_cpu" in keys else old.allow_cpu,
            host_port=over.host_port if "host_port" in keys else old.host_port,
        )
    ordered = tuple(engines[name] for name in ENGINES if name in engines)
    return Catalog(ordered, base.sources + override.sources)
