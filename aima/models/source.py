"""Where a model's files come from: a Hugging Face repository at a revision, and the files with sizes and digests."""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMIT = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
SHA1 = re.compile(r"^[0-9a-f]{40}$")
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: its path in the repository, its size in bytes and the digests that prove it."""

    path: str
    size: int | None = None  # bytes; None: learnt from the server before downloading
    sha256: str | None = None  # the catalogue's (LFS files); the server's X-Linked-Etag otherwise
    sha1: str | None = None  # a plain SHA-1 where that is what upstream publishes (whisper.cpp's models/README)


@dataclass(frozen=True)
class ModelSource:
    """A Hugging Face repository (ORG/REPO) at a revision, and the files a model needs from it."""

    repo: str
    revision: str  # a commit (pinned) or a branch/tag such as main
    files: tuple[ModelFile, ...]
    gated: bool = False  # the repository asks users to accept terms: a token is needed
    entry: str | None = None  # the path the engine is given; None: the snapshot folder (a safetensors set)
    folder: bool = False  # hf://ORG/REPO: the whole snapshot; files come from the hub's listing (aima.models.folder)
    listed_at: str | None = None  # the commit a folder's files were listed at (the plan's listing)

    @property
    def pinned(self) -> bool:
        """True when the revision is a full commit hash."""
        return bool(COMMIT.match(self.revision))

    @property
    def known_bytes(self) -> int:
        """The sum of the sizes the catalogue knows."""
        return sum(f.size or 0 for f in self.files)

    @property
    def uri(self) -> str:
        """hf://ORG/REPO[/ENTRY]@REVISION, the form a stack file accepts."""
        return f"hf://{self.repo}" + (f"/{self.entry}" if self.entry else "") + f"@{self.revision}"


def check_repo_path(path: str) -> str | None:
    """Why a file path inside a repository is unsafe (absolute, '..', empty parts, control characters), or None."""
    parts = path.split("/")
    if (path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path)):  # a newline or ESC cannot be a cache file name
        return f"{path!r} is not a plain relative path inside the repository"
    return None


def parse_hf_uri(uri: str) -> ModelSource:
    """hf://ORG/REPO/PATH/FILE[@REVISION] (ramalama's convention) -> a one-file source (a split GGUF: every shard);
    hf://ORG/REPO[@REVISION] -> the repository's snapshot folder (a vLLM model), its files listed by the hub at
    pull time. ValueError says what is wrong."""
    form = "hf://ORG/REPO[/PATH/FILE][@REVISION]"
    if not uri.startswith("hf://"):
        raise ValueError(f"{uri!r} is not an hf:// URI ({form})")
    rest = uri[len("hf://"):]
    revision = "main"
    if "@" in rest:
        rest, revision = rest.rsplit("@", 1)
        if not _REVISION.match(revision) or ".." in revision:
            raise ValueError(f"{uri!r}: revision {revision!r} is not a commit, branch or tag name")
    parts = rest.split("/")
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"{uri!r}: expected {form} (a repository, or a file inside it)")
    org, name, path = parts[0], parts[1], "/".join(parts[2:])
    for part in (org, name):
        if not _REPO_PART.match(part) or ".." in part:
            raise ValueError(f"{uri!r}: {part!r} is not a Hugging Face organisation or repository name")
    if not path:
        return ModelSource(repo=f"{org}/{name}", revision=revision, files=(), folder=True)
    problem = check_repo_path(path)
    if problem:
        raise ValueError(f"{uri!r}: {problem}")
    return ModelSource(repo=f"{org}/{name}", revision=revision, files=tuple(ModelFile(p) for p in shards(path)),
                       entry=path)


_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


def shards(path: str) -> list[str]:
    """A split GGUF's every shard (llama.cpp loads shard 1 and finds the rest beside it); any other path alone."""
    m = _SHARD.match(path)
    if not m or not 1 <= int(m["count"]) <= 999:
        return [path]
    count = int(m["count"])
    return [f"{m['stem']}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
