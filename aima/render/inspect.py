"""`aima inspect` for people: progress while it reads the image, the libraries with CUDA code, the SASS and PTX."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aima.render import console
from aima.render.console import escape
from aima.textsafe import printable

if TYPE_CHECKING:
    from aima.inspect.image import ImageInspection, ScanProgress


def inspection(result: ImageInspection) -> None:
    """Print an image's inspection: header, a table of libraries with CUDA code, totals."""
    console.out(f"[bold]{escape(result.image_ref)}[/] ({result.image_id[:19]}): {result.elf_files} ELF files, "
                f"{result.elf_bytes / 1e6:.1f} MB read")
    rows = [[lib.path, ", ".join(lib.sass) or "-", ", ".join(lib.ptx) or "-", lib.error or ""]
            for lib in result.libraries if lib.sass or lib.ptx or lib.error]
    if rows:
        console.table("libraries with CUDA code", ["library", "SASS", "PTX", "problem"], rows)
    console.out(f"image SASS: {', '.join(result.sass) or 'none'}")
    console.out(f"image PTX:  {', '.join(result.ptx) or 'none'}")
    if not result.sass and not result.ptx:
        console.out("no CUDA device code found: a CPU image, or kernels compiled at run time (Triton, NVRTC)")


class InspectLines:
    """Progress of a long read as plain lines (or JSON events): one per 10 % of the image, at least every 10 s."""

    def __init__(self, write: Callable[[str], None], as_json: bool = False,
                 clock: Callable[[], float] = time.monotonic, every_s: float = 10.0) -> None:
        self.write, self.as_json, self.clock, self.every_s = write, as_json, clock, every_s
        self._step = -1
        self._said = clock()
        self._started = clock()

    def __call__(self, p: ScanProgress) -> None:
        """Write when a tenth of the image is passed, every_s went by, or the read ended."""
        now = self.clock()
        step = p.read_bytes * 10 // p.total_bytes if p.total_bytes else -1
        if not (p.final or step > self._step or now - self._said >= self.every_s):
            return
        self._step, self._said = max(step, self._step), now
        if self.as_json:
            self.write(json.dumps({"event": "inspect", "image": p.image, "read_bytes": p.read_bytes,
                                   "total_bytes": p.total_bytes, "files": p.files, "elf_files": p.elf_files,
                                   "path": p.path, "final": p.final}))
        elif p.final:
            self.write(f"inspect {p.image}: read {_mb(p.read_bytes)} in {now - self._started:.1f} s, "
                       f"{p.elf_files} ELF files")
        else:
            share = f" of {_mb(p.total_bytes)} ({min(100, p.read_bytes * 100 // p.total_bytes)} %)" \
                if p.total_bytes else ""
            self.write(printable(f"inspect {p.image}: {_mb(p.read_bytes)}{share} read, {p.files} files, "
                                 f"{p.elf_files} ELF; at {p.path}", newlines=False))

    def close(self) -> None:
        """Nothing to close."""


class InspectBar:
    """A rich progress bar on a terminal: bytes of the image read, the file being read."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TimeRemainingColumn(), TextColumn("{task.fields[path]}"),
                                  console=console.rich_console(stderr=True), transient=True)
        self._task: Any = None

    def __call__(self, p: ScanProgress) -> None:
        """Move the bar."""
        path = printable(p.path[-60:], newlines=False)
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(f"reading {printable(p.image, newlines=False)}",
                                                 total=p.total_bytes or None, path=path)
        done = min(p.read_bytes, p.total_bytes) if p.total_bytes else p.read_bytes
        self._progress.update(self._task, completed=done, path=path)

    def close(self) -> None:
        """Remove the bar (the result follows)."""
        if self._task is not None:
            self._progress.stop()


def inspect_progress(json_out: bool) -> InspectLines | InspectBar:
    """JSON events on stderr with --json; a bar on a terminal; plain lines on stderr otherwise."""
    def write(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    if json_out:
        return InspectLines(write, as_json=True)
    return InspectBar() if sys.stderr.isatty() else InspectLines(write)


def _mb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"
