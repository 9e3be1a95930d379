"""Audio as engines send it: parse WAV and MP3 headers, measure level, and make the 16 kHz WAV whisper.cpp reads.

Pure functions over bytes (no I/O). A WAV is read chunk by chunk (RIFF: 4-byte id, 4-byte little-endian size,
data padded to an even length), so LIST/INFO or other chunks before `data` are skipped as any reader must.
An MP3 is walked frame by frame (ISO 11172-3 / 13818-3 frame headers) after an optional ID3v2 tag; its
duration is the frames' sample count over the sample rate. MP3 samples are not decoded, so silence is only
judged for WAV (the speech loop asks the TTS engine for WAV).
"""

from __future__ import annotations

import array
import math
import struct
import sys
from dataclasses import dataclass

WHISPER_RATE = 16000  # whisper.cpp's server reads 16 kHz audio (older builds refuse anything else)
SILENCE_PEAK = 0.01  # a peak below 1 % of full scale (-40 dBFS) is silence, whatever the header says
# What streaming writers put in a size field they cannot know yet: 0, -1, and 0x7FFFF000 (espeak-ng --stdout).
_STREAMED_SIZES = (0, 0xFFFFFFFF, 0x7FFFF000)


class AudioError(ValueError):
    """The bytes are not the audio they claim to be; str() says what is wrong in one line."""


@dataclass(frozen=True)
class Audio:
    """One parsed audio file: its format, layout, length, and (WAV only) its raw sample data."""

    format: str  # wav | mp3
    encoding: str  # pcm | float | mpeg-1 layer 3 ...
    sample_rate: int
    channels: int
    bits: int  # bits per sample (WAV); 0 for MP3
    duration_s: float
    data: bytes = b""  # the WAV data chunk (interleaved frames); empty for MP3
    note: str = ""  # what a reader should know (a streamed header, an MP3 whose level is not measured)
    info: tuple[tuple[str, str], ...] = ()  # a WAV's LIST/INFO entries before its data (ICMT, ICOP, ...)

    def summary(self) -> str:
        """'WAV pcm 24000 Hz mono 16-bit, 2.41 s' — for messages."""
        layout = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} channels")
        bits = f" {self.bits}-bit" if self.bits else ""
        return f"{self.format.upper()} {self.encoding} {self.sample_rate} Hz {layout}{bits}, {self.duration_s:.2f} s"


def sniff(data: bytes) -> str | None:
    """'wav', 'mp3' or None, from the first bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def parse_audio(data: bytes, expected: str) -> Audio:
    """Parse data as the format the client asked for (wav or mp3); AudioError when it is not that format."""
    if not data:
        raise AudioError("empty body: no audio at all")
    found = sniff(data)
    if found is None:
        raise AudioError(f"not audio: the body starts with {_preview(data)}")
    if found != expected:
        raise AudioError(f"asked for {expected.upper()}, got {found.upper()}")
    return parse_wav(data) if found == "wav" else parse_mp3(data)


def parse_wav(data: bytes) -> Audio:
    """Parse a RIFF/WAVE file; AudioError names what is missing, truncated or unsupported."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"not a WAV file: it starts with {_preview(data)}")
    offset, fmt, note = 12, None, ""
    info: tuple[tuple[str, str], ...] = ()
    while offset + 8 <= len(data):
        chunk_id, size = data[offset:offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        left = len(data) - body
        if chunk_id == b"fmt ":
            if size < 16 or left < 16:
                raise AudioError(f"WAV fmt chunk too short ({min(size, left)} bytes, 16 needed)")
            fmt = _wav_fmt(data[body:body + size])
        elif chunk_id == b"LIST" and data[body:body + 4] == b"INFO":
            info = _info_entries(data[body + 4:body + min(size, left)])
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("WAV data chunk comes before its fmt chunk: the layout of the samples is unknown")
            if size in _STREAMED_SIZES and left > 0 and size != left:
                size, note = left, "the header's data size was a streaming placeholder; measured to the end"
            if size > left:
                raise AudioError(f"truncated WAV: the header promises {size} bytes of audio, {left} arrived")
            encoding, channels, rate, bits = fmt
            frame = channels * bits // 8
            samples = data[body:body + size]
            if len(samples) % frame:
                raise AudioError(f"truncated WAV: the audio ends inside a sample frame ({len(samples)} bytes, "
                                 f"frames of {frame})")
            return Audio("wav", encoding, rate, channels, bits, len(samples) / frame / rate, samples, note, info)
        if size > left:
            raise AudioError(f"truncated WAV: chunk {chunk_id!r} promises {size} bytes, {left} arrived")
        offset = body + size + (size & 1)
    raise AudioError("WAV without a data chunk" if fmt is not None else "WAV without fmt and data chunks")


def _wav_fmt(chunk: bytes) -> tuple[str, int, int, int]:
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", chunk)
    if tag == 0xFFFE and len(chunk) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
        tag = struct.unpack_from("<H", chunk, 24)[0]
    encoding = {1: "pcm", 3: "float"}.get(tag)
    if encoding is None:
        raise AudioError(f"WAV encoding {tag:#06x} is not PCM or float (compressed WAV)")
    if channels < 1 or rate < 1 or bits not in ((8, 16, 24, 32) if encoding == "pcm" else (32, 64)):
        raise AudioError(f"WAV fmt chunk is nonsense: {channels} channels, {rate} Hz, {bits} bits, {encoding}")
    return encoding, channels, rate, bits


# MPEG audio frame headers: bitrates (kbit/s) by (version group, layer), sample rates by version.
_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # MPEG-1, -2, -2.5
_VERSION_NAMES = {3: "mpeg-1", 2: "mpeg-2", 0: "mpeg-2.5"}


def _mp3_frame(data: bytes, at: int) -> tuple[int, int, int, int, str] | None:
    """(frame length, samples, sample rate, channels, encoding) of the frame header at `at`, or None."""
    if at + 4 > len(data) or data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (data[at + 1] >> 3) & 3, (data[at + 1] >> 1) & 3
    bitrate_index, rate_index, padding = data[at + 2] >> 4, (data[at + 2] >> 2) & 3, (data[at + 2] >> 1) & 1
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values, or free format (no length in the header)
    layer = 4 - layer_bits
    group = 1 if version == 3 else 2
    bitrate = _BITRATES[(group, min(layer, 2) if group == 2 else layer)][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    if layer == 1:
        length, samples = (12 * bitrate // rate + padding) * 4, 384
    elif layer == 2 or group == 1:
        length, samples = 144 * bitrate // rate + padding, 1152
    else:  # layer III of MPEG-2/2.5: half the samples per frame
        length, samples = 72 * bitrate // rate + padding, 576
    channels = 1 if data[at + 3] >> 6 == 3 else 2
    return length, samples, rate, channels, f"{_VERSION_NAMES[version]} layer {layer}"


def parse_mp3(data: bytes) -> Audio:
    """Walk an MP3's frames; AudioError when no run of valid frames is found or the last frame is cut."""
    offset = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # ID3v2: 10-byte header, then a synchsafe (7 bits per byte) size
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        offset = 10 + size + (10 if data[5] & 0x10 else 0)
    end = len(data) - (128 if data[-128:-125] == b"TAG" else 0)  # an ID3v1 tag closes some files
    frames = samples = 0
    first = None
    while offset < end:
        header = _mp3_frame(data, offset)
        if header is None:
            if frames:
                raise AudioError(f"MP3 breaks off after {frames} frames: no frame header at byte {offset}")
            raise AudioError(f"MP3 without a valid frame header at byte {offset} ({_preview(data[offset:])})")
        length, count, rate, channels, encoding = header
        if offset + length > end:
            raise AudioError(f"truncated MP3: frame {frames + 1} needs {length} bytes, {end - offset} arrived")
        first = first or (rate, channels, encoding)
        frames, samples, offset = frames + 1, samples + count, offset + length
    if first is None:
        raise AudioError("MP3 with tags but no audio frames")
    rate, channels, encoding = first
    return Audio("mp3", encoding, rate, channels, 0, samples / rate, b"",
                 "MP3 frames are counted, not decoded: silence is not measured")


def _preview(data: bytes) -> str:
    head = data[:16]
    text = head.decode("ascii", "replace")
    return repr(text) if text.isprintable() else head.hex(" ")


def mono_samples(audio: Audio) -> list[float]:
    """The first channel's samples as floats in -1..1 (WAV only)."""
    if audio.format != "wav":
        raise AudioError("only WAV samples can be read without a decoder")
    data, channels, bits = audio.data, audio.channels, audio.bits
    if audio.encoding == "float":
        values = array.array("f" if bits == 32 else "d")
        values.frombytes(data)
        if sys.byteorder == "big":
            values.byteswap()
        return [float(v) for v in values[::channels]]
    if bits == 8:
        return [(b - 128) / 128 for b in data[::channels]]
    if bits == 24:
        step = 3 * channels
        return [int.from_bytes(data[i:i + 3], "little", signed=True) / 8388608 for i in range(0, len(data), step)]
    ints = array.array("h" if bits == 16 else "i")
    ints.frombytes(data)
    if sys.byteorder == "big":
        ints.byteswap()
    scale = float(1 << (bits - 1))
    return [v / scale for v in ints[::channels]]


@dataclass(frozen=True)
class Level:
    """Peak and RMS of a WAV's first channel, as fractions of full scale."""

    peak: float
    rms: float

    @property
    def silent(self) -> bool:
        """True when nothing in the audio rises above -40 dBFS."""
        return self.peak < SILENCE_PEAK

    def dbfs(self) -> str:
        """'peak -6.0 dBFS, RMS -21.3 dBFS'."""
        def db(value: float) -> str:
            return f"{20 * math.log10(value):.1f}" if value > 0 else "-inf"
        return f"peak {db(self.peak)} dBFS, RMS {db(self.rms)} dBFS"


def level(audio: Audio) -> Level:
    """Peak and RMS of the audio (WAV only)."""
    samples = mono_samples(audio)
    if not samples:
        return Level(0.0, 0.0)
    peak = max(abs(v) for v in samples)
    return Level(peak, math.sqrt(sum(v * v for v in samples) / len(samples)))


def resample(samples: list[float], rate: int, target: int = WHISPER_RATE) -> list[float]:
    """Linear-interpolation resampling: enough for speech recognition, not for music."""
    if rate == target or not samples:
        return list(samples)
    count = max(1, int(len(samples) * target / rate))
    step = rate / target
    last = len(samples) - 1
    out = []
    for i in range(count):
        pos = i * step
        j = int(pos)
        frac = pos - j
        nxt = samples[j + 1] if j < last else samples[last]
        out.append(samples[j] + (nxt - samples[j]) * frac)
    return out


def wav_bytes(samples: list[float], rate: int, info: dict[str, str] | None = None) -> bytes:
    """A mono 16-bit PCM WAV of samples (-1..1), with an optional LIST/INFO chunk (e.g. ICMT, ICOP)."""
    pcm = array.array("h", (max(-32768, min(32767, round(v * 32767))) for v in samples))
    if sys.byteorder == "big":
        pcm.byteswap()
    body = pcm.tobytes()
    chunks = [b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)]
    if info:
        entries = b""
        for key, value in info.items():
            text = value.encode() + b"\0"
            entries += key.encode()[:4].ljust(4) + struct.pack("<I", len(text)) + text + (b"\0" if len(text) & 1
                                                                                           else b"")
        chunks.append(b"LIST" + struct.pack("<I", 4 + len(entries)) + b"INFO" + entries)
    chunks.append(b"data" + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b""))
    riff = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(riff)) + riff


def _info_entries(chunk: bytes) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    at = 0
    while at + 8 <= len(chunk):
        key, length = chunk[at:at + 4].decode("ascii", "replace"), struct.unpack_from("<I", chunk, at + 4)[0]
        found.append((key, chunk[at + 8:at + 8 + length].split(b"\0", 1)[0].decode("utf-8", "replace")))
        at += 8 + length + (length & 1)
    return tuple(found)


def info_of(audio: Audio, key: str) -> str:
    """One LIST/INFO entry of a WAV (e.g. INAM, the title), or ''."""
    return dict(audio.info).get(key, "")


def for_whisper(audio: Audio) -> bytes:
    """The audio as whisper.cpp's server wants it: 16 kHz mono 16-bit PCM WAV."""
    # The INFO entries travel along, as any converter keeps a file's metadata.
    return wav_bytes(resample(mono_samples(audio), audio.sample_rate), WHISPER_RATE, dict(audio.info))
