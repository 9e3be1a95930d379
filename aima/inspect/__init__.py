"""Binary truth: read the CUDA code (SASS, PTX) that libraries and images really carry.

``fatbin`` walks fat-binary containers, ``elf`` finds them in ELF64 files, ``image`` streams an
image's files out of Docker and caches the result. Nothing here imports docker until it is used.
"""

from aima.inspect.elf import scan_binary, scan_path
from aima.inspect.fatbin import BinaryFormatError, FatbinEntry, FatbinSummary, arch_sort_key, summarize
from aima.inspect.image import (
    ImageInspection,
    LibraryInspection,
    default_cache_dir,
    inspect_image,
    load_cached,
    scan_tar_stream,
)

__all__ = [
    "BinaryFormatError",
    "FatbinEntry",
    "FatbinSummary",
    "ImageInspection",
    "LibraryInspection",
    "arch_sort_key",
    "default_cache_dir",
    "inspect_image",
    "load_cached",
    "scan_binary",
    "scan_path",
    "scan_tar_stream",
    "summarize",
]
