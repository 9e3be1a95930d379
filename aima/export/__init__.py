"""Plan -> files other tools run: a Compose file (compose.py), Kubernetes manifests (k8s.py), Podman Quadlet units
(quadlet.py)."""

from __future__ import annotations

from aima.errors import AimaError
from aima.plan_types import Plan


def ensure_exportable(plan: Plan) -> None:
    """Refuse a plan with refused engines: an export that silently drops an engine would look complete."""
    if plan.ok:
        return
    where = plan.hardware.name or "this machine"
    names = "; ".join(f"{r.engine}: {r.reason}" for r in plan.refusals)
    raise AimaError(f"cannot export: the plan for {where} refuses {len(plan.refusals)} engine(s): {names}",
                    hint="`aima plan` shows every rejected candidate; disable the engine in the stack file "
                         "(enabled: false) to export the rest")


def is_secret(key: str, value: str) -> bool:
    """True for env entries that must not be written into a file: a secret-looking key or value (aima.secrets)."""
    from aima.secrets import is_secret as secret

    return secret(key, value)


def dump_yaml(documents: list[dict]) -> str:
    """YAML text of one or more documents: block style, keys in our order, no &anchors for repeated values."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True  # anchors and *aliases are legal YAML but make a generated file hard to read

    if len(documents) == 1:
        return yaml.dump(documents[0], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096,
                         explicit_start=True)
