"""Parsed input files cached on disk, keyed by their content and by aima's own code.

Reading the catalogue and a hardware profile means importing PyYAML and validating every key: most of what
`aima plan` costs after the interpreter and the CLI parser. The validated value (frozen dataclasses) is the
same as long as the file's bytes and aima's code are the same, so it is kept as a pickle in
``$XDG_CACHE_HOME/aima/parsed`` (else ``~/.cache/aima/parsed``) and read back in well under a millisecond.
A file that fails validation is never cached, so its error is reported on every run. Only aima's own classes
and plain containers are unpickled, and any problem with the cache (missing, stale, unreadable, not
writable) falls back to reading the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from aima.errors import AimaError
from aima.paths import warn_once

T = TypeVar("T")

_CODE = Path(__file__).parent
_MAX_CACHED_BYTES = 4 << 20  # above the YAML reader's own 1 MiB limit
_PLAIN = frozenset({("builtins", "frozenset"), ("builtins", "set"), ("builtins", "tuple"), ("builtins", "list"),
                    ("builtins", "dict"), ("builtins", "complex"), ("copyreg", "_reconstructor"),
                    ("builtins", "object")})


def cache_home(environ: Mapping[str, str] | None = None) -> Path:
    """aima's cache folder: ``$XDG_CACHE_HOME/aima``, else ``~/.cache/aima`` (aima.paths)."""
    from aima.paths import cache_home as base

    return base(environ) / "aima"


def cached(kind: str, path: Path, read: Callable[[Path], T], cache_dir: Path | None = None) -> T:
    """``read(path)``, or the value an earlier run got from the same bytes with the same code."""
    try:
        info = path.stat()
        # Only regular files of a sane size are hashed: /dev/zero or a FIFO would never end (the reader refuses
        # them with file:line, tests/fuzz), and a huge file is the reader's to refuse.
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_CACHED_BYTES:
            return read(path)
        data = path.read_bytes()
    except OSError:
        return read(path)  # the reader says what is wrong with the file, as it would without a cache
    key = hashlib.sha256(b"\0".join([kind.encode(), os.fsencode(path), _code_fingerprint(), data])).digest()
    try:
        folder = cache_dir or cache_home() / "parsed"
    except AimaError:  # no usable home folder: read without a cache (whatever needs the home folder says why)
        return read(path)
    # One entry per (kind, path): an edited file replaces its old entry instead of adding one.
    entry = folder / f"{kind}-{hashlib.sha256(os.fsencode(path)).hexdigest()[:24]}.pickle"
    try:
        with entry.open("rb") as f:
            if f.read(len(key)) == key:
                value: T = _Unpickler(f).load()
                return value
    except Exception:  # noqa: BLE001 - any damage to the cache only costs a fresh read
        pass
    value = read(path)
    _store(entry, key, value)
    return value


def _store(entry: Path, key: bytes, value: object) -> None:
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(key + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, entry)
    except Exception as exc:  # noqa: BLE001 - a read-only or full cache folder only costs speed
        with contextlib.suppress(OSError):
            tmp.unlink()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        warn_once(f"cannot write aima's parse cache in {entry.parent} ({why}): results are not kept, so each run "
                  "reads its files again (set XDG_CACHE_HOME to a writable absolute path)")


def _code_fingerprint() -> bytes:
    """Size and mtime of every module of aima: a changed reader or data class makes every entry stale."""
    parts = []
    for folder, _, files in os.walk(_CODE):
        for name in files:
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                parts.append(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(sorted(parts)).encode()


class _Unpickler(pickle.Unpickler):
    """Builds aima's own classes and plain containers only; anything else in a cache file is refused."""

    def find_class(self, module: str, name: str) -> type:
        if module == "aima" or module.startswith("aima.") or (module, name) in _PLAIN:
            found: type = super().find_class(module, name)
            return found
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in aima's parse cache")
