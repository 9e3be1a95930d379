"""A cached inspection beats the catalogue's declared archs, and the plan says which source it used."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from aima.inspect.cache import cache_path, cached_archs, record_ref, write_json_atomically

KOKORO = "ghcr.io/remsky/kokoro-fastapi-gpu:latest"


def _cache(tmp_path, sass, ptx=()):
    folder = tmp_path / "aima" / "inspect"
    image_id = "sha256:" + "ab" * 32
    write_json_atomically(cache_path(image_id, folder), {"format": 1, "image_id": image_id, "image_ref": KOKORO,
                                                        "sass": list(sass), "ptx": list(ptx)})
    record_ref(KOKORO, image_id, folder)
    return folder, image_id


def test_cached_archs_reads_refs_and_inspections(tmp_path):
    folder, image_id = _cache(tmp_path, ["sm_80", "sm_90"], ["compute_90"])
    expected = {KOKORO: ("sm_80;sm_90;compute_90", f"inspected {image_id[:19]}")}
    assert cached_archs([KOKORO, "other:1"], folder) == expected


def test_broken_cache_is_ignored(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "refs.json").write_text("{not json")
    assert cached_archs([KOKORO], folder) == {}


def test_plan_prefers_inspected_archs_and_says_so(tmp_path):
    _cache(tmp_path, ["sm_90"])  # the binaries say: Hopper only, while the catalogue claims sm_50..sm_90
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "aima", "plan", "--hardware", "rtx-4090", "--json"],
                         capture_output=True, text=True, env=env, check=True).stdout
    tts = json.loads(out)["engines"]["tts"]
    assert tts["candidate"] != "kokoro-gpu"
    reason = next(r["reason"] for r in tts["rejected"] if r["candidate"] == "kokoro-gpu")
    assert "sm_90 SASS" in reason and "inspected sha256:abab" in reason
