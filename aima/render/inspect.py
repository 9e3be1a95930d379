"""`aima inspect` for people: the libraries with CUDA code, then the image's SASS and PTX."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aima.render import console
from aima.render.console import escape

if TYPE_CHECKING:
    from aima.inspect.image import ImageInspection


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
