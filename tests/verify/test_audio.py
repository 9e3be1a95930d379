"""Audio parsing on real speech (espeak-ng, lame): formats, durations, truncation, silence, whisper's 16 kHz."""

from __future__ import annotations

import struct

import pytest

from aima.verify.audio import (
    AudioError,
    for_whisper,
    level,
    parse_audio,
    parse_mp3,
    parse_wav,
    wav_bytes,
)
from tests.harness.speech import REFERENCE_PATH, REFERENCE_TEXT


def test_espeak_wav_with_a_streamed_header_is_measured_to_the_end(spoken_wav):
    audio = parse_wav(spoken_wav)
    assert (audio.format, audio.encoding, audio.sample_rate, audio.channels, audio.bits) == ("wav", "pcm", 22050, 1, 16)
    assert 1.5 < audio.duration_s < 5.0  # eight words at 165 words a minute
    assert "placeholder" in audio.note
    assert not level(audio).silent


def test_a_wav_with_exact_sizes_and_an_info_chunk_round_trips(spoken_wav):
    original = parse_wav(spoken_wav)
    rebuilt = parse_wav(for_whisper(parse_wav(wav_bytes([0.0, 0.5, -0.5], 8000, {"INAM": "x"}))))
    assert rebuilt.info == (("INAM", "x"),) and rebuilt.sample_rate == 16000
    whisper = parse_wav(for_whisper(original))
    assert (whisper.sample_rate, whisper.channels, whisper.bits) == (16000, 1, 16)
    assert whisper.duration_s == pytest.approx(original.duration_s, abs=0.01)
    assert level(whisper).peak == pytest.approx(level(original).peak, abs=0.05)


def test_shipped_reference_recording_says_its_sentence_and_licence():
    audio = parse_wav(REFERENCE_PATH.read_bytes())
    info = dict(audio.info)
    assert info["INAM"] == REFERENCE_TEXT and "CC0" in info["ICOP"] and "espeak-ng" in info["ISFT"]
    assert (audio.sample_rate, audio.channels, audio.bits) == (16000, 1, 16)
    assert 2.0 < audio.duration_s < 4.0 and not level(audio).silent
    assert REFERENCE_PATH.stat().st_size < 100_000


def test_silence_is_silence_whatever_the_header_says():
    audio = parse_wav(wav_bytes([0.0] * 16000, 16000))
    assert audio.duration_s == 1.0 and level(audio).silent


@pytest.mark.parametrize("cut, problem", [
    (lambda d: d[: len(d) // 2], "header promises"),
    (lambda d: d[:-1], "header promises"),
    (lambda d: d[:30], "fmt chunk too short"),
    (lambda d: d[:36], "WAV without a data chunk"),
], ids=["half-the-audio", "last-byte", "inside-fmt", "before-data"])
def test_truncated_wav_is_named(cut, problem):
    exact = wav_bytes([0.1, -0.1] * 4000, 16000)
    with pytest.raises(AudioError, match=problem):
        parse_wav(cut(exact))


def test_streamed_wav_cut_inside_a_sample_is_named(spoken_wav):
    with pytest.raises(AudioError, match="inside a sample frame"):
        parse_wav(spoken_wav[:-1])


@pytest.mark.parametrize("body, expected, problem", [
    (b"", "wav", "empty body"),
    (b'{"error":"model not loaded"}', "wav", "not audio"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav", "without fmt and data"),
], ids=["empty", "json-error", "header-only"])
def test_not_audio_is_named(body, expected, problem):
    with pytest.raises(AudioError, match=problem):
        parse_audio(body, expected)


def test_compressed_wav_is_refused():
    data = bytearray(wav_bytes([0.0] * 10, 16000))
    struct.pack_into("<H", data, 20, 7)  # mu-law
    with pytest.raises(AudioError, match="not PCM or float"):
        parse_wav(bytes(data))


def test_float_and_8_bit_wavs_are_read():
    floats = struct.pack("<4f", 0.0, 0.5, -0.5, 0.25)
    riff = (b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 3, 1, 8000, 32000, 4, 32) + b"data" + struct.pack("<I", 16)
            + floats)
    audio = parse_wav(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    assert audio.encoding == "float" and level(audio).peak == 0.5
    riff = b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 8000, 16000, 2, 8) + b"data" + struct.pack("<I", 4) + \
        bytes([128, 0, 255, 0])
    audio = parse_wav(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    assert audio.channels == 2 and audio.duration_s == 2 / 8000 and level(audio).peak == pytest.approx(127 / 128)


def test_lame_mp3_with_id3_tag_has_the_speech_duration(spoken_mp3, spoken_wav):
    audio = parse_audio(spoken_mp3, "mp3")
    assert audio.format == "mp3" and audio.encoding == "mpeg-2 layer 3" and audio.sample_rate == 22050
    # lame adds an encoder delay and a padding frame: within a tenth of a second of the WAV
    assert audio.duration_s == pytest.approx(parse_wav(spoken_wav).duration_s, abs=0.1)
    assert "not decoded" in audio.note


def test_truncated_mp3_is_named(spoken_mp3):
    with pytest.raises(AudioError, match="truncated MP3"):
        parse_mp3(spoken_mp3[:-128 - 7])  # lame --tt ends the file with a 128-byte ID3v1 tag


def test_asked_for_wav_and_got_mp3(spoken_mp3):
    with pytest.raises(AudioError, match="asked for WAV, got MP3"):
        parse_audio(spoken_mp3, "wav")
