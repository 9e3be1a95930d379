"""Image references split the way Docker splits them (distribution/reference's normalisation)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DOCKER_HUB = "registry-1.docker.io"
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


@dataclass(frozen=True)
class Reference:
    """registry host, repository path, and a tag and/or digest."""

    registry: str  # "ghcr.io", "127.0.0.1:5000", DOCKER_HUB
    repository: str  # "ggml-org/llama.cpp", "library/busybox"
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What the API's /manifests/<reference> takes: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def name(self) -> str:
        """The repository as Docker writes it (``docker.io/library/x`` -> ``x``)."""
        if self.registry == DOCKER_HUB:
            return self.repository.removeprefix("library/")
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest: str) -> str:
        """``name@digest``: the reference Docker pulls one exact manifest by."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    """``ghcr.io/o/r:tag``, ``vllm/vllm-openai:v1``, ``busybox``, ``host:5000/r@sha256:…``; ValueError otherwise."""
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{text!r}: a digest must look like sha256:<64 hex digits>")
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise ValueError(f"{text!r}: not a valid tag {tag!r}")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    if registry in _HUB_NAMES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _PATH.match(path):
        raise ValueError(f"{text!r}: not a valid repository name {path!r}")
    return Reference(registry, path, tag if tag or digest else "latest", digest or None)


def plain_http(registry: str) -> bool:
    """True for registries Docker speaks plain HTTP to without configuration: 127.0.0.0/8 and localhost."""
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
