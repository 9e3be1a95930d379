"""The speech loop: the LLM answers, the TTS engine speaks the answer, the ASR engine hears it back.

Engines that are not in the run are left out of the loop: without an LLM the TTS engine speaks a fixed
sentence; without a TTS engine the ASR engine hears aima's reference recording (aima/verify/reference.wav).
When the ASR engine mishears the TTS engine's speech, the reference recording tells whose fault it is.
What the loop needs from outside (is the container on the GPU, what does its log say) comes in as `Hooks`,
so the loop itself needs no Docker and no NVML.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from aima.verify.audio import Audio, for_whisper, info_of, parse_wav
from aima.verify.checks import (
    FAIL,
    PASS,
    PLACEMENT,
    Check,
    Clock,
    Target,
    check_asr,
    check_llm,
    check_tts,
    short,
    speakable,
)
from aima.verify.wer import normalise

TTS_SENTENCE = "The speech stack is up and every engine answers."
ORDER = ("llm", "tts", "asr")


def reference_recording() -> tuple[bytes, str, Audio]:
    """aima's shipped recording: (16 kHz WAV bytes, its transcript, parsed audio)."""
    data = resources.files("aima.verify").joinpath("reference.wav").read_bytes()
    audio = parse_wav(data)
    return data, info_of(audio, "INAM"), audio


@dataclass(frozen=True)
class Hooks:
    """What the loop asks the world about an engine; the defaults know nothing (endpoints aima did not start)."""

    # None when the engine is on the GPU or nobody can tell (no NVML, no container); else why it is not.
    placement: Callable[[Target], str | None] = lambda target: None
    # The likely cause of a failure from the engine's container (state, log, knowledge base), or None.
    explain: Callable[[Target], str | None] = lambda target: None


@dataclass
class Report:
    """One verify run: every engine's check, when it ran, and how long it took."""

    checks: list[Check]
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def check(self, engine: str) -> Check | None:
        """One engine's check, or None."""
        return next((c for c in self.checks if c.engine == engine), None)

    def figures(self) -> dict[str, float]:
        """The loop's headline figures: ASR real-time factor, LLM TTFT and tokens/s, TTS audio seconds per second."""
        wanted = {"asr": ("real_time_factor", "wer"), "llm": ("ttft_s", "tokens_per_s"), "tts": ("audio_s_per_s",)}
        found = {}
        for c in self.checks:
            for key in wanted.get(c.engine, ()):
                if key in c.figures:
                    found[f"{c.engine}.{key}"] = c.figures[key]
        return found

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (docs/verify.md)."""
        return {"ok": self.ok, "at": self.at, "elapsed_s": round(self.elapsed_s, 3),
                "figures": {k: round(v, 4) for k, v in self.figures().items()},
                "engines": {c.engine: c.as_dict() for c in self.checks}}


def run_loop(targets: list[Target], hooks: Hooks = Hooks(), clock: Clock = time.perf_counter) -> Report:
    """Check every target, in the loop's order, feeding each engine's output to the next."""
    by_engine = {t.engine: t for t in targets}
    start = clock()
    checks: list[Check] = []
    text: str | None = None
    spoken: tuple[Audio, str] | None = None
    if "llm" in by_engine:
        check, answer = check_llm(by_engine["llm"], clock)
        checks.append(check)
        sentence = speakable(answer) if check.ok else ""
        text = sentence if len(normalise(sentence)) >= 3 else None
    if "tts" in by_engine:
        said = text or TTS_SENTENCE
        check, audio = check_tts(by_engine["tts"], said, clock)
        checks.append(check)
        if audio is not None:
            spoken = (audio, said)
    if "asr" in by_engine:
        checks.extend(_hear(by_engine["asr"], spoken, checks, clock))
    for target in targets:  # engines the loop does not know (custom names): reported, not silently passed
        if target.engine not in ORDER:
            checks.append(Check(target.engine, target.url).failed(f"no check for an engine named {target.engine!r} "
                                                                  f"(aima checks {', '.join(ORDER)})"))
    for check in checks:
        checked = by_engine.get(check.engine)
        if checked is None:
            continue
        if check.kind == PASS and checked.gpu:
            why = hooks.placement(checked)
            if why:
                check.failed(why, PLACEMENT)
        if not check.ok:
            check.cause = hooks.explain(checked) or ""
    return Report(checks, elapsed_s=clock() - start)


def _hear(target: Target, spoken: tuple[Audio, str] | None, checks: list[Check], clock: Clock) -> list[Check]:
    data, transcript, reference = reference_recording()
    if spoken is None:
        return [check_asr(target, data, transcript, reference.duration_s, "of aima's reference recording", clock)]
    audio, said = spoken
    heard = check_asr(target, for_whisper(audio), said, audio.duration_s, "of the tts engine's speech", clock)
    if heard.ok or heard.kind != FAIL or "wer" not in heard.figures:
        return [heard]
    # Misheard: the reference recording tells a deaf ASR engine from a TTS engine that mumbles.
    control = check_asr(target, data, transcript, reference.duration_s, "of aima's reference recording", clock)
    if not control.ok:
        return [heard]
    tts = next(c for c in checks if c.engine == "tts")
    tts.failed(f"its speech is not what it was asked to say: asr heard {heard.got} for "
               f"{short(said, 60)}, yet hears aima's reference recording right ({control.got})")
    control.sent += f"; the tts engine's speech was misheard: {heard.got}"
    return [control]
