"""GPUs by CDI name (Container Device Interface): the names a spec asks for and the NVIDIA specs on this host.

A CDI device is named `vendor/class=name`; NVIDIA's `nvidia-ctk cdi generate` writes kind `nvidia.com/gpu` with a
device per index, per UUID and `all` (CDI SPEC.md; NVIDIA Container Toolkit, "Support for Container Device
Interface"). Podman takes the names as devices; Docker (25+, with CDI enabled, so `docker info` lists
CDISpecDirs) takes them as a device request with driver "cdi" (moby integration/container/cdi_test.go).
"""

from __future__ import annotations

import json
from pathlib import Path

from aima.engine.model import ContainerSpec


def cdi_names(spec: ContainerSpec) -> list[str]:
    """The CDI names of a spec's GPUs: nvidia.com/gpu=<index|uuid>, or nvidia.com/gpu=all."""
    if not spec.gpu:
        return []
    return [f"nvidia.com/gpu={d}" for d in spec.devices] or ["nvidia.com/gpu=all"]


def nvidia_cdi_specs(spec_dirs: tuple[str, ...]) -> list[str]:
    """NVIDIA CDI spec files (nvidia-ctk cdi generate) in the engine's CDI folders."""
    found = []
    for folder in spec_dirs:
        try:
            found += [str(p) for p in sorted(Path(folder).glob("*")) if "nvidia" in p.name.lower()
                      and p.suffix in (".yaml", ".yml", ".json")]
        except OSError:
            continue
    return found


def cdi_device_names(spec_dirs: tuple[str, ...]) -> dict[str, str]:
    """nvidia.com/gpu device name -> the CDI spec file naming it, over the CDI folders (/etc/cdi, /var/run/cdi)."""
    import yaml

    found: dict[str, str] = {}
    for folder in spec_dirs:
        for path in nvidia_cdi_specs((folder,)):
            try:
                text = Path(path).read_text(encoding="utf-8")
                data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
            except (OSError, ValueError, yaml.YAMLError):
                continue
            if isinstance(data, dict) and data.get("kind") == "nvidia.com/gpu":
                for device in data.get("devices") or ():
                    if isinstance(device, dict) and device.get("name") is not None:
                        found.setdefault(str(device["name"]), path)
    return found


def cdi_covers(spec: ContainerSpec, spec_dirs: tuple[str, ...]) -> bool:
    """True when the NVIDIA CDI specs in these folders name every GPU the spec asks for."""
    names = cdi_names(spec)
    if not names or not spec_dirs:
        return False
    available = cdi_device_names(spec_dirs)
    return all(name.split("=", 1)[1] in available for name in names)
