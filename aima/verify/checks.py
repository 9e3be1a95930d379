"""One functional check per engine, through the API its clients use, against a base URL (httpx, no Docker).

- llm: OpenAI `POST /v1/chat/completions` (vLLM and llama.cpp's server alike), streamed, temperature 0,
  a few tokens: non-empty text, finish reason `stop` or `length`; time to first token and tokens per second.
- tts: OpenAI `POST /v1/audio/speech` (Kokoro-FastAPI): a WAV of the requested sentence, with a duration
  that fits the sentence and a level above silence; seconds of audio made per second.
- asr: whisper.cpp server `POST /inference` (multipart upload): the transcript's word error rate against
  what was said, after normalisation; real-time factor (seconds of work per second of audio).
Each answer is judged here; what to send and in which order is the loop's business (aima.verify.loop).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aima.verify.audio import Audio, AudioError, level, parse_audio
from aima.verify.wer import normalise, word_error_rate

WHISPER_INFERENCE, OPENAI_CHAT, OPENAI_SPEECH = "whisper.cpp /inference", "openai chat", "openai speech"
API_BY_ENGINE = {"asr": WHISPER_INFERENCE, "llm": OPENAI_CHAT, "tts": OPENAI_SPEECH}

WER_MAX = 0.30  # a transcript passes at a word error rate of 30 % or less (docs/verify.md)
LLM_MAX_TOKENS = 24
LLM_PROMPT = "Say one short, plain English sentence about the weather. No numbers, no lists."
FINISH_OK = ("stop", "length")  # OpenAI: stop (natural end or stop word), length (max_tokens reached)
TTS_VOICE = "af_heart"  # Kokoro's default voice; other OpenAI-speech servers map unknown voices or ignore them
# Speech runs at 2-4 words a second; allow far slower and faster before calling a duration wrong.
SECONDS_PER_WORD = (0.12, 1.5)
DURATION_SLACK_S = 1.0
PASS, FAIL, TIMEOUT, PLACEMENT, SKIPPED = "pass", "fail", "timeout", "placement", "skipped"

Clock = Callable[[], float]


@dataclass(frozen=True)
class Target:
    """One engine to check: where it answers, which API it speaks, and how long a request may take."""

    engine: str
    url: str  # base URL, e.g. http://127.0.0.1:18000
    api: str
    timeout_s: float = 30.0
    timeout_why: str = ""  # why this long, e.g. "a 4.4 GiB model on the CPU is slow"
    model: str | None = None  # the model name requests carry; the LLM asks /v1/models when None
    gpu: bool = False  # the plan put it on a GPU: placement is checked where NVML is present
    container_id: str | None = None  # None for --endpoint targets aima did not start


@dataclass
class Check:
    """The result of one engine's check: what was sent, what came back, and the verdict."""

    engine: str
    url: str
    kind: str = PASS  # pass | fail | timeout | placement | skipped
    sent: str = ""
    got: str = ""
    reason: str = ""  # one line when not passed
    cause: str = ""  # the likely cause from the engine's log and the knowledge base, when it says more
    figures: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the engine answered correctly (and, where checked, on the GPU)."""
        return self.kind in (PASS, SKIPPED)

    def failed(self, reason: str, kind: str = FAIL) -> Check:
        """Mark failed with a one-line reason; returns self."""
        self.kind, self.reason = kind, reason
        return self

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (docs/verify.md)."""
        return {"engine": self.engine, "url": self.url, "ok": self.ok, "result": self.kind, "sent": self.sent,
                "got": self.got, "reason": self.reason or None, "cause": self.cause or None,
                "figures": {k: round(v, 4) for k, v in self.figures.items()}, "elapsed_s": round(self.elapsed_s, 3)}


def short(text: str, limit: int = 80) -> str:
    """One line of at most limit characters, quoted."""
    flat = " ".join(str(text).split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def client(timeout_s: float) -> Any:
    """An httpx client for one check: a short connect timeout, the check's own read timeout, no proxies."""
    import httpx

    # trust_env=False: an HTTP(S)_PROXY meant for the internet must not carry requests to the engines.
    return httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)), trust_env=False)


def _transport_failure(check: Check, exc: Exception, target: Target) -> Check:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        why = f" ({target.timeout_why})" if target.timeout_why else ""
        return check.failed(f"no answer within {target.timeout_s:g} s{why}", TIMEOUT)
    if isinstance(exc, httpx.ConnectError):
        return check.failed(f"nothing answers at {target.url} ({type(exc).__name__})")
    return check.failed(f"the connection broke before a whole answer came ({type(exc).__name__}: {exc})")


def _http_error(check: Check, status: int, body: str) -> Check:
    check.got = f"HTTP {status} {short(body)}"
    return check.failed(f"HTTP {status} instead of an answer: {short(body, 120)}")


# --- llm -----------------------------------------------------------------------------------------------------------

def llm_model(http: Any, target: Target) -> str:
    """The model name to put in the request: the target's, else the first of /v1/models, else 'default'."""
    if target.model:
        return target.model
    try:
        listed = http.get(target.url + "/v1/models", timeout=min(5.0, target.timeout_s)).json()
        return str(listed["data"][0]["id"])
    except Exception:  # noqa: BLE001 - llama.cpp serves any name; the chat request shows real problems
        return "default"


def check_llm(target: Target, clock: Clock = time.perf_counter) -> tuple[Check, str]:
    """Stream a short deterministic chat completion; return the check and the answer's text."""
    import httpx

    check = Check(target.engine, target.url)
    with client(target.timeout_s) as http:
        model = llm_model(http, target)
        body = {"model": model, "messages": [{"role": "user", "content": LLM_PROMPT}], "temperature": 0,
                "max_tokens": LLM_MAX_TOKENS, "stream": True, "stream_options": {"include_usage": True}}
        check.sent = f"POST /v1/chat/completions (model {model}, stream, temperature 0, max_tokens " \
                     f"{LLM_MAX_TOKENS}): {short(LLM_PROMPT, 50)}"
        start = clock()
        try:
            with http.stream("POST", target.url + "/v1/chat/completions", json=body) as response:
                if response.status_code != 200:
                    return _http_error(check, response.status_code, response.read().decode("utf-8", "replace")), ""
                if "text/event-stream" in response.headers.get("content-type", ""):
                    text = _read_stream(check, response, start, clock)
                else:  # a server that ignores "stream" answers one JSON body: still an answer, no TTFT
                    text = _read_whole(check, response.read())
        except httpx.HTTPError as exc:
            check.elapsed_s = clock() - start
            return _transport_failure(check, exc, target), ""
        check.elapsed_s = clock() - start
    return check, text


def _read_stream(check: Check, response: Any, start: float, clock: Clock) -> str:
    parts: list[str] = []
    first = last = None
    chunks, usage, finish, done = 0, None, None, False
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # comments, event names, keep-alives
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            check.failed(f"stream chunk {chunks + 1} is not JSON: {short(payload, 60)}")
            check.got = f"{chunks} chunks, then {short(payload, 40)}"
            return ""
        chunks += 1
        if event.get("usage"):
            usage = event["usage"]
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                now = clock()
                first = now if first is None else first
                last = now
                parts.append(piece)
            finish = choice.get("finish_reason") or finish
    text = "".join(parts)
    tokens = int((usage or {}).get("completion_tokens") or sum(1 for p in parts if p))
    check.got = f"{chunks} chunks, {tokens} tokens: {short(text, 60)} (finish {finish or 'none'})"
    if first is not None:
        check.figures["ttft_s"] = first - start
        if last is not None and last > first and tokens > 1:
            check.figures["tokens_per_s"] = (tokens - 1) / (last - first)
        check.figures["tokens"] = tokens
    _judge_answer(check, text, finish, done)
    return text


def _read_whole(check: Check, raw: bytes) -> str:
    try:
        choice = json.loads(raw)["choices"][0]
        text, finish = (choice.get("message") or {}).get("content") or "", choice.get("finish_reason")
    except (ValueError, KeyError, IndexError, TypeError):
        check.got = short(raw.decode("utf-8", "replace"))
        check.failed(f"the answer is not an OpenAI chat completion: {check.got}")
        return ""
    check.got = f"one JSON answer (not streamed): {short(text, 60)} (finish {finish or 'none'})"
    _judge_answer(check, text, finish, True)
    return text


def _judge_answer(check: Check, text: str, finish: str | None, done: bool) -> None:
    if check.kind != PASS:
        return
    if not text.strip():
        check.failed(f"empty answer (finish {finish or 'none'})")
    elif finish is None:
        check.failed("the stream ended without a finish reason" + ("" if done else " or [DONE]: cut off"))
    elif finish not in FINISH_OK:
        check.failed(f"finish reason {finish!r}, not stop or length")


def speakable(text: str) -> str:
    """The LLM's answer as a sentence to speak: reasoning blocks and markup dropped, at most 30 words."""
    text = re.sub(r"<think>.*?(</think>|$)", " ", text, flags=re.DOTALL)
    text = re.sub(r"[*_#`>|~\[\]{}]", " ", text)
    return " ".join(text.split()[:30])


# --- tts -----------------------------------------------------------------------------------------------------------

def duration_range(text: str) -> tuple[float, float]:
    """The durations (seconds) that fit text spoken at any sane speed."""
    words = max(1, len(normalise(text)))
    return words * SECONDS_PER_WORD[0], words * SECONDS_PER_WORD[1] + DURATION_SLACK_S


def check_tts(target: Target, text: str, clock: Clock = time.perf_counter,
              response_format: str = "wav") -> tuple[Check, Audio | None]:
    """Ask for text as speech; the audio must parse as the requested format, fit the sentence, and not be silent."""
    import httpx

    check = Check(target.engine, target.url)
    model = target.model or "kokoro"
    body = {"model": model, "input": text, "voice": TTS_VOICE, "response_format": response_format,
            "stream": False, "speed": 1.0}
    check.sent = f"POST /v1/audio/speech ({response_format}, voice {TTS_VOICE}): {short(text, 60)}"
    start = clock()
    try:
        with client(target.timeout_s) as http:
            response = http.post(target.url + "/v1/audio/speech", json=body)
    except httpx.HTTPError as exc:
        check.elapsed_s = clock() - start
        return _transport_failure(check, exc, target), None
    check.elapsed_s = elapsed = clock() - start
    if response.status_code != 200:
        return _http_error(check, response.status_code, response.content.decode("utf-8", "replace")), None
    data = response.content
    try:
        audio = parse_audio(data, response_format)
    except AudioError as exc:
        check.got = f"{len(data)} bytes ({response.headers.get('content-type', 'no content type')})"
        return check.failed(f"{exc}"), None
    check.got = f"{len(data)} bytes: {audio.summary()}"
    check.figures["audio_s"] = audio.duration_s
    if elapsed > 0:
        check.figures["audio_s_per_s"] = audio.duration_s / elapsed
    low, high = duration_range(text)
    if not low <= audio.duration_s <= high:
        return check.failed(f"{audio.duration_s:.2f} s of audio for {len(normalise(text))} words: "
                            f"expected {low:.1f}–{high:.1f} s"), None
    if audio.format == "wav":
        measured = level(audio)
        check.got += f", {measured.dbfs()}"
        if measured.silent:
            return check.failed(f"silence: {audio.duration_s:.2f} s of audio that never rises above -40 dBFS "
                                f"({measured.dbfs()})"), None
    return check, audio


# --- asr -----------------------------------------------------------------------------------------------------------

def check_asr(target: Target, wav: bytes, said: str, audio_s: float, what: str,
              clock: Clock = time.perf_counter) -> Check:
    """Upload a 16 kHz WAV to whisper.cpp's /inference; the transcript must be within WER_MAX of what was said."""
    import httpx

    check = Check(target.engine, target.url)
    check.sent = f"POST /inference (multipart file, {audio_s:.1f} s {what}): {short(said, 60)}"
    start = clock()
    try:
        with client(target.timeout_s) as http:
            response = http.post(target.url + "/inference", files={"file": ("speech.wav", wav, "audio/wav")},
                                 data={"temperature": "0", "response_format": "json"})
    except httpx.HTTPError as exc:
        check.elapsed_s = clock() - start
        return _transport_failure(check, exc, target)
    check.elapsed_s = elapsed = clock() - start
    if response.status_code != 200:
        return _http_error(check, response.status_code, response.content.decode("utf-8", "replace"))
    try:
        answer = response.json()
        heard = answer["text"]
        if not isinstance(heard, str):
            raise TypeError(type(heard).__name__)
    except (ValueError, KeyError, TypeError):
        check.got = short(response.content.decode("utf-8", "replace"))
        return check.failed(f"the answer is not whisper.cpp's JSON with a text field: {check.got}")
    wer = word_error_rate(said, heard)
    check.got = f"{short(heard, 70)} (WER {wer:.0%})"
    check.figures["wer"] = wer
    if audio_s > 0:
        check.figures["real_time_factor"] = elapsed / audio_s
    if not heard.strip():
        return check.failed(f"heard nothing in {audio_s:.1f} s of speech")
    if wer > WER_MAX:
        return check.failed(f"heard {short(heard, 60)} for {short(said, 60)}: word error rate {wer:.0%} > "
                            f"{WER_MAX:.0%}")
    return check
