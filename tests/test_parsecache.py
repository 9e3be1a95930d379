"""The parse cache gives back what the reader gave for the same bytes, and never anything else."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aima import parsecache
from aima.catalog.load import read_catalog
from aima.data import shipped
from aima.errors import ConfigError


def _counting(result):
    calls = []

    def read(path):
        calls.append(path)
        return result(path) if callable(result) else result

    return read, calls


def test_the_same_bytes_are_read_once(tmp_path):
    src = tmp_path / "a.yaml"
    src.write_text("x: 1\n")
    read, calls = _counting(("value", 1))
    assert parsecache.cached("t", src, read, tmp_path / "cache") == ("value", 1)
    assert parsecache.cached("t", src, read, tmp_path / "cache") == ("value", 1)
    assert len(calls) == 1


def test_changed_bytes_are_read_again_and_replace_the_entry(tmp_path):
    src = tmp_path / "a.yaml"
    src.write_text("x: 1\n")
    read, calls = _counting(lambda p: p.read_text())
    parsecache.cached("t", src, read, tmp_path / "cache")
    src.write_text("x: 2\n")
    assert parsecache.cached("t", src, read, tmp_path / "cache") == "x: 2\n"
    assert len(calls) == 2
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_a_file_that_fails_is_never_cached(tmp_path):
    src = tmp_path / "bad.yaml"
    src.write_text("engines: [\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="bad.yaml:"):
            parsecache.cached("catalog", src, read_catalog, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_missing_file_is_the_readers_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        parsecache.cached("catalog", tmp_path / "missing.yaml", read_catalog, tmp_path / "cache")


def test_the_shipped_catalogue_round_trips(tmp_path):
    path = shipped("images.yaml")
    first = parsecache.cached("catalog", path, read_catalog, tmp_path)
    read, calls = _counting(None)
    assert parsecache.cached("catalog", path, read, tmp_path) == first == read_catalog(path)
    assert calls == []


class _Boom:
    def __reduce__(self):
        import os

        return (os.getcwd, ())


def test_a_cache_entry_that_names_foreign_code_is_not_loaded(tmp_path):
    src = tmp_path / "a.yaml"
    src.write_text("x: 1\n")
    read, calls = _counting("fresh")
    parsecache.cached("t", src, read, tmp_path / "cache")
    entry = next((tmp_path / "cache").iterdir())
    key = entry.read_bytes()[:32]
    entry.write_bytes(key + pickle.dumps(_Boom()))
    assert parsecache.cached("t", src, read, tmp_path / "cache") == "fresh"
    assert len(calls) == 2


def test_an_unwritable_cache_folder_only_costs_speed(tmp_path):
    src = tmp_path / "a.yaml"
    src.write_text("x: 1\n")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    read, calls = _counting("value")
    assert parsecache.cached("t", src, read, blocker / "parsed") == "value"
    assert parsecache.cached("t", src, read, blocker / "parsed") == "value"
    assert len(calls) == 2


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null"])
def test_a_device_goes_to_the_reader_unread(tmp_path, special):
    read, calls = _counting("the reader's answer")
    assert parsecache.cached("t", Path(special), read, tmp_path / "cache") == "the reader's answer"
    assert calls == [Path(special)]
    assert not (tmp_path / "cache").exists()
