"""Binary truth: read the CUDA code (SASS, PTX) that libraries and images really carry.

``fatbin`` walks fat-binary containers, ``elf`` finds them in ELF64 files, ``image`` streams an
image's files out of Docker, ``cache`` keeps the answers. Names are loaded on first use (PEP 562) so that
``aima plan`` can read the cache without importing the readers.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "scan_binary": "elf", "scan_path": "elf",
    "BinaryFormatError": "fatbin", "FatbinEntry": "fatbin", "FatbinSummary": "fatbin", "arch_sort_key": "fatbin",
    "summarize": "fatbin",
    "ImageInspection": "image", "LibraryInspection": "image", "inspect_image": "image", "load_cached": "image",
    "scan_tar_stream": "image",
    "default_cache_dir": "cache", "cached_archs": "cache",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'aima.inspect' has no attribute {name!r}")
    return getattr(importlib.import_module(f"aima.inspect.{_WHERE[name]}"), name)
