"""Plans for the export tests: shipped profiles with the shipped catalogue, or a stack/catalogue of the test's own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aima.catalog.load import load_catalog, merge, read_catalog
from aima.hardware.profiles import load_profile
from aima.plan import PlanOptions, make_plan
from aima.stack import Stack, load_stack
from tests.conftest import PROFILES

CATALOG = load_catalog(include_user_config=False)


def hardware(name: str):
    """A shipped profile's hardware."""
    return load_profile(PROFILES / f"{name}.yaml").hardware


@pytest.fixture
def planner(tmp_path: Path):
    """plan(profile, stack_yaml=None, catalogue_yaml=None, expose=False) -> (Plan, Catalog)."""

    def plan(profile: str, stack_yaml: str | None = None, catalogue_yaml: str | None = None, expose: bool = False):
        catalog = CATALOG
        if catalogue_yaml:
            path = tmp_path / "images.yaml"
            path.write_text(textwrap.dedent(catalogue_yaml))
            catalog = merge(CATALOG, read_catalog(path, partial=True))
        stack = Stack()
        if stack_yaml:
            path = tmp_path / "aima.yaml"
            path.write_text(textwrap.dedent(stack_yaml))
            stack = load_stack(path)
        return make_plan(hardware(profile), catalog, stack, PlanOptions(expose=expose)), catalog

    return plan
