"""Real speech for tests and for aima's reference recording, made with Debian's espeak-ng.

`espeak-ng -v en-us -s 165 --stdout TEXT` writes a 22 050 Hz mono 16-bit WAV of the text. The shipped
reference recording (aima/verify/reference.wav) is made from it by `python -m tests.harness.speech`:
leading and trailing silence trimmed, resampled to 16 kHz (what whisper.cpp reads), and the transcript,
licence and generating command written into the file's LIST/INFO chunk.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import HarnessUnavailable

VOICE, SPEED = "en-us", "165"
REFERENCE_TEXT = "The quick brown fox jumps over the lazy dog."
REFERENCE_PATH = Path(__file__).resolve().parents[2] / "aima" / "verify" / "reference.wav"
LICENCE = ("CC0-1.0: made by aima's authors with espeak-ng (GPL-3.0-or-later); the program's licence does not "
           "cover its output")


def espeak_command(text: str) -> list[str]:
    """The exact command that synthesises text (recorded in the reference file and docs/verify.md)."""
    return ["espeak-ng", "-v", VOICE, "-s", SPEED, "--stdout", text]


def espeak_wav(text: str) -> bytes:
    """A WAV of text spoken by espeak-ng; HarnessUnavailable when espeak-ng is not installed."""
    if shutil.which("espeak-ng") is None:
        raise HarnessUnavailable("espeak-ng not found: install it (run `bash .ci/setup-docker`)")
    return subprocess.run(espeak_command(text), capture_output=True, check=True, timeout=60).stdout


def reference_wav() -> bytes:
    """The reference recording as shipped: trimmed, 16 kHz mono 16-bit, transcript and licence inside."""
    from aima.verify.audio import WHISPER_RATE, mono_samples, parse_wav, resample, wav_bytes

    audio = parse_wav(espeak_wav(REFERENCE_TEXT))
    samples = mono_samples(audio)
    loud = [i for i, v in enumerate(samples) if abs(v) >= 0.01]
    pad = audio.sample_rate // 10  # keep 0.1 s of quiet either side
    samples = samples[max(0, loud[0] - pad):loud[-1] + pad]
    command = " ".join(espeak_command(REFERENCE_TEXT)[:-1]) + f" '{REFERENCE_TEXT}'"
    return wav_bytes(resample(samples, audio.sample_rate, WHISPER_RATE), WHISPER_RATE,
                     {"INAM": REFERENCE_TEXT, "ICOP": LICENCE, "ISFT": f"{command} | python -m tests.harness.speech"})


if __name__ == "__main__":
    data = reference_wav()
    REFERENCE_PATH.write_bytes(data)
    print(f"wrote {REFERENCE_PATH} ({len(data)} bytes)", file=sys.stderr)
