"""The CUDA libraries the tests build, and exactly what each must be found to contain."""

from __future__ import annotations

import os
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Trivial on purpose: compile time is per nvcc call, and the tests need targets, not work.
KERNEL = (
    "__global__ void bump(float *x) { x[threadIdx.x] += 1.0f; }\n"
    'extern "C" void launch(float *x) { bump<<<1, 32>>>(x); }\n'
)


@dataclass(frozen=True)
class CudaBuild:
    """One library to build: nvcc options and exactly what the reader must find in it."""

    name: str
    options: tuple[str, ...]
    sass: tuple[str, ...] = ()
    ptx: tuple[str, ...] = ()
    lto: tuple[str, ...] = ()
    compression: str | None = None  # the compression every entry must carry, when one is forced


def gencode(arch: str, code: str) -> tuple[str, str]:
    """nvcc's ``-gencode arch=...,code=...`` pair."""
    return ("-gencode", f"arch={arch},code={code}")


# -cudart=none keeps cudart_static's own little fatbin out, so most libraries hold only what is asked;
# "ptx_only_90" and "relocatable" keep the default cudart, which adds containers of its own.
BUILDS = (
    CudaBuild(
        "ampere_to_hopper",
        (
            "-cudart=none",
            *gencode("compute_80", "sm_80"),
            *gencode("compute_86", "sm_86"),
            *gencode("compute_89", "sm_89"),
            *gencode("compute_90", "sm_90"),
        ),
        sass=("sm_80", "sm_86", "sm_89", "sm_90"),
    ),
    CudaBuild("blackwell_120", ("-cudart=none", *gencode("compute_120", "sm_120")), sass=("sm_120",)),
    CudaBuild("ptx_only_90", gencode("compute_90", "compute_90"), ptx=("compute_90",)),
    CudaBuild(
        "arch_specific",
        (
            "-cudart=none",
            *gencode("compute_90a", "sm_90a"),
            *gencode("compute_120a", "sm_120a"),
            *gencode("compute_90a", "compute_90a"),
        ),
        sass=("sm_90a", "sm_120a"),
        ptx=("compute_90a",),
    ),
    CudaBuild(
        "family",
        ("-cudart=none", *gencode("compute_100f", "sm_100f"), *gencode("compute_100f", "compute_100f")),
        sass=("sm_100f",),
        ptx=("compute_100f",),
    ),
    CudaBuild(
        "compressed_zstd",
        (
            "-cudart=none",
            "-Xfatbin=-compress-all",
            *gencode("compute_80", "sm_80"),
            *gencode("compute_86", "sm_86"),
            *gencode("compute_90", "compute_90"),
        ),
        sass=("sm_80", "sm_86"),
        ptx=("compute_90",),
        compression="zstd",
    ),
    CudaBuild(
        "compressed_lz4",
        ("-cudart=none", "-Xfatbin=-compress-all", "--compress-mode=speed", *gencode("compute_75", "sm_75")),
        sass=("sm_75",),
        compression="lz4",
    ),
    # -rdc needs the default cudart: with -cudart=none nvcc skips the device link and leaves only
    # __nv_relfatbin, a library the runtime could not load.
    CudaBuild("relocatable", ("-rdc=true", *gencode("compute_80", "sm_80")), sass=("sm_80",)),
)


@dataclass(frozen=True)
class CudaBinaries:
    """Paths of what the session built, with the seconds it took."""

    libraries: dict[str, Path]
    lto_object: Path
    pascal_fatbin: Path
    pascal_library: Path
    seconds: float


def build_all(nvcc: str, workdir: Path) -> CudaBinaries:
    """Compile every library in BUILDS, an LTO object and an sm_61 fatbin, in parallel (two jobs per core)."""
    source = workdir / "bump.cu"
    source.write_text(KERNEL)
    started = time.perf_counter()
    jobs = {build.name: (lambda b=build: build_library(nvcc, source, workdir, b)) for build in BUILDS}
    jobs["lto_object"] = lambda: _build_lto_object(nvcc, source, workdir)
    jobs["pascal"] = lambda: _build_pascal(nvcc, source, workdir)
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        results = {name: future.result() for name, future in futures.items()}
    pascal_fatbin, pascal_library = results.pop("pascal")
    lto_object = results.pop("lto_object")
    return CudaBinaries(results, lto_object, pascal_fatbin, pascal_library, time.perf_counter() - started)


def build_library(nvcc: str, source: Path, workdir: Path, build: CudaBuild) -> Path:
    """Compile the kernel into lib<name>.so with the build's nvcc options."""
    out = workdir / f"lib{build.name}.so"
    _run([nvcc, "-shared", "-Xcompiler", "-fPIC", *build.options, "-o", str(out), str(source)])
    return out


def _build_lto_object(nvcc: str, source: Path, workdir: Path) -> Path:
    """A relocatable object holding LTO IR (kind 8) in __nv_relfatbin, as ``-dc`` with ``code=lto_*`` writes it."""
    out = workdir / "lto.o"
    _run(
        [
            nvcc,
            "-dc",
            *gencode("compute_90", "lto_90"),
            *gencode("compute_100a", "lto_100a"),
            "-o",
            str(out),
            str(source),
        ]
    )
    return out


def _build_pascal(nvcc: str, source: Path, workdir: Path) -> tuple[Path, Path]:
    """An sm_61 SASS entry and a compute_61 PTX entry, packed by NVIDIA's own fatbinary tool.

    nvcc 13 cannot compile for Pascal. fatbinary still packs sm_61 images, checking that a cubin's
    ELF header names the arch it is told, so: compile for sm_75, relabel the cubin's arch field
    (e_flags bits 8..15 in the ABI-8 cubins CUDA 13 writes) and the PTX's .target, let fatbinary
    write the container, and put it in a real shared object's .nv_fatbin with objcopy. The code
    inside is Turing code and would not run on a GTX 1080; the container bytes are NVIDIA's.
    """
    fatbinary = Path(os.path.realpath(nvcc)).parent / "fatbinary"
    cubin, ptx = workdir / "bump75.cubin", workdir / "bump.ptx"
    _run([nvcc, "-cubin", "-arch=sm_75", "-o", str(cubin), str(source)])
    _run([nvcc, "-ptx", "-arch=compute_75", "-o", str(ptx), str(source)])
    data = bytearray(cubin.read_bytes())
    (flags,) = struct.unpack_from("<I", data, 48)
    if data[8] != 8 or (flags >> 8) & 0xFF != 75:
        raise RuntimeError("the cubin ELF ABI changed (EI_ABIVERSION or e_flags); update the relabelling")
    struct.pack_into("<I", data, 48, (flags & ~0xFF00) | (61 << 8))
    cubin61, ptx61 = workdir / "bump61.cubin", workdir / "bump61.ptx"
    cubin61.write_bytes(bytes(data))
    ptx61.write_text(ptx.read_text().replace(".target sm_75", ".target sm_61"))
    fatbin = workdir / "pascal.fatbin"
    _run(
        [
            str(fatbinary),
            "-64",
            f"--create={fatbin}",
            f"--image3=kind=elf,sm=61,file={cubin61}",
            f"--image3=kind=ptx,sm=61,file={ptx61}",
        ]
    )
    host_c, plain, library = workdir / "host.c", workdir / "libhost.so", workdir / "libpascal.so"
    host_c.write_text("int answer(void) { return 42; }\n")
    _run(["gcc", "-shared", "-fPIC", "-o", str(plain), str(host_c)])
    _run(
        [
            "objcopy",
            f"--add-section=.nv_fatbin={fatbin}",
            "--set-section-flags=.nv_fatbin=alloc,readonly",
            str(plain),
            str(library),
        ]
    )
    return fatbin, library


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
