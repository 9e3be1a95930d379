"""aima export --format quadlet: Podman Quadlet units, checked against quadlet's documented schema.

Debian 12's podman 4.3.1 has no quadlet generator (/usr/libexec/podman/quadlet arrived with 4.4), so the units are
checked here the way quadlet 4.5.0 reads them: every key is one that version accepts in its section
(data/quadlet-v4.5.0-keys.yaml, from podman's quadlet.go), and each value parses the way quadlet parses that key
(raw keys verbatim; Exec/PodmanArgs/Secret/Environment/Label split into words with systemd's quoting and C
escapes), with systemd's %%/$$ unescaping of the generated ExecStart. Where a quadlet binary exists (Podman >= 4.4),
tests/harness/quadlet_dryrun.py runs it on the units with -dryrun (a maintainer's check: CI has no generator).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from aima.errors import AimaError
from aima.export.quadlet import dump_quadlet, quadlet_units, secret_name
from tests.conftest import PROFILES
from tests.test_cli_json_errors import run

SCHEMA = yaml.safe_load((Path(__file__).parent / "data" / "quadlet-v4.5.0-keys.yaml").read_text())
SYSTEMD_KEYS = {"Unit": {"Description", "Wants", "After"}, "Service": {"Restart", "TimeoutStartSec"}}


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections -> [(key, value)] as systemd's unit parser reads them (comments, [Group], Key=Value)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), line
            current = line[1:-1]
            assert current not in groups, f"section [{current}] twice"
            groups[current] = []
            continue
        assert current is not None, f"a key before any section: {line}"
        key, sep, value = line.partition("=")
        assert sep and key.strip() == key and key.isidentifier(), f"not Key=Value: {line!r}"
        assert not value.endswith("\\"), f"a line continuation: {line!r}"
        groups[current].append((key, value.strip()))
    return groups


def _systemd_unescape(text: str) -> str:
    """What systemd makes of %% and $$ in the generated ExecStart; a lone % or $ would be expanded (a bug)."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c in "%$":
            assert text[i + 1:i + 2] == c, f"unescaped {c!r} in {text!r}"
            i += 1
        out.append(c)
        i += 1
    return "".join(out)


def split_words(text: str) -> list[str]:
    """systemd's exec-style word splitting (quadlet's LookupAllArgs: unquote + C unescape), for what aima writes."""
    words, i = [], 0
    escapes = {"\\": "\\", '"': '"', "'": "'", "t": "\t", "n": "\n"}
    while i < len(text):
        if text[i] in " \t":
            i += 1
            continue
        word = []
        if text[i] == '"':
            i += 1
            while text[i] != '"':
                if text[i] == "\\":
                    word.append(escapes[text[i + 1]])
                    i += 2
                else:
                    word.append(text[i])
                    i += 1
            i += 1
            assert i >= len(text) or text[i] == " ", f"text after a closing quote in {text!r}"
        else:
            while i < len(text) and text[i] not in " \t":
                assert text[i] not in "\"'\\", f"a quote or backslash in an unquoted word: {text!r}"
                word.append(text[i])
                i += 1
        words.append(_systemd_unescape("".join(word)))
    return words


def check_schema(name: str, text: str) -> dict[str, list[tuple[str, str]]]:
    """Every section and key one quadlet 4.5 accepts for this kind of unit."""
    groups = parse_unit(text)
    kind = "Container" if name.endswith(".container") else "Network"
    assert kind in groups, f"{name}: no [{kind}] section"
    for group, pairs in groups.items():
        allowed = set(SCHEMA[group]) if group in SCHEMA else SYSTEMD_KEYS.get(group)
        assert allowed is not None, f"{name}: section [{group}]"
        if group in ("Container", "Network"):
            assert group == kind, f"{name}: [{group}] in a {kind} unit"
        for key, _ in pairs:
            assert key in allowed, f"{name}: [{group}] {key}= is not a key quadlet 4.5.0 accepts"
    return groups


def values(groups, key):
    return [v for k, v in groups["Container"] if k == key]


@pytest.mark.parametrize("profile", sorted(p.stem for p in PROFILES.glob("*.yaml")))
def test_every_shipped_profile_exports_units_quadlet_accepts(planner, profile):
    plan, _ = planner(profile)
    if not plan.ok:  # an export without the refused engine would look complete
        with pytest.raises(AimaError, match="cannot export"):
            quadlet_units(plan)
        return
    units = quadlet_units(plan)
    assert [u.name for u in units] == [f"aima-{plan.stack}.network"] + [
        f"aima-{plan.stack}-{e.engine}.container" for e in plan.engines]
    for unit in units:
        groups = check_schema(unit.name, unit.text)
        if unit.name.endswith(".network"):
            continue
        e = next(e for e in plan.engines if unit.name == f"aima-{plan.stack}-{e.engine}.container")
        [image] = values(groups, "Image")
        assert _systemd_unescape(image) == e.image
        assert values(groups, "Network") == [f"aima-{plan.stack}.network"]
        assert dict(groups["Install"]) == {"WantedBy": "default.target"}
        assert dict(groups["Service"])["Restart"] == "on-failure"
        # The argv podman runs: --entrypoint's program, then Exec's words, is the plan's entrypoint + command.
        args = [w for v in values(groups, "PodmanArgs") for w in split_words(v)]
        entry = [a.split("=", 1)[1] for a in args if a.startswith("--entrypoint=")]
        execs = [split_words(v) for v in values(groups, "Exec")]
        argv = entry + (execs[0] if execs else [])
        assert argv == list((e.entrypoint or ()) + e.command) or (e.entrypoint is None and argv == list(e.command))
        labels = dict(w.split("=", 1) for v in values(groups, "Label") for w in split_words(v))
        assert labels == e.labels(plan.stack)
        for port in values(groups, "PublishPort"):
            ip, host, container = port.split(":")
            assert ip in ("127.0.0.1", "0.0.0.0") and host.isdigit() and container.isdigit()
        assert values(groups, "AddDevice") == [f"nvidia.com/gpu={d}" for d in (e.devices or ("all",))] if e.gpu \
            else values(groups, "AddDevice") == []
        [health] = values(groups, "HealthCmd")
        assert f"127.0.0.1:{e.container_port}{e.health.path}" in health


def test_limits_go_to_podman_args_and_models_mount_read_only(planner):
    plan, _ = planner("rtx-3080")
    groups = parse_unit(next(u for u in quadlet_units(plan) if u.name.endswith("-asr.container")).text)
    args = [w for v in values(groups, "PodmanArgs") for w in split_words(v)]
    assert {"--memory=8192m", "--cpus=4", "--shm-size=1024m", "--pids-limit=1024"} <= set(args)
    [volume] = values(groups, "Volume")
    source, target, mode = volume.split(":")
    assert (target, mode) == ("/models", "ro") and os.path.isabs(source)


def test_a_hub_model_mounts_its_whole_repo_folder_so_snapshot_links_resolve(planner):
    plan, _ = planner("rtx-3080")
    llm = plan.engine("llm")
    assert llm.model is not None and llm.model.source is not None
    groups = parse_unit(next(u for u in quadlet_units(plan) if u.name.endswith("-llm.container")).text)
    [volume] = values(groups, "Volume")
    source, target, _ = volume.split(":")
    # snapshots/COMMIT/FILE -> ../../blobs/SHA: the mount is models--ORG--REPO, which holds both.
    assert Path(source).name.startswith("models--") and source == llm.mounts[0].source
    model_arg = next(a for a in split_words(values(groups, "Exec")[0]) if a.startswith(target + "/snapshots/"))
    assert model_arg.endswith(Path(llm.model.file).name)


STRANGE_STACK = """
    engines:
      llm:
        env: {HF_TOKEN: hf_abc123, PRICE: "5$ or 10% of $HOME", QUOTE: 'say "hi" \\\\ bye'}
"""


def test_secrets_are_podman_secrets_and_odd_values_survive_quoting(planner):
    plan, _ = planner("rtx-3080", stack_yaml=STRANGE_STACK)
    text = next(u for u in quadlet_units(plan) if u.name.endswith("-llm.container")).text
    assert "hf_abc123" not in text and "hf_abc123" not in dump_quadlet(plan)
    groups = check_schema("aima-aima-llm.container", text)
    assert values(groups, "Secret") == [f"{secret_name(plan.stack, 'HF_TOKEN')},type=env,target=HF_TOKEN"]
    env = dict(w.split("=", 1) for v in values(groups, "Environment") for w in split_words(v))
    assert env["PRICE"] == "5$ or 10% of $HOME" and env["QUOTE"] == 'say "hi" \\\\ bye'
    assert env == {k: v for k, v in plan.engine("llm").env if k != "HF_TOKEN"}
    assert f"podman secret create {secret_name(plan.stack, 'HF_TOKEN')} -" in dump_quadlet(plan)


def test_export_writes_one_file_per_unit_through_the_cli(tmp_path):
    rc, out, err = run("export", "--format", "quadlet", "--hardware", "2x-rtx-3090", "-o", str(tmp_path / "units"))
    assert rc == 0, err
    names = sorted(p.name for p in (tmp_path / "units").iterdir())
    assert names == ["aima-aima-asr.container", "aima-aima-llm.container", "aima-aima-tts.container",
                     "aima-aima.network"]
    assert "wrote 4 Quadlet units" in out
    for path in (tmp_path / "units").iterdir():
        check_schema(path.name, path.read_text())
    rc, out, _ = run("export", "--format", "quadlet", "--hardware", "2x-rtx-3090")
    assert rc == 0 and out.count("### FILE ") == 4


def test_a_refused_plan_is_not_exported_and_a_file_is_not_a_folder(tmp_path):
    rc, _, err = run("export", "--format", "quadlet", "--hardware", "gtx-1080", "--stack", str(tmp_path / "x.yaml"))
    assert rc == 1 and "x.yaml" in err
    (tmp_path / "file").write_text("")
    rc, _, err = run("export", "--format", "quadlet", "--hardware", "2x-rtx-3090", "-o", str(tmp_path / "file"))
    assert rc == 1 and err.startswith(f"error: -o {tmp_path / 'file'}"), err


def test_an_export_replaces_only_what_an_export_wrote(tmp_path):
    """A hand-written unit, a symbolic link or a folder under a unit's name is left alone and nothing is written;
    a unit an earlier export wrote is replaced. The Compose/k8s -o file follows the same rule."""
    units = tmp_path / "units"
    units.mkdir()
    mine = units / "aima-aima-llm.container"
    mine.write_text("[Container]\nImage=my-own\n")
    args = ("export", "--format", "quadlet", "--hardware", "2x-rtx-3090", "-o", str(units))
    rc, _, err = run(*args)
    assert rc == 1 and f"{mine} exists and was not written by `aima export`; nothing was written" in err, err
    assert mine.read_text() == "[Container]\nImage=my-own\n" and sorted(p.name for p in units.iterdir()) == [mine.name]
    mine.unlink()
    target = tmp_path / "target"
    target.write_text("keep")
    (units / "aima-aima.network").symlink_to(target)
    rc, _, err = run(*args)
    assert rc == 1 and "is a symbolic link" in err and target.read_text() == "keep"
    (units / "aima-aima.network").unlink()
    assert run(*args)[0] == 0 and run(*args)[0] == 0  # its own units are replaced
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services: {mine: {image: busybox}}\n")
    rc, _, err = run("export", "--format", "compose", "--hardware", "2x-rtx-3090", "-o", str(compose))
    assert rc == 1 and "was not written by `aima export`" in err and compose.read_text().startswith("services")
    compose.write_text("")
    assert run("export", "--format", "compose", "--hardware", "2x-rtx-3090", "-o", str(compose))[0] == 0
    assert run("export", "--format", "k8s", "--hardware", "2x-rtx-3090", "-o", str(compose))[0] == 0
