"""Strict YAML reading: every value keeps its file and line so errors can name file:line: key."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aima.errors import ConfigError

# Bounds on what aima reads: its own files are tens of KiB and about a thousand nodes. A file past these
# is a mistake or an attack (an alias bomb, /dev/zero, millions of keys), refused before it costs minutes.
MAX_FILE_BYTES = 1 << 20  # 1 MiB: parsing takes well under a second at this size
MAX_NODES = 100_000  # YAML nodes after alias expansion
MAX_KEYS = 10_000  # keys in one mapping
MAX_DEPTH = 64  # nesting of lists and mappings

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


@dataclass(frozen=True)
class Value:
    """One YAML value with where it came from; typed accessors raise ConfigError naming file:line: key."""

    path: str
    line: int
    key: str  # dotted path from the document root, e.g. "engines.llm[0].image"
    node: Any  # a yaml.Node

    # -- errors ---------------------------------------------------------------------------------
    def error(self, problem: str, *, hint: str | None = None) -> ConfigError:
        """A ConfigError located at this value."""
        return ConfigError(self.path, self.line, self.key or None, problem, hint=hint)

    # -- scalars --------------------------------------------------------------------------------
    @property
    def is_null(self) -> bool:
        import yaml

        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == "tag:yaml.org,2002:null"

    def plain(self) -> Any:
        """The value as plain Python (dicts, lists, scalars), without locations."""
        import yaml

        node = self.node
        if isinstance(node, yaml.MappingNode):
            return {k: v.plain() for k, v in self._pairs()}
        if isinstance(node, yaml.SequenceNode):
            return [item.plain() for item in self.items()]
        return _construct_scalar(node)

    def _scalar(self, kind: type, what: str) -> Any:
        import yaml

        if not isinstance(self.node, yaml.ScalarNode):
            shape = "list" if isinstance(self.node, yaml.SequenceNode) else "mapping"
            raise self.error(f"must be {what}, not a {shape}")
        value = _construct_scalar(self.node)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool) and not self.node.style:
            # An unquoted 12.4 or 550 written where text is expected: keep the author's spelling.
            value = self.node.value
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise self.error(f"must be {what}, got {self.node.value!r}")
        return value

    def str(self) -> str:
        """The value as a non-empty string."""
        value = self._scalar(str, "a string")
        if not value.strip():
            raise self.error("must not be empty")
        return value

    def int(self, *, min: int | None = None, max: int | None = None) -> int:
        """The value as an integer within [min, max]."""
        value = self._scalar(int, "an integer")
        _check_range(self, value, min, max)
        return value

    def float(self, *, min: float | None = None, max: float | None = None) -> float:
        """The value as a number within [min, max]."""
        value = self._scalar(float, "a number")
        _check_range(self, value, min, max)
        return value

    def bool(self) -> bool:
        """The value as true/false."""
        return self._scalar(bool, "true or false")

    def choice(self, allowed: tuple[builtins.str, ...] | list[builtins.str]) -> builtins.str:
        """A string that must be one of ``allowed``."""
        value = self.str()
        if value not in allowed:
            raise self.error(f"must be one of {', '.join(allowed)}; got {value!r}")
        return value

    def str_list(self) -> list[builtins.str]:
        """A list of strings (a single string is accepted as a list of one)."""
        import yaml

        if isinstance(self.node, yaml.ScalarNode):
            return [self.str()]
        return [item.str() for item in self.items()]

    def str_map(self) -> dict[builtins.str, builtins.str]:
        """A mapping of string keys to scalar values rendered as strings (env blocks, labels)."""
        out: dict[str, str] = {}
        for key, value in self._pairs():
            scalar = value._scalar(object, "a scalar")
            # The text as written: YAML 1.1 would turn 1.50 into 1.5, 0x1F or 017 into 31 or 15, and yes/on into
            # true, changing what the program in the container reads.
            out[key] = "" if scalar is None else value.node.value
        return out

    # -- collections ----------------------------------------------------------------------------
    def items(self) -> list[Value]:
        """The elements of a list."""
        import yaml

        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error("must be a list")
        return [Value(self.path, item.start_mark.line + 1, f"{self.key}[{i}]", item)
                for i, item in enumerate(self.node.value)]

    def mapping(self, *, allowed: tuple[builtins.str, ...] | set[builtins.str] | None = None,
                required: tuple[builtins.str, ...] | set[builtins.str] = ()) -> dict[builtins.str, Value]:
        """The entries of a mapping; unknown keys (when ``allowed`` is given) and missing required keys are errors."""
        pairs = dict(self._pairs())
        if allowed is not None:
            for key, value in pairs.items():
                if key not in allowed:
                    known = ", ".join(sorted(allowed))
                    raise ConfigError(self.path, value.line, value.key, "unknown key", hint=f"known keys here: {known}")
        for key in required:
            if key not in pairs:
                raise self.error(f"missing required key {key!r}")
        return pairs

    def _pairs(self) -> Iterator[tuple[builtins.str, Value]]:
        import yaml

        if not isinstance(self.node, yaml.MappingNode):
            raise self.error("must be a mapping (key: value)")
        seen: set[builtins.str] = set()
        out = []
        for key_node, value_node in self.node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(self.path, key_node.start_mark.line + 1, self.key or None,
                                  "keys must be plain strings")
            key = str(key_node.value)
            child_key = f"{self.key}.{key}" if self.key else key
            if key in seen:
                raise ConfigError(self.path, key_node.start_mark.line + 1, child_key, "duplicate key")
            seen.add(key)
            out.append((key, Value(self.path, key_node.start_mark.line + 1, child_key, value_node)))
        return iter(out)


def _check_range(value: Value, number: float, low: float | None, high: float | None) -> None:
    if low is not None and number < low:
        raise value.error(f"must be at least {low}, got {number}")
    if high is not None and number > high:
        raise value.error(f"must be at most {high}, got {number}")


@functools.lru_cache(maxsize=1)
def _constructor() -> Any:
    import yaml

    return yaml.SafeLoader("")


def _construct_scalar(node: Any) -> Any:
    # SafeConstructor resolves the scalar by its implicit tag, exactly as yaml.safe_load would.
    return _constructor().construct_object(node, deep=True)


def _loader() -> Any:
    import yaml

    # LibYAML's parser is about ten times faster and keeps the same marks (file lines).
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str, path: str) -> Value:
    """Parse YAML text into a located root Value; syntax errors, bombs and huge documents name file:line."""
    import yaml

    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(path, None, None, f"too large ({len(text)} characters; aima reads at most "
                                            f"{MAX_FILE_BYTES // 1024} KiB)")
    try:
        node = yaml.compose(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(path, line, None, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:  # ReaderError (bad characters) has no marks; keep its first line
        raise ConfigError(path, None, None, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if node is None:
        raise ConfigError(path, 1, None, "the file is empty")
    _check_graph(node, path)
    return Value(path, node.start_mark.line + 1, "", node)


_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq",
                                                           "timestamp"))


def _children(node: Any) -> list[Any]:
    if not isinstance(node.value, list):
        return []
    return [n for item in node.value for n in (item if isinstance(item, tuple) else (item,))]


def _check_graph(root: Any, path: str) -> None:
    """Refuse explicit tags, recursive aliases, oversized mappings and documents that expand past MAX_NODES.

    Aliases make the node tree a graph that shares nodes; the expanded size is counted once per distinct
    node, so an alias bomb is measured in microseconds and refused before anything walks it.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order walk: (node, children visited?) so deep nesting cannot hit Python's recursion limit.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(child)] for child in children)
            depth[key] = 1 + max((depth[id(child)] for child in children), default=0)
            if depth[key] > MAX_DEPTH:
                raise ConfigError(path, node.start_mark.line + 1, None,
                                  f"nested more than {MAX_DEPTH} levels deep")
            if total > MAX_NODES:
                raise ConfigError(path, node.start_mark.line + 1, None,
                                  f"expands to more than {MAX_NODES} values (aliases repeated too often?); "
                                  "aima's files are far smaller")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError(path, node.start_mark.line + 1, None, "an alias refers to itself (recursive anchor)")
        if node.tag not in _PLAIN_TAGS:
            raise ConfigError(path, node.start_mark.line + 1, None, f"unsupported YAML tag {node.tag!r}")
        if isinstance(node.value, list) and node.tag.endswith(":map") and len(node.value) > MAX_KEYS:
            raise ConfigError(path, node.start_mark.line + 1, None,
                              f"a mapping with {len(node.value)} keys; aima reads at most {MAX_KEYS}")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def load(path: str | Path) -> Value:
    """Read and parse a YAML file; a missing, unreadable, non-regular or oversized file is a ConfigError."""
    import os
    import stat

    p = Path(path)
    try:
        info = os.stat(p)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(str(p), None, None, "is a directory, not a YAML file")
        if not stat.S_ISREG(info.st_mode):
            # /dev/zero, a FIFO or a socket would never end (or never start); only plain files are read.
            raise ConfigError(str(p), None, None, "not a regular file (a device, pipe or socket); give a YAML file")
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(str(p), None, None, f"too large ({info.st_size} bytes; aima reads at most "
                                                  f"{MAX_FILE_BYTES // 1024} KiB)")
        with open(p, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), None, None, "no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), None, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(str(p), None, None, f"cannot read: {exc.strerror or exc}") from None
    return parse(text, str(p))
