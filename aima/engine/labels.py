"""The labels aima puts on what it creates, in one place: how up, down, status and doctor find their own.

Labels name the stack and engine, carry the config hash (compose's config-hash idea), and say where the engine
answers (endpoint, health path) so that `status` and `doctor` can probe a container without planning again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

LABEL_STACK = "aima.stack"
LABEL_ENGINE = "aima.engine"
LABEL_HASH = "aima.config-hash"
LABEL_CANDIDATE = "aima.candidate"
LABEL_HEALTH = "aima.health-path"  # not part of the config hash
LABEL_ENDPOINT = "aima.endpoint"  # not part of the config hash; absent when the port is not published here
LABEL_MODEL = "aima.model"  # the catalogue/stack model name; not part of the config hash (the mounts are)
LABEL_MODEL_SOURCE = "aima.model-source"  # hf://ORG/REPO[/ENTRY]@REVISION; absent for hand-placed files
LABEL_CLAIM = "aima.claim"  # a random token aima records before it creates the object; not part of the config hash
LABEL_DOCTOR = "aima.doctor"  # doctor's own short runs (never a stack's)
LABEL_INSPECT = "aima.inspect"  # `aima inspect`'s created-never-started containers
DEFAULT_HEALTH_PATH = "/health"


CLAIM = "claim:"  # how a claim token is kept among the ids in aima's record of what it created


def proven(ids: Collection[str], object_id: str, labels: Mapping[str, str] | None) -> bool:
    """Whether aima's record proves it created this object: its id is there, or the claim token aima recorded
    before creating it (a run killed between the create and the record leaves only the claim)."""
    token = (labels or {}).get(LABEL_CLAIM)
    return object_id in ids or (bool(token) and CLAIM + str(token) in ids)


def stack_selector(stack: str = "") -> dict[str, str]:
    """Labels that select a stack's containers and networks; every stack's when stack is ''."""
    return {LABEL_STACK: stack}


def network_labels(stack: str) -> dict[str, str]:
    """The labels of a stack's network (so that `down` removes it)."""
    return {LABEL_STACK: stack}


def health_url(labels: Mapping[str, str], endpoint: str | None = None) -> str | None:
    """The health URL of a container from its labels (endpoint + health path); None when it has no endpoint.

    ``endpoint`` overrides the label (doctor's trials publish on a random port).
    """
    base = endpoint or labels.get(LABEL_ENDPOINT)
    if not base:
        return None
    return base.rstrip("/") + (labels.get(LABEL_HEALTH) or DEFAULT_HEALTH_PATH)
