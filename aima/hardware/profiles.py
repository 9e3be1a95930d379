"""Hardware profiles: a machine described as detect sees it, plus what `aima matrix` expects for it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aima import yamlfile
from aima.data import shipped
from aima.errors import AimaError
from aima.hardware.model import CPU_ARCHES, Capability, CudaVersion, Gpu, Hardware, MigInstance
from aima.parsecache import cached

_DRIVER = re.compile(r"^\d{3,4}(\.\d{1,3}){1,2}$")
_TOP_KEYS = ("name", "description", "source", "cpu_arch", "cpu_cores", "ram_mib", "ram_available_mib", "jetson",
             "driver_version", "cuda_driver_version", "gpus", "notes", "expect", "l4t_release", "cpu_features")
_GPU_KEYS = ("index", "name", "compute_capability", "memory_mib", "memory_free_mib", "unified_memory", "uuid",
             "pci_bus_id", "mig_enabled", "brand", "architecture", "mig_instances")
_MIG_KEYS = ("uuid", "profile", "memory_mib")
_EXPECT_KEYS = ("candidate", "devices", "model", "mode")
MODES = ("native", "ptx-jit", "forward-compat", "ptx-jit+forward-compat", "cpu")  # as aima.resolve names them
_L4T = re.compile(r"^\d{2}\.\d{1,2}(\.\d{1,2})?$")
_BRANDS = ("unknown", "quadro", "tesla", "nvs", "grid", "geforce", "titan", "vapps", "vpc", "vcs", "vws",
           "cloudgaming", "quadrortx", "nvidiartx", "nvidia", "geforcertx", "titanrtx")


@dataclass(frozen=True)
class Expectation:
    """What `aima matrix` must find for one engine: the candidate (or refused) and, where pinned, more."""

    candidate: str  # candidate id, or "refused"
    devices: tuple[str, ...] | None = None  # GPU indexes / MIG UUIDs of the device request; () = the CPU
    model: str | None = None  # the model's name
    mode: str | None = None  # native | ptx-jit | forward-compat | ptx-jit+forward-compat | cpu

    def __str__(self) -> str:
        extra = [f"{k}={v}" for k, v in (("devices", self.devices and ",".join(self.devices)
                                           if self.devices is not None else None),
                                          ("model", self.model), ("mode", self.mode)) if v is not None]
        if self.devices == ():
            extra.insert(0, "devices=cpu")
        return self.candidate + (f" ({', '.join(extra)})" if extra else "")


@dataclass(frozen=True)
class Profile:
    """A hardware profile file: the machine, where it came from, and the matrix expectations."""

    hardware: Hardware
    path: str
    source: str | None = None
    expect: dict[str, Expectation] = field(default_factory=dict)  # engine -> what matrix must find


def hardware_to_dict(hw: Hardware) -> dict[str, Any]:
    """The JSON/YAML form of a Hardware (the schema documented in docs/hardware.md)."""
    out: dict[str, Any] = {}
    if hw.name:
        out["name"] = hw.name
    if hw.description:
        out["description"] = hw.description
    out.update(
        cpu_arch=hw.cpu_arch, cpu_cores=hw.cpu_cores, ram_mib=hw.ram_mib, ram_available_mib=hw.ram_available_mib,
        jetson=hw.jetson, l4t_release=hw.l4t_release, driver_version=hw.driver_version,
        cuda_driver_version=None if hw.cuda_driver_version is None else str(hw.cuda_driver_version),
        gpus=[_gpu_to_dict(g) for g in hw.gpus], notes=list(hw.notes),
    )
    if hw.cpu_features is not None:
        out["cpu_features"] = list(hw.cpu_features)
    return out


def _gpu_to_dict(gpu: Gpu) -> dict[str, Any]:
    return {
        "index": gpu.index, "name": gpu.name, "compute_capability": str(gpu.compute_capability),
        "memory_mib": gpu.memory_mib, "memory_free_mib": gpu.memory_free_mib, "unified_memory": gpu.unified_memory,
        "uuid": gpu.uuid, "pci_bus_id": gpu.pci_bus_id, "mig_enabled": gpu.mig_enabled, "brand": gpu.brand,
        "architecture": gpu.architecture,
        "mig_instances": [{"uuid": m.uuid, "profile": m.profile, "memory_mib": m.memory_mib}
                          for m in gpu.mig_instances],
    }


def dump_profile(hw: Hardware, source: str | None = None) -> str:
    """The YAML text `aima detect --save` writes; `load_profile` reads it back to the same Hardware."""
    import yaml

    body = hardware_to_dict(hw)
    if source:
        body = {**{k: v for k, v in body.items() if k in ("name", "description")}, "source": source,
                **{k: v for k, v in body.items() if k not in ("name", "description")}}
    header = "# aima hardware profile (schema: docs/hardware.md)\n"
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True)


def save_profile(hw: Hardware, path: Path, source: str | None = None) -> None:
    """Write a profile; refuses to overwrite a file that is not a profile is the caller's choice (it overwrites)."""
    try:
        path.write_text(dump_profile(hw, source), encoding="utf-8")
    except OSError as exc:
        raise AimaError(f"cannot write {path}: {exc.strerror}") from None


def load_profile(path: str | Path) -> Profile:
    """Read and strictly validate a profile file."""
    return cached("profile", Path(path), lambda p: profile_from_value(yamlfile.load(p)))


def profile_from_value(root: yamlfile.Value) -> Profile:
    """Validate a parsed profile document; errors name file:line: key."""
    top = root.mapping(allowed=_TOP_KEYS, required=("cpu_arch", "ram_mib", "gpus"))
    gpus = tuple(_gpu(item) for item in top["gpus"].items()) if not top["gpus"].is_null else ()
    for position, gpu in enumerate(gpus):
        if gpu.index != position:
            raise top["gpus"].items()[position].error(f"GPU indexes must be 0, 1, 2, ... in order; got {gpu.index}")
    driver = _opt(top, "driver_version", lambda v: _pattern(v, _DRIVER, "a driver version like 580.65.06"))
    cuda = _opt(top, "cuda_driver_version", _cuda_version)
    # driver_version / cuda_driver_version may be null on a machine with GPUs: NVML can answer "N/A" (Jetson),
    # and `detect --save` must write a profile that loads again; the resolver treats unknown as the toolkit does.
    ram = top["ram_mib"].int(min=256)
    available = _opt(top, "ram_available_mib", lambda v: v.int(min=0, max=ram))
    hw = Hardware(
        gpus=gpus,
        driver_version=driver,
        cuda_driver_version=cuda,
        cpu_arch=top["cpu_arch"].choice(CPU_ARCHES),
        cpu_cores=_opt(top, "cpu_cores", lambda v: v.int(min=1, max=4096)) or 1,
        ram_mib=ram,
        ram_available_mib=available,
        jetson=_opt(top, "jetson", lambda v: v.bool()) or False,
        l4t_release=_opt(top, "l4t_release", lambda v: _pattern(v, _L4T, "a Jetson Linux release like 36.4")),
        name=_opt(top, "name", lambda v: v.str()),
        description=_opt(top, "description", lambda v: v.str()),
        notes=tuple(top["notes"].str_list()) if "notes" in top and not top["notes"].is_null else (),
        cpu_features=_opt(top, "cpu_features", _cpu_features),
    )
    expect = {}
    if "expect" in top and not top["expect"].is_null:
        expect = {engine: _expectation(value) for engine, value in top["expect"].mapping().items()}
    return Profile(hw, root.path, _opt(top, "source", lambda v: v.str()), expect)


def _cpu_features(value: yamlfile.Value) -> tuple[str, ...]:
    from aima.hardware.host import CPU_FEATURES

    names = [name.lower() for name in value.str_list()]
    unknown = [name for name in names if name not in CPU_FEATURES]
    if unknown:
        raise value.error(f"unknown CPU feature {unknown[0]!r}", hint=f"known: {', '.join(CPU_FEATURES)}")
    return tuple(f for f in CPU_FEATURES if f in names)


def _opt(entries: dict[str, yamlfile.Value], key: str, read: Any) -> Any:
    value = entries.get(key)
    return None if value is None or value.is_null else read(value)


def _pattern(value: yamlfile.Value, pattern: re.Pattern[str], what: str) -> str:
    text = value.str()
    if not pattern.match(text):
        raise value.error(f"must be {what}, got {text!r}")
    return text


def _cuda_version(value: yamlfile.Value) -> CudaVersion:
    text = value.str()
    try:
        version = CudaVersion.parse(text)
    except ValueError as exc:
        raise value.error(str(exc)) from None
    if not 7 <= version.major <= 20:
        raise value.error(f"CUDA {text} is not a real CUDA version")
    return version


def _gpu(item: yamlfile.Value) -> Gpu:
    g = item.mapping(allowed=_GPU_KEYS, required=("index", "name", "compute_capability"))
    cc_text = g["compute_capability"].str()
    try:
        capability = Capability.parse(cc_text)
    except ValueError as exc:
        raise g["compute_capability"].error(str(exc)) from None
    if not 3 <= capability.major <= 15:
        raise g["compute_capability"].error(f"no NVIDIA GPU has compute capability {cc_text}")
    unified = _opt(g, "unified_memory", lambda v: v.bool()) or False
    memory = _opt(g, "memory_mib", lambda v: v.int(min=256, max=4 * 1024 * 1024))
    if memory is None and not unified:
        raise item.error("memory_mib is required unless unified_memory is true")
    free = _opt(g, "memory_free_mib", lambda v: v.int(min=0))
    if free is not None and memory is not None and free > memory:
        raise g["memory_free_mib"].error(f"free memory {free} MiB exceeds the total {memory} MiB")
    return Gpu(
        index=g["index"].int(min=0, max=63),
        name=g["name"].str(),
        compute_capability=capability,
        memory_mib=memory,
        memory_free_mib=free,
        unified_memory=unified,
        uuid=_opt(g, "uuid", lambda v: v.str()),
        pci_bus_id=_opt(g, "pci_bus_id", lambda v: v.str()),
        mig_enabled=_opt(g, "mig_enabled", lambda v: v.bool()),
        brand=_opt(g, "brand", lambda v: v.choice(_BRANDS)),
        architecture=_opt(g, "architecture", lambda v: v.str()),
        mig_instances=_mig_instances(g),
    )


def _mig_instances(g: dict[str, yamlfile.Value]) -> tuple[MigInstance, ...]:
    value = g.get("mig_instances")
    if value is None or value.is_null:
        return ()
    out = []
    for item in value.items():
        m = item.mapping(allowed=_MIG_KEYS, required=_MIG_KEYS)
        out.append(MigInstance(uuid=m["uuid"].str(), profile=m["profile"].str(),
                               memory_mib=m["memory_mib"].int(min=256, max=4 * 1024 * 1024)))
    if out and not (g.get("mig_enabled") is not None and g["mig_enabled"].bool()):
        raise value.error("mig_instances need mig_enabled: true")
    return tuple(out)


def _expectation(value: yamlfile.Value) -> Expectation:
    """`llm: vllm-official`, or a mapping that also pins devices (a list, or cpu), model and mode."""
    import yaml

    if not isinstance(value.node, yaml.MappingNode):
        return Expectation(value.str())
    e = value.mapping(allowed=_EXPECT_KEYS, required=("candidate",))
    devices: tuple[str, ...] | None = None
    if "devices" in e:
        d = e["devices"]
        if isinstance(d.node, yaml.ScalarNode):
            if d.str() != "cpu":
                raise d.error(f"must be a list of GPU indexes or MIG UUIDs, or cpu; got {d.str()!r}")
            devices = ()
        else:
            devices = tuple(item.str() for item in d.items())
    return Expectation(
        candidate=e["candidate"].str(), devices=devices,
        model=_opt(e, "model", lambda v: v.str()), mode=_opt(e, "mode", lambda v: v.choice(MODES)),
    )


def profiles_dir() -> Path:
    """The shipped profiles folder."""
    return shipped("profiles")


def find_profile(spec: str) -> Path:
    """A profile by path, or by name among the shipped ones (``gb10`` -> profiles/gb10.yaml)."""
    path = Path(spec)
    if path.exists():
        return path
    shipped_path = profiles_dir() / f"{spec}.yaml"
    if shipped_path.exists():
        return shipped_path
    names = ", ".join(sorted(p.stem for p in profiles_dir().glob("*.yaml")))
    raise AimaError(f"no hardware profile {spec!r}: not a file, and not a shipped profile", hint=f"shipped: {names}")


def all_profiles(directory: Path | None = None) -> list[Profile]:
    """Every profile in a folder (default: the shipped ones), sorted by file name."""
    folder = directory or profiles_dir()
    if not folder.is_dir():
        raise AimaError(f"{folder}: no such folder of hardware profiles")
    return [load_profile(p) for p in sorted(folder.glob("*.yaml"))]
