"""Hostile or careless HF_* settings through the real CLI: one line, no internal error, no password echoed."""

from __future__ import annotations

import pytest

from tests.e2e.upkit import aima
from tests.harness.listeners import refused_port


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{refused_port()}")


def _pull():
    return aima("pull", "asr", "--hardware", "cpu-x86_64", "--model", "asr=hf://a/b/c.bin")


@pytest.mark.parametrize("value", ["http://[::1", "http://:80", "http://h:99999", "garbage", "ftp://x"])
def test_a_bad_endpoint_is_one_line(value, env, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", value)
    result = _pull()
    assert result.rc == 1 and result.err.startswith("error: HF_ENDPOINT must be an http(s) URL"), result.err
    assert "internal error" not in result.err


@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "0", "-1", "abc"])
def test_a_bad_download_timeout_is_one_line(value, env, monkeypatch):
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", value)
    result = _pull()
    assert result.rc == 1, result.err
    assert result.err.startswith(f"error: HF_HUB_DOWNLOAD_TIMEOUT must be a number of seconds between 0 and 3600, "
                                 f"got {value!r}"), result.err


def test_a_password_in_the_endpoint_is_not_echoed(env, monkeypatch):
    port = refused_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://user:s3cret@127.0.0.1:{port}")
    result = _pull()
    assert result.rc == 1 and f"127.0.0.1:{port}" in result.err and "s3cret" not in result.err, result.err
    monkeypatch.setenv("HF_ENDPOINT", "ftp://user:s3cret@x")
    result = _pull()
    assert result.rc == 1 and "s3cret" not in result.err, result.err
