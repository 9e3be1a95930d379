"""Image inspection without a daemon: tar streams of real nvcc libraries, a fake Docker client, the cache."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import docker.errors
import fatbin_builder as fb
import pytest
from cuda_builds import CudaBinaries

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


class FakeContainer:
    """Records what is done to it; has no start(), so starting it would fail the test."""

    def __init__(self, data: bytes, fail_export: bool) -> None:
        self.id = "c0ffee"
        self.data, self.fail_export, self.removed = data, fail_export, []

    def export(self, chunk_size: int):
        if self.fail_export:
            raise docker.errors.APIError("export broke")
        return (self.data[i : i + chunk_size] for i in range(0, len(self.data), chunk_size))

    def remove(self, **kwargs) -> None:
        self.removed.append(kwargs)


class FakeImages:
    def __init__(self, present: bool) -> None:
        self.present = present

    def get(self, ref: str):
        if not self.present:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return type("Image", (), {"id": IMAGE_ID})()


class FakeContainers:
    def __init__(self, data: bytes, fail_export: bool) -> None:
        self.data, self.fail_export, self.created = data, fail_export, []

    def create(self, image, **kwargs):
        container = FakeContainer(self.data, self.fail_export)
        self.created.append((image, kwargs, container))
        return container


class FakeClient:
    def __init__(self, data: bytes = b"", *, present: bool = True, fail_export: bool = False) -> None:
        self.images = FakeImages(present)
        self.containers = FakeContainers(data, fail_export)


def test_inspect_image_reads_files_of_a_created_never_started_container(image_files, tmp_path: Path) -> None:
    client = FakeClient(tar_of(image_files))
    result = inspect_image(client, "whisper:cuda", tmp_path)
    assert (result.image_ref, result.image_id) == ("whisper:cuda", IMAGE_ID)
    assert result.sass == ("sm_80", "sm_86", "sm_89", "sm_90")
    assert result.ptx == ("compute_90",)
    [(image, kwargs, container)] = client.containers.created
    assert image == IMAGE_ID and kwargs["labels"] == {"aima.inspect": IMAGE_ID}
    assert container.removed == [{"force": True}]


def test_second_inspection_of_the_same_image_id_comes_from_the_cache(image_files, tmp_path: Path) -> None:
    first = inspect_image(FakeClient(tar_of(image_files)), "whisper:cuda", tmp_path)
    again = FakeClient(tar_of(image_files))
    second = inspect_image(again, "whisper@sha256:1234", tmp_path)
    assert again.containers.created == []
    assert second == ImageInspection(**{**first.__dict__, "image_ref": "whisper@sha256:1234"})
    assert load_cached(IMAGE_ID, tmp_path) == first
    inspect_image(again, "whisper:cuda", tmp_path, refresh=True)
    assert len(again.containers.created) == 1


def test_container_is_removed_when_export_fails(tmp_path: Path) -> None:
    client = FakeClient(fail_export=True)
    with pytest.raises(AimaError, match="could not export the files of broken:1"):
        inspect_image(client, "broken:1", tmp_path)
    assert client.containers.created[0][2].removed == [{"force": True}]
    assert load_cached(IMAGE_ID, tmp_path) is None


def test_missing_image_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(AimaError, match="not on this machine") as caught:
        inspect_image(FakeClient(present=False), "vllm/vllm-openai:v0.11", tmp_path)
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
