"""Images pushed with the Registry HTTP API alone: config blob, layer blobs, manifests, manifest lists.

No daemon is involved, so the tests choose every byte: Env, Entrypoint, ExposedPorts, the files in a
layer (CUDA libraries built by nvcc), and which platforms a tag's index lists.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass, field

import httpx

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A gzip-compressed tar layer holding ``files`` (path -> bytes), deterministic."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


@dataclass
class PlatformSpec:
    """One platform's image: what its config says and the files of its one layer."""

    platform: str = "linux/amd64"
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=lambda: {"etc/hostname": b"aima-test\n"})
    created: str = "2026-11-30T12:00:00Z"


@dataclass(frozen=True)
class Pushed:
    """What a push left in the registry: the tag's digest and each platform's manifest digest."""

    reference: str  # host/repo:tag
    digest: str
    platform_digests: dict[str, str]


class Pusher:
    """Pushes blobs and manifests; answers a bearer challenge with ``credentials`` (user, password) when given."""

    def __init__(self, host: str, credentials: tuple[str, str] | None = None) -> None:
        self.host = host
        self.http = httpx.Client(base_url=f"http://{host}", timeout=30)
        self.credentials = credentials
        self._token: str | None = None

    def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        for _ in range(2):
            headers = dict(kwargs.pop("headers", {}) or {})
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            response = self.http.request(method, url, headers=headers, **kwargs)
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if response.status_code != 401:
                response.raise_for_status()
                return response
            challenge = response.headers.get("www-authenticate", "")
            params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            token = httpx.get(params["realm"], params={"service": params.get("service", ""),
                                                       "scope": params.get("scope", "")},
                              auth=self.credentials, timeout=10).json()
            self._token = token["token"]
        response.raise_for_status()
        return response

    def blob(self, repo: str, data: bytes) -> str:
        digest = digest_of(data)
        if self.http.head(f"/v2/{repo}/blobs/{digest}",
                          headers={"Authorization": f"Bearer {self._token}"} if self._token else {}).status_code == 200:
            return digest
        started = self._send("POST", f"/v2/{repo}/blobs/uploads/")
        location = started.headers["location"]
        sep = "&" if "?" in location else "?"
        self._send("PUT", f"{location}{sep}digest={digest}", content=data,
                   headers={"Content-Type": "application/octet-stream"})
        return digest

    def manifest(self, repo: str, reference: str, body: dict, media_type: str) -> str:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._send("PUT", f"/v2/{repo}/manifests/{reference}", content=data, headers={"Content-Type": media_type})
        return digest_of(data)

    def image(self, repo: str, spec: PlatformSpec, *, docker_types: bool = False) -> tuple[str, int]:
        """Push one platform's config, layer and manifest (untagged); return (manifest digest, size)."""
        os_name, arch = spec.platform.split("/")[:2]
        layer = layer_tar(spec.files)
        diff_id = digest_of(gzip.decompress(layer))
        config: dict = {
            "architecture": arch, "os": os_name, "created": spec.created,
            "config": {"Env": [f"{k}={v}" for k, v in spec.env.items()]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        if spec.entrypoint is not None:
            config["config"]["Entrypoint"] = spec.entrypoint
        if spec.cmd is not None:
            config["config"]["Cmd"] = spec.cmd
        if spec.exposed_ports:
            config["config"]["ExposedPorts"] = {p: {} for p in spec.exposed_ports}
        if spec.labels:
            config["config"]["Labels"] = spec.labels
        config_data = json.dumps(config).encode()
        config_digest = self.blob(repo, config_data)
        layer_digest = self.blob(repo, layer)
        media = DOCKER_MANIFEST if docker_types else OCI_MANIFEST
        body = {
            "schemaVersion": 2, "mediaType": media,
            "config": {"mediaType": DOCKER_CONFIG if docker_types else OCI_CONFIG, "digest": config_digest,
                       "size": len(config_data)},
            "layers": [{"mediaType": DOCKER_LAYER if docker_types else OCI_LAYER, "digest": layer_digest,
                        "size": len(layer)}],
        }
        data = json.dumps(body, separators=(",", ":")).encode()
        digest = self.manifest(repo, digest_of(data), body, media)
        return digest, len(data)

    def push(self, repo: str, tag: str, specs: list[PlatformSpec], *, index: bool = True,
             docker_types: bool = False) -> Pushed:
        """Push the platforms and tag them: as a manifest list/index, or (one platform, index=False) directly."""
        made = [(spec, *self.image(repo, spec, docker_types=docker_types)) for spec in specs]
        if not index:
            assert len(made) == 1
            spec, digest, _ = made[0]
            manifest = self.http.get(f"/v2/{repo}/manifests/{digest}", headers={
                "Accept": DOCKER_MANIFEST if docker_types else OCI_MANIFEST,
                **({"Authorization": f"Bearer {self._token}"} if self._token else {})}).content
            self._send("PUT", f"/v2/{repo}/manifests/{tag}", content=manifest,
                       headers={"Content-Type": DOCKER_MANIFEST if docker_types else OCI_MANIFEST})
            return Pushed(f"{self.host}/{repo}:{tag}", digest, {spec.platform: digest})
        media = DOCKER_LIST if docker_types else OCI_INDEX
        entries = []
        for spec, digest, size in made:
            os_name, arch = spec.platform.split("/")[:2]
            platform = {"os": os_name, "architecture": arch}
            if arch == "arm64":
                platform["variant"] = "v8"
            entries.append({"mediaType": DOCKER_MANIFEST if docker_types else OCI_MANIFEST, "digest": digest,
                            "size": size, "platform": platform})
        body = {"schemaVersion": 2, "mediaType": media, "manifests": entries}
        digest = self.manifest(repo, tag, body, media)
        return Pushed(f"{self.host}/{repo}:{tag}", digest, {s.platform: d for s, d, _ in made})
