"""An image reference's facts: per platform, the manifest digest and the config (Env, Entrypoint, ports...).

Only manifests and config blobs are fetched (a few KiB each); layers are streamed only for ``--archs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aima.registry.client import INDEX_TYPES, MANIFEST_TYPES, RegistryClient, RegistryRefused
from aima.registry.reference import Reference, parse_reference


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image config (OCI image-spec config.md) that decide whether and how it runs."""

    env: tuple[tuple[str, str], ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    exposed_ports: tuple[str, ...] = ()  # "8080/tcp"
    labels: tuple[tuple[str, str], ...] = ()
    created: str | None = None

    def env_value(self, key: str) -> str | None:
        """One environment variable's value, or None."""
        return next((v for k, v in self.env if k == key), None)

    @property
    def cuda_version(self) -> str | None:
        """CUDA_VERSION as major.minor ("12.9.1" -> "12.9"), the way the catalogue writes it."""
        value = self.env_value("CUDA_VERSION")
        if not value:
            return None
        parts = value.lstrip("v").split(".")
        return ".".join(parts[:2]) if len(parts) >= 2 else value

    @property
    def tcp_ports(self) -> tuple[int, ...]:
        """The exposed TCP port numbers."""
        out = []
        for spec in self.exposed_ports:
            number, _, proto = spec.partition("/")
            if (proto or "tcp") == "tcp" and number.isdigit():
                out.append(int(number))
        return tuple(sorted(out))


@dataclass(frozen=True)
class Layer:
    """One layer blob of a platform's manifest."""

    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image: its manifest digest, config and layers."""

    platform: str  # "linux/amd64", "linux/arm64"
    digest: str
    config: ImageConfig
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class ImageFacts:
    """What the registry says about one reference: its digest and each platform it serves."""

    reference: str
    digest: str  # of the index when there is one, else of the single manifest
    is_index: bool
    images: tuple[PlatformImage, ...]

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platforms the reference serves, sorted."""
        return tuple(sorted(i.platform for i in self.images))

    def platform(self, platform: str) -> PlatformImage | None:
        """The image for one platform, or None."""
        return next((i for i in self.images if i.platform == platform), None)


def platform_name(os_name: str, arch: str, variant: str | None = None) -> str:
    """``linux/arm64/v8`` is what Docker calls plain ``linux/arm64``; other variants are kept."""
    if variant and not (arch == "arm64" and variant == "v8"):
        return f"{os_name}/{arch}/{variant}"
    return f"{os_name}/{arch}"


def read_image(client: RegistryClient, reference: str | Reference) -> ImageFacts:
    """The manifest list (or single manifest) of a reference and each platform's config, without layers."""
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    media, data, digest = client.manifest(ref)
    if media in INDEX_TYPES or "manifests" in data:
        images = []
        for entry in data.get("manifests", []):
            plat = entry.get("platform") or {}
            annotations = entry.get("annotations") or {}
            # BuildKit's provenance/SBOM manifests sit in the index as platform unknown/unknown.
            if annotations.get("vnd.docker.reference.type") or plat.get("os") in (None, "unknown"):
                continue
            name = platform_name(plat.get("os", ""), plat.get("architecture", ""), plat.get("variant"))
            images.append(_platform_image(client, ref, str(entry["digest"]), name))
        return ImageFacts(str(ref), digest, True, tuple(images))
    if media in MANIFEST_TYPES or "config" in data:
        config_blob = client.blob_json(ref, data["config"]["digest"])
        image = _from_manifest(data, digest, config_blob, None)
        return ImageFacts(str(ref), digest, False, (image,))
    raise RegistryRefused(f"{ref}: a manifest of type {media or 'unknown'} (schema 1?) that aima cannot read")


def _platform_image(client: RegistryClient, ref: Reference, digest: str, platform: str) -> PlatformImage:
    _, manifest, _ = client.manifest(ref, digest)
    config_blob = client.blob_json(ref, manifest["config"]["digest"])
    return _from_manifest(manifest, digest, config_blob, platform)


def _from_manifest(manifest: dict, digest: str, blob: dict, platform: str | None) -> PlatformImage:
    cfg = blob.get("config") or {}
    env = []
    for item in cfg.get("Env") or []:
        key, _, value = str(item).partition("=")
        env.append((key, value))
    name = platform or platform_name(str(blob.get("os", "")), str(blob.get("architecture", "")), blob.get("variant"))
    return PlatformImage(
        platform=name,
        digest=digest,
        config=ImageConfig(
            env=tuple(env),
            entrypoint=tuple(cfg["Entrypoint"]) if cfg.get("Entrypoint") else None,
            cmd=tuple(cfg["Cmd"]) if cfg.get("Cmd") else None,
            exposed_ports=tuple(sorted(cfg.get("ExposedPorts") or {})),
            labels=tuple(sorted((str(k), str(v)) for k, v in (cfg.get("Labels") or {}).items())),
            created=blob.get("created"),
        ),
        layers=tuple(Layer(str(layer["digest"]), int(layer.get("size", 0)), str(layer.get("mediaType", "")))
                     for layer in manifest.get("layers", [])),
    )
