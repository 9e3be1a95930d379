"""Image inspection without a daemon: tar streams of real nvcc libraries, a fake engine, the cache."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import fatbin_builder as fb
import pytest
from cuda_builds import CudaBinaries

from aima.engine.model import ImageInfo
from aima.errors import AimaError
from aima.inspect import (
    ImageInspection,
    LibraryInspection,
    default_cache_dir,
    inspect_image,
    load_cached,
    scan_tar_stream,
)
from aima.inspect.image import save_cached

IMAGE_ID = "sha256:" + "ab" * 32


class OneWayStream(io.RawIOBase):
    """A stream that cannot seek, like the HTTP body of ``docker export``."""

    def __init__(self, data: bytes) -> None:
        self._source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._source.read(min(len(buffer), 7919))  # odd-sized reads on purpose
        buffer[: len(chunk)] = chunk
        return len(chunk)


def tar_of(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out.getvalue()


@pytest.fixture(scope="module")
def image_files(cuda_binaries: CudaBinaries) -> dict[str, bytes]:
    libs = cuda_binaries.libraries
    return {
        "usr/lib/x86_64-linux-gnu/libggml-cuda.so": libs["ampere_to_hopper"].read_bytes(),
        "./opt/app/lib/libptx.so.1": libs["ptx_only_90"].read_bytes(),
        "opt/app/bin/server": libs["compressed_zstd"].read_bytes(),  # no .so in the name: found by its magic
        "usr/lib/libplain.so": fb.elf64([(".text", b"\x90" * 256)]),
        "usr/lib/libbroken.so": fb.elf64([(".nv_fatbin", fb.container(fb.entry(fb.ELF, 86, b"a" * 64))[:-16])]),
        "usr/lib/libold32.so": b"\x7fELF\x01\x01\x01" + b"\0" * 200,
        "app/model.py": b"print('not a library')\n" * 10,
    }


def test_tar_stream_reports_each_library_with_gpu_code(image_files: dict[str, bytes]) -> None:
    data = tar_of(image_files, links={"usr/lib/libggml.so": "x86_64-linux-gnu/libggml-cuda.so"})
    scan = scan_tar_stream(io.BufferedReader(OneWayStream(data)))
    by_path = {lib.path: lib for lib in scan.libraries}
    assert sorted(by_path) == [
        "/opt/app/bin/server",
        "/opt/app/lib/libptx.so.1",
        "/usr/lib/libbroken.so",
        "/usr/lib/x86_64-linux-gnu/libggml-cuda.so",
    ]
    assert by_path["/usr/lib/x86_64-linux-gnu/libggml-cuda.so"].sass == ("sm_80", "sm_86", "sm_89", "sm_90")
    assert by_path["/opt/app/lib/libptx.so.1"] == LibraryInspection(
        "/opt/app/lib/libptx.so.1", ptx=("compute_90",), entries=1
    )
    assert (by_path["/opt/app/bin/server"].sass, by_path["/opt/app/bin/server"].ptx) == (
        ("sm_80", "sm_86"),
        ("compute_90",),
    )
    assert "claims" in by_path["/usr/lib/libbroken.so"].error
    # Read: the four above and libplain.so. Not read: the 32-bit ELF, the Python file, the symlink.
    read = [name for name in image_files if name not in ("usr/lib/libold32.so", "app/model.py")]
    assert (scan.elf_files, scan.elf_bytes) == (5, sum(len(image_files[name]) for name in read))


def test_garbage_instead_of_a_tar_stream_is_an_aima_error() -> None:
    with pytest.raises(AimaError, match="tar stream"):
        scan_tar_stream(io.BytesIO(b"this is not a tar archive" * 40))


class FakeEngine:
    """The two ContainerEngine calls inspection makes: image() and export_files() (which records its exports)."""

    def __init__(self, data: bytes = b"", *, present: bool = True, fail_export: bool = False) -> None:
        self.data, self.present, self.fail_export = data, present, fail_export
        self.exported: list[str] = []
        self.closed = 0

    def image(self, ref: str) -> ImageInfo | None:
        return ImageInfo(ref, IMAGE_ID, "linux", "amd64", "", (), 1) if self.present else None

    def export_files(self, image_id: str):
        self.exported.append(image_id)
        return self._chunks()

    def _chunks(self):
        try:
            if self.fail_export:
                raise AimaError(f"could not export the files of container {IMAGE_ID[7:19]}: export broke")
            yield from (self.data[i : i + 4096] for i in range(0, len(self.data), 4096))
        finally:
            self.closed += 1


def test_inspect_image_reads_files_of_the_exported_image(image_files, tmp_path: Path) -> None:
    engine = FakeEngine(tar_of(image_files))
    result = inspect_image(engine, "whisper:cuda", tmp_path)
    assert (result.image_ref, result.image_id) == ("whisper:cuda", IMAGE_ID)
    assert result.sass == ("sm_80", "sm_86", "sm_89", "sm_90")
    assert result.ptx == ("compute_90",)
    assert engine.exported == [IMAGE_ID] and engine.closed == 1


def test_second_inspection_of_the_same_image_id_comes_from_the_cache(image_files, tmp_path: Path) -> None:
    first = inspect_image(FakeEngine(tar_of(image_files)), "whisper:cuda", tmp_path)
    again = FakeEngine(tar_of(image_files))
    second = inspect_image(again, "whisper@sha256:1234", tmp_path)
    assert again.exported == []
    assert second == ImageInspection(**{**first.__dict__, "image_ref": "whisper@sha256:1234"})
    assert load_cached(IMAGE_ID, tmp_path) == first
    inspect_image(again, "whisper:cuda", tmp_path, refresh=True)
    assert len(again.exported) == 1


def test_a_failed_export_is_an_aima_error_and_caches_nothing(tmp_path: Path) -> None:
    engine = FakeEngine(fail_export=True)
    with pytest.raises(AimaError, match="could not export the files"):
        inspect_image(engine, "broken:1", tmp_path)
    assert engine.closed == 1
    assert load_cached(IMAGE_ID, tmp_path) is None


def test_missing_image_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(AimaError, match="not on this machine") as caught:
        inspect_image(FakeEngine(present=False), "vllm/vllm-openai:v0.11", tmp_path)
    assert caught.value.hint == "docker pull vllm/vllm-openai:v0.11"


def inspection() -> ImageInspection:
    lib = LibraryInspection("/usr/lib/libx.so", sass=("sm_86",), ptx=("compute_90",), other=("lto_90",), entries=3)
    return ImageInspection("x:1", IMAGE_ID, ("sm_86",), ("compute_90",), (lib,), elf_files=7, elf_bytes=1234)


def test_cache_round_trip_and_file_name(tmp_path: Path) -> None:
    path = save_cached(inspection(), tmp_path / "nested")
    assert path.name == "sha256-" + "ab" * 32 + ".json"
    assert load_cached(IMAGE_ID, tmp_path / "nested") == inspection()


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"format": 999}), json.dumps({"format": 1, "image_id": IMAGE_ID}), "[]"],
    ids=["corrupt", "other-format", "missing-fields", "wrong-shape"],
)
def test_unusable_cache_file_means_inspect_again(tmp_path: Path, content: str) -> None:
    (tmp_path / ("sha256-" + "ab" * 32 + ".json")).write_text(content)
    assert load_cached(IMAGE_ID, tmp_path) is None


def test_cache_file_names_cannot_leave_the_cache_dir(tmp_path: Path) -> None:
    odd = ImageInspection("x", "../../etc/passwd", (), (), (), 0, 0)
    assert save_cached(odd, tmp_path).parent == tmp_path


def test_default_cache_dir_follows_xdg() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/var/cache/me"}) == Path("/var/cache/me/aima/inspect")
    assert default_cache_dir({}) == Path.home() / ".cache" / "aima" / "inspect"


def test_progress_follows_the_stream_to_its_end(image_files, tmp_path: Path) -> None:
    from aima.inspect.image import ScanProgress

    data = tar_of({**image_files, "/usr/share/doc/readme": b"x" * 100_000})
    engine = FakeEngine(data)
    seen: list[ScanProgress] = []
    inspect_image(engine, "whisper:cuda", tmp_path, progress=seen.append)
    reads = [p.read_bytes for p in seen]
    assert reads == sorted(reads) and 0 < reads[0] < reads[-1] <= len(data)
    assert [p.files for p in seen[:-1]] == list(range(1, len(image_files) + 2))
    assert seen[-1].final and seen[-1].elf_files >= 1 and not any(p.final for p in seen[:-1])
    assert {p.image for p in seen} == {"whisper:cuda"} and {p.total_bytes for p in seen} == {1}  # FakeEngine's Size
    again: list[ScanProgress] = []
    inspect_image(engine, "whisper:cuda", tmp_path, progress=again.append)
    assert again == []  # from the cache: nothing to read
