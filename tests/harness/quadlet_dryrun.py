"""Run Podman's own quadlet generator over `aima export --format quadlet` units (a maintainer's check).

    python -m tests.harness.quadlet_dryrun /usr/libexec/podman/quadlet

quadlet arrived with Podman 4.4 and the units need 4.5 (HealthCmd=, Secret=); Debian 12, where CI runs, has 4.3.1
and no generator, so this is not a pytest test (CI would only ever skip it): tests/export/test_quadlet.py checks
the same units against quadlet 4.5.0's key schema on every run. This script exports a stack with a secret and
`$`, `%`, `"` and `\\` in env values through the real CLI, runs `quadlet -dryrun`, and checks the generated
ExecStart= lines (container and network names, systemd's $$/%% escapes, the Podman secret). Exit 0 when quadlet
accepts every unit, 1 with the reason otherwise.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

STACK = """\
engines:
  llm:
    env: {HF_TOKEN: hf_abc123, PRICE: "5$ or 10% of $HOME", QUOTE: 'say "hi" \\\\ bye'}
"""
STACK_NAME = "aima"
ENGINES = ("asr", "llm", "tts")


def check(quadlet: str, hardware: str = "rtx-3080") -> list[str]:
    """Problems quadlet or the generated services show; empty when all is well."""
    with tempfile.TemporaryDirectory(prefix="aima-quadlet-") as tmp:
        stack, units = Path(tmp) / "aima.yaml", Path(tmp) / "units"
        stack.write_text(STACK)
        export = subprocess.run([sys.executable, "-m", "aima", "export", "--format", "quadlet", "--hardware",
                                 hardware, "--stack", str(stack), "-o", str(units)],
                                capture_output=True, text=True, timeout=120)
        if export.returncode != 0:
            return [f"aima export failed: {export.stderr.strip()}"]
        done = subprocess.run([quadlet, "-dryrun", "-no-kmsg-log"], capture_output=True, text=True, timeout=60,
                              env={"QUADLET_UNIT_DIRS": str(units), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        return [f"quadlet -dryrun exited {done.returncode}: {done.stderr.strip()}"]
    services = done.stdout.split("---")
    problems = []
    for engine in ENGINES:
        name = f"aima-{STACK_NAME}-{engine}.service"
        if name not in services:
            problems.append(f"quadlet made no {name}")
            continue
        body = services[services.index(name) + 1]
        start = next((line for line in body.splitlines() if line.startswith("ExecStart=")), "")
        for want in (f"--name=aima-{STACK_NAME}-{engine}", f"--network=systemd-aima-{STACK_NAME}"):
            if want not in start:
                problems.append(f"{name}: ExecStart= lacks {want}")
        if engine == "llm":
            # systemd turns $$ and %% of ExecStart back into $ and %; the token stays a Podman secret.
            for want in ('--env "PRICE=5$$ or 10%% of $$HOME"',
                         f"--secret aima-{STACK_NAME}-hf_token,type=env,target=HF_TOKEN"):
                if want not in body:
                    problems.append(f"{name}: lacks {want}")
    if "hf_abc123" in done.stdout:
        problems.append("the token's value reached a generated service")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems = check(argv[0])
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print(f"quadlet ({argv[0]}) accepts every unit; ExecStart= lines carry the planned names, escapes and secret")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
