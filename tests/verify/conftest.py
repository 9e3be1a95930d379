"""Real speech for the audio and WER tests: espeak-ng (and lame for MP3) at test time, as CI installs them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.e2e.conftest import _unavailable
from tests.harness import HarnessUnavailable, speech

SENTENCE = "Please turn on the lights in the kitchen."


@pytest.fixture(scope="session")
def spoken_wav() -> bytes:
    """SENTENCE as espeak-ng writes it to stdout (22 050 Hz mono 16-bit, streamed header)."""
    try:
        return speech.espeak_wav(SENTENCE)
    except HarnessUnavailable as exc:
        _unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def spoken_mp3(tmp_path_factory) -> bytes:
    """SENTENCE as an MP3 with an ID3v2 tag: `espeak-ng -w x.wav` then `lame --tt TITLE x.wav x.mp3`."""
    for tool in ("espeak-ng", "lame"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} not found: install it (run `bash .ci/setup-docker`)")
    folder = tmp_path_factory.mktemp("mp3")
    wav, mp3 = folder / "s.wav", folder / "s.mp3"
    subprocess.run(["espeak-ng", "-v", speech.VOICE, "-s", speech.SPEED, "-w", str(wav), SENTENCE], check=True)
    subprocess.run(["lame", "--quiet", "--tt", "aima test", str(wav), str(mp3)], check=True)
    return mp3.read_bytes()
