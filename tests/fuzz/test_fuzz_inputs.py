"""Every input aima reads gives a valid result or aima's own clear error, never another exception.

A small run per loader here; benchmarks/fuzz.py runs 10,000+ examples each.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import targets
from tests.fuzz.strategies import (
    ARCH_STRINGS,
    DOCKER_HOSTS,
    DOCUMENTS,
    HEALTH_BODIES,
    HF_URIS,
    HOSTILE,
    HUB_ENVS,
    LISTING_ENTRIES,
    PATH_ENVS,
    PING_ANSWERS,
    REQUIRE_STRINGS,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("loader", ["catalog", "profile", "stack", "signatures"])
def test_yaml_loaders_never_raise_anything_but_aima_errors(loader, tmp_path_factory):
    folder = tmp_path_factory.mktemp(loader)

    @FAST
    @given(DOCUMENTS)
    def run(text):
        targets.load_yaml(loader, text, folder)

    run()


@pytest.mark.parametrize("loader", ["catalog", "profile", "stack", "signatures"])
def test_yaml_loaders_refuse_hostile_documents_with_aima_errors(loader, tmp_path_factory):
    folder = tmp_path_factory.mktemp(loader)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(HOSTILE)
    def run(text):
        targets.load_yaml(loader, text, folder)

    run()


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "/dev/null", "/", "fifo"])
@pytest.mark.parametrize("loader", ["catalog", "profile", "stack", "signatures"])
def test_non_regular_files_are_refused_by_every_loader(loader, special, tmp_path):
    import os

    if special == "fifo":
        special = str(tmp_path / "pipe.yaml")
        os.mkfifo(special)
    targets.load_special(loader, special)


@FAST
@given(ARCH_STRINGS)
def test_arch_strings_parse_or_value_error(spec):
    targets.arch_string(spec)


@FAST
@given(REQUIRE_STRINGS)
def test_require_cuda_strings_parse_or_value_error(text):
    targets.require_string(text)


@FAST
@given(HEALTH_BODIES, targets.STATUSES)
def test_health_responses_are_judged_without_exceptions(body, status):
    targets.health_response(body, status)


@pytest.mark.parametrize("text", ["a: !cuda-facts.md 1\n", "a: !!python/object:os.system x\n", "a: !!binary aGk=\n",
                                  "\x1f", "a: [1\n", "- 1\n- 2\n"])
@pytest.mark.parametrize("loader", ["catalog", "profile", "stack", "signatures"])
def test_what_the_fuzzer_found_stays_fixed(loader, text, tmp_path):
    # Explicit tags once escaped as ConstructorError; a control character gave a two-line message.
    targets.load_yaml(loader, text, tmp_path)


@FAST
@given(DOCKER_HOSTS)
def test_docker_host_values_parse_or_name_what_is_wrong(text):
    targets.docker_host(text)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PING_ANSWERS)
def test_answers_to_the_docker_ping_are_docker_or_named_in_one_line(raw):
    targets.ping_answer(raw)


@FAST
@given(PATH_ENVS)
def test_folders_from_hostile_home_and_xdg_values_are_absolute_or_aima_errors(env):
    targets.paths_from_env(env)


@FAST
@given(HF_URIS)
def test_hf_uris_stay_inside_the_repository_or_are_refused(text):
    targets.hf_uri(text)


@FAST
@given(LISTING_ENTRIES)
def test_hub_listing_entries_stay_inside_the_cache_or_are_one_line_refusals(item):
    targets.listing_entry(item)


@FAST
@given(HUB_ENVS)
def test_hub_settings_from_hostile_env_are_usable_or_one_line_errors(env):
    targets.hub_settings(env)
