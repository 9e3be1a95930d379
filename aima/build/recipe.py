"""Recipes as data: the content hash that names a build, the Dockerfile's facts, and the static checks.

Pure apart from reading the recipe's own small files: no Docker here. The builder (aima.build.builder)
carries a BuildPlan out; `aima plan` shows it; tests/build checks every shipped recipe with ``check_recipe``.
"""

from __future__ import annotations

import hashlib
import io
import re
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path

from aima.catalog.cuda import parse_targets
from aima.catalog.model import Candidate
from aima.plan_types import BuildPlan

HASH_FORMAT = "aima-recipe-1"  # bump when the hash would cover something else for the same recipe
LABEL_RECIPE = "aima.recipe"
LABEL_RECIPE_HASH = "aima.recipe-hash"
LABEL_CANDIDATE = "aima.build-candidate"
LABEL_ARG_PREFIX = "aima.build-arg."
_SKIP = ("__pycache__", ".git")
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::[-+][^}]*)?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def recipe_files(recipe_dir: str | Path) -> list[tuple[str, bytes]]:
    """Every file of a recipe folder as (relative path, bytes), sorted; hidden files and caches left out."""
    root = Path(recipe_dir)
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") or part in _SKIP for part in rel.parts):
            continue
        out.append((rel.as_posix(), path.read_bytes()))
    return out


def recipe_hash(recipe_dir: str | Path, args: tuple[tuple[str, str], ...]) -> str:
    """sha256 over the recipe's files and its build arguments: a changed recipe or argument is a new build."""
    digest = hashlib.sha256(HASH_FORMAT.encode() + b"\n")
    for name, data in recipe_files(recipe_dir):
        digest.update(f"file {name} {len(data)}\n".encode())
        digest.update(data)
    for key, value in sorted(args):
        digest.update(f"arg {key}={value}\n".encode())
    return digest.hexdigest()


def hash_tag(image: str, digest: str) -> str:
    """The second tag every build gets: the catalogue image's repository with the recipe hash as tag."""
    name = image.split("@", 1)[0]
    repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return f"{repo}:aima-{digest[:16]}"


def build_labels(plan: BuildPlan) -> dict[str, str]:
    """The labels a built image carries: recipe, content hash, candidate and every build argument."""
    labels = {LABEL_RECIPE: plan.recipe, LABEL_RECIPE_HASH: plan.recipe_hash, LABEL_CANDIDATE: plan.candidate}
    labels.update({LABEL_ARG_PREFIX + k: v for k, v in plan.args})
    return labels


def context_tar(recipe_dir: str | Path) -> bytes:
    """The recipe folder as a build context (an uncompressed tar), with fixed times so it is reproducible."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in recipe_files(recipe_dir):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# --- the Dockerfile's facts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stage:
    """One FROM ... section: its base (as written), the ARGs it declares, its ENTRYPOINT, PATH and commands."""

    base: str
    name: str | None
    args: tuple[tuple[str, str | None], ...]
    entrypoint: tuple[str, ...] | None
    path_env: str | None
    instructions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Dockerfile:
    """What the static checks and `aima plan` need to know about a recipe's Dockerfile."""

    global_args: tuple[tuple[str, str | None], ...]
    stages: tuple[Stage, ...]
    comments: tuple[str, ...]
    text: str

    def declared(self) -> dict[str, str | None]:
        """Every ARG (global and per stage) with its first default."""
        found: dict[str, str | None] = {}
        for name, default in self.global_args + tuple(a for s in self.stages for a in s.args):
            found.setdefault(name, default)
        return found

    def base_images(self, args: dict[str, str]) -> tuple[str, ...]:
        """Every stage's base image with build arguments filled in (catalogue value, else the ARG default)."""
        values = {k: v for k, v in self.global_args if v is not None} | dict(args)
        names = {s.name for s in self.stages if s.name}
        return tuple(expand(s.base, values) for s in self.stages if s.base not in names)


def _logical_lines(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(instruction, rest) pairs with continuation lines joined, and the comment lines."""
    lines, comments, current = [], [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            comments.append(stripped[1:].strip())
            continue
        if not stripped and not current:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            word, _, rest = current.strip().partition(" ")
            lines.append((word.upper(), rest.strip()))
        current = ""
    return lines, comments


def _arg(rest: str) -> tuple[str, str | None]:
    name, eq, default = rest.partition("=")
    if not eq:
        return name.strip(), None
    default = default.strip()
    if len(default) >= 2 and default[0] == default[-1] and default[0] in "\"'":
        default = default[1:-1]
    return name.strip(), default


def parse_dockerfile(text: str) -> Dockerfile:
    """Read ARGs, stages, ENTRYPOINT and PATH from a Dockerfile (the subset recipes use)."""
    import json

    lines, comments = _logical_lines(text)
    global_args: list[tuple[str, str | None]] = []
    stages: list[dict] = []
    for word, rest in lines:
        if word == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"base": parts[0], "name": name, "args": [], "entrypoint": None, "path": None, "ins": []})
            continue
        if word == "ARG":
            (stages[-1]["args"] if stages else global_args).append(_arg(rest))
            continue
        if not stages:
            continue
        stage = stages[-1]
        stage["ins"].append((word, rest))
        if word == "ENTRYPOINT":
            try:
                value = json.loads(rest)
                stage["entrypoint"] = tuple(value) if isinstance(value, list) else None
            except ValueError:
                stage["entrypoint"] = ("/bin/sh", "-c", rest)
        elif word == "ENV":
            for token in shlex.split(rest):
                key, eq, value = token.partition("=")
                if eq and key == "PATH":
                    stage["path"] = value
    return Dockerfile(
        global_args=tuple(global_args),
        stages=tuple(Stage(s["base"], s["name"], tuple(s["args"]), s["entrypoint"], s["path"], tuple(s["ins"]))
                     for s in stages),
        comments=tuple(comments), text=text)


def read_dockerfile(recipe_dir: str | Path) -> Dockerfile:
    """The recipe's Dockerfile, parsed."""
    return parse_dockerfile((Path(recipe_dir) / "Dockerfile").read_text(encoding="utf-8"))


def expand(text: str, values: dict[str, str]) -> str:
    """Fill ${NAME} and $NAME from values; unknown names stay as written."""
    def sub(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("plain")
        return values.get(name, m.group(0))

    return _VAR.sub(sub, text)


def ggml_archs(cmake_list: str) -> str:
    """A CMAKE_CUDA_ARCHITECTURES list as ggml builds it: plain 12X becomes 12Xa (ggml-cuda/CMakeLists.txt)."""
    return ";".join(re.sub(r"^(12\d)((?:-real|-virtual)?)$", r"\1a\2", a.strip())
                    for a in re.split(r"[;,\s]+", cmake_list) if a.strip())


# --- the build plan and the checks ---------------------------------------------------------------------

def build_plan(candidate: Candidate) -> BuildPlan:
    """What `aima build` would do for a candidate (reads the recipe's files; candidate.build must be set)."""
    build = candidate.build
    assert build is not None
    dockerfile = read_dockerfile(build.recipe_dir)
    return BuildPlan(
        engine=candidate.engine, candidate=candidate.id, image=candidate.image, recipe=build.recipe,
        recipe_dir=build.recipe_dir, args=build.args, base_images=dockerfile.base_images(dict(build.args)),
        minutes=build.minutes, disk_gib=build.disk_gib, recipe_hash=recipe_hash(build.recipe_dir, build.args),
        archs=candidate.archs,
    )


def check_recipe(candidate: Candidate, *, cuda_bases: bool = True) -> list[str]:
    """What is wrong between a build candidate and its recipe, one sentence each; [] when they agree.

    ``cuda_bases`` adds the rules for real GPU recipes (nvidia/cuda devel and runtime images of the catalogue's
    CUDA, the arch list in CUDA_ARCHITECTURES); stand-in recipes in tests build on other images.
    """
    build = candidate.build
    if build is None:
        return []
    try:
        dockerfile = read_dockerfile(build.recipe_dir)
    except OSError as exc:
        return [f"cannot read the recipe's Dockerfile: {exc}"]
    if not dockerfile.stages:
        return ["the Dockerfile has no FROM"]
    problems: list[str] = []
    declared = dockerfile.declared()
    body = "\n".join(f"{w} {r}" for s in dockerfile.stages for w, r in s.instructions)
    body += "\n" + "\n".join(s.base for s in dockerfile.stages)
    used = {m.group("braced") or m.group("plain") for m in _VAR.finditer(body)}
    for name in declared:
        if name not in used:
            problems.append(f"build argument {name} is declared but never used")
    for name, _ in build.args:
        if name not in declared:
            problems.append(f"the catalogue sets build argument {name}, which the Dockerfile does not declare")
    args = dict(build.args)
    values = {k: v for k, v in declared.items() if v is not None} | args
    final = dockerfile.stages[-1]
    bases = dockerfile.base_images(args)
    final_base = expand(final.base, values)
    cuda = str(candidate.cuda) if candidate.cuda else None  # a CudaVersion: "12.8"
    if candidate.gpu and cuda_bases:
        devel = [b for b in bases if re.match(r"^(docker\.io/)?nvidia/cuda:[\d.]+-(cudnn-)?devel-", b)]
        if not devel:
            problems.append(f"a GPU recipe compiles on an nvidia/cuda devel image; bases are {', '.join(bases)}")
        m = re.match(r"^(?:docker\.io/)?nvidia/cuda:(\d+\.\d+)(?:\.\d+)?-(?:cudnn-)?runtime-", final_base)
        if not m:
            problems.append(f"a GPU recipe runs on an nvidia/cuda runtime image; the final stage is {final_base}")
        elif cuda and m.group(1) != cuda:
            problems.append(f"the catalogue says CUDA {cuda}, the runtime image is {final_base}")
        for image in devel:
            version = re.match(r"^(?:docker\.io/)?nvidia/cuda:(\d+\.\d+)", image)
            if version and cuda and version.group(1) != cuda:
                problems.append(f"the catalogue says CUDA {cuda}, the build image is {image}")
        cmake = values.get("CUDA_ARCHITECTURES")
        if cmake is None:
            problems.append("a GPU recipe takes its arch list from build argument CUDA_ARCHITECTURES")
        elif candidate.archs:
            built = {str(t) for t in parse_targets(ggml_archs(cmake))}
            promised = {str(t) for t in parse_targets(candidate.archs)}
            if built != promised:
                problems.append(f"CUDA_ARCHITECTURES={cmake} builds {', '.join(sorted(built))}; the catalogue "
                                f"promises {', '.join(sorted(promised))}")
    elif not candidate.gpu and "nvidia/cuda" in " ".join(bases):
        problems.append("a CPU candidate's recipe should not build on an nvidia/cuda image")
    if candidate.entrypoint is not None and final.entrypoint != tuple(candidate.entrypoint):
        problems.append(f"the catalogue runs entrypoint {list(candidate.entrypoint)}, the image's ENTRYPOINT is "
                        f"{list(final.entrypoint) if final.entrypoint else 'not set'}")
    binary = _binary(candidate)
    if binary:
        checked = re.search(rf"test -x (?P<dir>\S+)/{re.escape(binary)}\b", dockerfile.text)
        if not checked:
            problems.append(f"the recipe never checks that it built {binary} (`test -x <dir>/{binary}`)")
        elif final.path_env is None or checked.group("dir") not in final.path_env.split(":"):
            problems.append(f"{binary} is installed in {checked.group('dir')}, which is not on the final stage's PATH")
    if not any(c.lower().startswith("source:") for c in dockerfile.comments):
        problems.append("the Dockerfile does not state its source (a '# source:' comment)")
    if "org.opencontainers.image.source" not in dockerfile.text:
        problems.append("the image does not carry an org.opencontainers.image.source label")
    return problems


def _binary(candidate: Candidate) -> str | None:
    """The program the catalogue's command starts: the first word of a shell string, or of the command."""
    if candidate.entrypoint and tuple(candidate.entrypoint[-1:]) == ("-c",) and candidate.command:
        return candidate.command[0].split()[0]
    if candidate.command:
        return candidate.command[0].split()[0]
    return None


def prove(promised: str | None, sass: tuple[str, ...], ptx: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(found, missing): what the binaries carry against what the catalogue promised (parse_targets spellings)."""
    found = tuple(sass) + tuple(ptx)
    if not promised:
        return found, ()
    have = set(found)
    missing = tuple(str(t) for t in parse_targets(promised) if str(t) not in have)
    return found, missing
