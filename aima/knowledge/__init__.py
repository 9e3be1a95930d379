"""The failure knowledge base: log-line signatures from signatures.yaml, matched against engine logs.

A leaf package: it imports nothing of aima but the YAML reader, so `launch` (log watching during `up`),
`diagnose` (doctor) and the Docker error translation all use it without importing each other.

`aima up` calls ``match_line`` on every new log line of a starting engine (and on Docker's error messages);
`aima doctor` calls ``diagnose`` on a whole log. When ``match_line`` answers with a wrapper (a line that only
says "failed, see above"), ``first`` on the lines seen so far prefers a specific cause printed earlier.
docs/troubleshooting.md is ``render_markdown`` of the shipped file:
``python -m aima.knowledge --markdown > docs/troubleshooting.md``.
"""

from __future__ import annotations

import functools
import importlib
import re
import string
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aima import yamlfile
from aima.engines import ENGINES
from aima.sources import public_list

DEFAULT_PATH = Path(__file__).with_name("signatures.yaml")
REGENERATE = "python -m aima.knowledge --markdown > docs/troubleshooting.md"
SEVERITIES = ("fatal", "warning")

_KEYS = ("id", "title", "pattern", "patterns", "engines", "meaning", "remedy", "source", "severity", "fallback",
         "wrapper", "extract", "examples", "exit_codes")
_REQUIRED = ("id", "title", "engines", "meaning", "remedy", "source")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MIN_NEEDLE = 3


@dataclass(frozen=True)
class Diagnosis:
    """One recognised log line: what it means and what to do (plain text; backticks mark commands)."""

    signature_id: str
    title: str
    meaning: str  # with the line's captured values filled in
    remedy: str
    source: str
    line: str
    line_number: int | None  # 1-based position in the scanned lines; None for a single match_line call
    fallback: bool  # trying the engine's next candidate image is the right reaction
    severity: str  # "fatal" or "warning"
    wrapper: bool = False  # only says "something failed above"; a specific cause in the same log is better

    @property
    def fatal(self) -> bool:
        """True when the engine cannot come up, so waiting for it is pointless."""
        return self.severity == "fatal"


@dataclass(frozen=True)
class Signature:
    """One entry of signatures.yaml."""

    id: str
    title: str
    patterns: tuple[str, ...]
    engines: frozenset[str]
    meaning: str  # may hold {name} placeholders for the groups in ``extract``
    remedy: str
    sources: tuple[str, ...]
    severity: str = "fatal"
    fallback: bool = False
    wrapper: bool = False
    extract: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)
    exit_codes: tuple[int, ...] = ()  # a container exit code that says this without any log line (132: SIGILL)

    @property
    def rank(self) -> int:
        """Order among diagnoses of one log: specific fatal causes, then wrappers, then warnings."""
        if self.severity == "warning":
            return 2
        return 1 if self.wrapper else 0

    def diagnosis(self, match: re.Match[str], line: str, line_number: int | None) -> Diagnosis:
        """The Diagnosis for a line this signature matched."""
        values = {name: match.group(name) or "?" for name in self.extract}
        return Diagnosis(
            signature_id=self.id, title=self.title, meaning=self.meaning.format_map(values),
            remedy=self.remedy.format_map(values), source=public_list(self.sources), line=line,
            line_number=line_number, fallback=self.fallback, severity=self.severity, wrapper=self.wrapper,
        )


@dataclass(frozen=True)
class _Check:
    needle: str | None  # a literal every match contains: a cheap `in` test before the regex runs
    fold: bool  # the regex ignores case, so the needle is lower-case and tested against line.lower()
    regex: re.Pattern[str]
    signature: Signature


class KnowledgeBase:
    """The loaded signatures, ready to match log lines."""

    def __init__(self, signatures: Sequence[Signature], path: str = "<memory>") -> None:
        self.signatures = tuple(signatures)
        self.path = path
        self._by_id = {s.id: s for s in self.signatures}
        checks = [_Check(*_needle(rx), rx, s) for s in self.signatures for rx in s.compiled]
        self._checks: dict[str | None, tuple[_Check, ...]] = {None: tuple(checks)}
        for engine in ENGINES:
            self._checks[engine] = tuple(c for c in checks if engine in c.signature.engines)

    def __iter__(self):
        return iter(self.signatures)

    def __len__(self) -> int:
        return len(self.signatures)

    def get(self, signature_id: str) -> Signature | None:
        """The signature with this id, or None."""
        return self._by_id.get(signature_id)

    def match_line(self, line: str, engine: str | None = None, *, line_number: int | None = None) -> Diagnosis | None:
        """The first signature (in file order) that matches this log line, for this engine or any engine."""
        try:
            checks = self._checks[engine]
        except KeyError:
            raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}") from None
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        lowered: str | None = None
        for check in checks:
            if check.needle is not None:
                if check.fold:
                    if lowered is None:
                        lowered = line.lower()
                    if check.needle not in lowered:
                        continue
                elif check.needle not in line:
                    continue
            match = check.regex.search(line)
            if match:
                return check.signature.diagnosis(match, line.rstrip("\r\n"), line_number)
        return None

    def match_exit(self, exit_code: int | None, engine: str | None = None) -> Diagnosis | None:
        """The first signature that recognises a container's exit code (for this engine), or None."""
        if exit_code is None:
            return None
        for s in self.signatures:
            if exit_code in s.exit_codes and (engine is None or engine in s.engines):
                return Diagnosis(
                    signature_id=s.id, title=s.title, meaning=s.meaning, remedy=s.remedy, source=public_list(s.sources),
                    line=f"exited with code {exit_code}", line_number=None, fallback=s.fallback, severity=s.severity,
                    wrapper=s.wrapper)
        return None

    def diagnose(self, lines: Iterable[str], engine: str | None = None) -> list[Diagnosis]:
        """Every signature found in a log (first occurrence each), specific causes before wrappers and warnings."""
        found: dict[str, Diagnosis] = {}
        for number, line in enumerate(lines, start=1):
            diagnosis = self.match_line(line, engine, line_number=number)
            if diagnosis is not None and diagnosis.signature_id not in found:
                found[diagnosis.signature_id] = diagnosis
        return sorted(found.values(), key=lambda d: (self._by_id[d.signature_id].rank, d.line_number))

    def first(self, lines: Iterable[str], engine: str | None = None) -> Diagnosis | None:
        """The most telling diagnosis of a log, or None when nothing is recognised."""
        found = self.diagnose(lines, engine)
        return found[0] if found else None


def load_knowledge(path: str | Path | None = None) -> KnowledgeBase:
    """Read and strictly validate a signatures file; the shipped one (path None) is read once and cached."""
    return _shipped() if path is None else _load(Path(path))


@functools.lru_cache(maxsize=1)
def _shipped() -> KnowledgeBase:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> KnowledgeBase:
    root = yamlfile.load(path)
    top = root.mapping(allowed=("signatures",), required=("signatures",))
    signatures: list[Signature] = []
    first_line: dict[str, int] = {}
    examples: list[tuple[Signature, list[yamlfile.Value]]] = []
    for item in top["signatures"].items():
        signature, fields = _signature(item)
        if signature.id in first_line:
            raise fields["id"].error(f"duplicate id {signature.id!r} (first at line {first_line[signature.id]})")
        first_line[signature.id] = fields["id"].line
        signatures.append(signature)
        examples.append((signature, fields["examples"].items() if "examples" in fields else []))
    if not signatures:
        raise top["signatures"].error("must list at least one signature")
    kb = KnowledgeBase(signatures, str(path))
    for signature, values in examples:
        for value in values:
            _check_example(kb, signature, value)
    return kb


def _signature(value: yamlfile.Value) -> tuple[Signature, dict[str, yamlfile.Value]]:
    fields = value.mapping(allowed=_KEYS, required=_REQUIRED)
    sid = fields["id"].str()
    if not _ID.match(sid):
        raise fields["id"].error(f"must be kebab-case (lower-case words joined by '-'), got {sid!r}")
    if ("pattern" in fields) == ("patterns" in fields):
        raise value.error("give exactly one of 'pattern' (one regex) or 'patterns' (a list)")
    pattern_values = [fields["pattern"]] if "pattern" in fields else fields["patterns"].items()
    if not pattern_values:
        raise fields["patterns"].error("must list at least one regular expression")
    compiled = tuple(_compile(v) for v in pattern_values)
    extract = tuple(fields["extract"].str_list()) if "extract" in fields else ()
    for name in extract:
        if not name.isidentifier():
            raise fields["extract"].error(f"{name!r} is not a group name")
        for pattern_value, regex in zip(pattern_values, compiled, strict=True):
            if name not in regex.groupindex:
                raise pattern_value.error(f"has no named group (?P<{name}>...), which 'extract' lists")
    severity = fields["severity"].choice(SEVERITIES) if "severity" in fields else "fatal"
    fallback = fields["fallback"].bool() if "fallback" in fields else False
    wrapper = fields["wrapper"].bool() if "wrapper" in fields else False
    if severity == "warning" and fallback:
        raise fields["fallback"].error("a warning does not stop the engine, so it cannot make aima fall back")
    if severity == "warning" and wrapper:
        raise fields["wrapper"].error("a wrapper reports a failure, so its severity must be fatal")
    signature = Signature(
        id=sid, title=fields["title"].str().strip(), patterns=tuple(r.pattern for r in compiled),
        engines=_engines(fields["engines"]), meaning=_text(fields["meaning"], extract),
        remedy=_text(fields["remedy"], extract), sources=tuple(s.strip() for s in fields["source"].str_list()),
        severity=severity, fallback=fallback, wrapper=wrapper, extract=extract,
        examples=tuple(v.str() for v in fields["examples"].items()) if "examples" in fields else (),
        compiled=compiled,
        exit_codes=tuple(v.int(min=1, max=255) for v in fields["exit_codes"].items()) if "exit_codes" in fields else (),
    )
    return signature, fields


def _compile(value: yamlfile.Value) -> re.Pattern[str]:
    try:
        regex = re.compile(value.str())
    except re.error as exc:
        raise value.error(f"not a valid regular expression: {exc}") from None
    if regex.search(""):
        raise value.error("matches an empty line, so it would match every line")
    return regex


def _engines(value: yamlfile.Value) -> frozenset[str]:
    names = value.str_list()
    if names == ["all"]:
        return frozenset(ENGINES)
    if not names:
        raise value.error("must name at least one engine")
    for name in names:
        if name not in ENGINES:
            raise value.error(f"must be 'all' or a list of {', '.join(ENGINES)}; got {name!r}")
    return frozenset(names)


def _text(value: yamlfile.Value, extract: tuple[str, ...]) -> str:
    text = value.str().strip()
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise value.error(f"bad {{placeholder}}: {exc} (write {{{{ and }}}} for literal braces)") from None
    for name, spec, conv in fields:
        if name not in extract or spec or conv:
            raise value.error(f"placeholder {{{name}}} is not a group listed in 'extract'",
                              hint="write {{ and }} for literal braces")
    return text


def _check_example(kb: KnowledgeBase, signature: Signature, value: yamlfile.Value) -> None:
    line = value.str()
    diagnosis = kb.match_line(line)
    if diagnosis is None:
        raise value.error(f"is not matched by any pattern of {signature.id!r}")
    if diagnosis.signature_id != signature.id:
        raise value.error(f"is diagnosed as {diagnosis.signature_id!r}, which comes first in the file, "
                          f"not as {signature.id!r}")


def _needle(regex: re.Pattern[str]) -> tuple[str | None, bool]:
    """The longest literal the top level of a regex always contains, for a prefilter; (None, False) if none."""
    try:
        # The regex parser is private: re._parser from Python 3.11, sre_parse before.
        sre_parse = importlib.import_module("re._parser" if sys.version_info >= (3, 11) else "sre_parse")
        parsed = sre_parse.parse(regex.pattern, regex.flags)
        fold = bool(parsed.state.flags & re.IGNORECASE)
        runs, run = [], []
        for op, arg in parsed:
            if op is sre_parse.LITERAL:
                run.append(chr(arg))
            else:
                runs.append("".join(run))
                run = []
        runs.append("".join(run))
    except Exception:  # the prefilter is only an optimisation: without it the regex simply always runs
        return None, False
    best = max(runs, key=len)
    if len(best) < _MIN_NEEDLE:
        return None, False
    return (best.lower(), True) if fold else (best, False)


# -- docs/troubleshooting.md -------------------------------------------------------------------------------------

_INTRO = """\
aima reads every engine's log while it starts (`aima up`) and again in `aima doctor`, and checks each line
against the signatures below, in this order; the first that matches names the problem.

- **fatal**: the engine cannot come up. `aima up` stops waiting for it at once and prints the diagnosis.
- **warning**: worth knowing, but the engine may still come up; `aima up` keeps waiting.
- **falls back**: `aima up` then tries the engine's next candidate image, because another image is the fix.
- **wrapper**: the line only says that something failed earlier; a more specific cause found in the same log
  is reported first.

Words in braces, like `{arch}`, are filled in from the log line. The patterns are Python regular expressions
searched anywhere in one log line. To add a signature, edit `aima/knowledge/signatures.yaml` (every `examples`
line is checked when the file loads) and regenerate this page."""


def render_markdown(kb: KnowledgeBase) -> str:
    """docs/troubleshooting.md: a table of contents and one section per signature."""
    out = [f"<!-- Generated from aima/knowledge/signatures.yaml by `{REGENERATE}`. Do not edit. -->", "",
           "# Troubleshooting: known failure signatures", "", _INTRO, "", "## Contents", "",
           "| Signature | Engines | Severity | Falls back |", "|---|---|---|---|"]
    for s in kb:
        out.append(f"| [{_cell(s.title)}](#{s.id}) | {_engine_names(s)} | {_severity(s)} | "
                   f"{'yes' if s.fallback else 'no'} |")
    for s in kb:
        out += ["", f'<a id="{s.id}"></a>', "", f"## {s.title}", "",
                f"`{s.id}` · engines: {_engine_names(s)} · {_severity(s)} · "
                f"falls back to the next image: {'yes' if s.fallback else 'no'}", "",
                "**Log line** (" + ("any of these patterns" if len(s.patterns) > 1 else "pattern") + "):", "",
                "```text", *s.patterns, "```", ""]
        if s.examples:
            out += ["**Example" + ("s" if len(s.examples) > 1 else "") + ":**", "", "```text", *s.examples, "```", ""]
        out += [f"**What it means.** {s.meaning}", "", f"**What to do.** {s.remedy}", "",
                "**Sources:** " + "; ".join(f"<{x}>" if x.startswith("https://") else x for x in s.sources)]
    return "\n".join(out) + "\n"


def _engine_names(s: Signature) -> str:
    return "all" if s.engines == frozenset(ENGINES) else ", ".join(e for e in ENGINES if e in s.engines)


def _severity(s: Signature) -> str:
    return f"{s.severity} (wrapper)" if s.wrapper else s.severity


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m aima.knowledge --markdown`: print docs/troubleshooting.md."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m aima.knowledge", description=main.__doc__)
    parser.add_argument("--markdown", action="store_true", required=True,
                        help="print the troubleshooting page generated from the shipped signatures.yaml")
    parser.parse_args(argv)
    sys.stdout.write(render_markdown(load_knowledge()))
    return 0
