"""Run every benchmark once, in one run, and write docs/performance.md with their figures and peak memory.

Run: python benchmarks/run_all.py [--quick] [--out docs/performance.md]. Each benchmark is a script of
its own that prints figures; this entry point records what each printed, its wall time and the peak
resident memory of its process (ru_maxrss from wait4). `benchmarks/up.py` needs a Docker engine
(DOCKER_HOST, or `bash .ci/setup-docker --start`); without one its section says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder goes last on sys.path: benchmarks/inspect.py (the name) must not shadow the stdlib
# module, while the benchmarks can still import each other.
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _here] + [_here]

import argparse  # noqa: E402
import datetime  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# (script, arguments, arguments with --quick, what it measures)
BENCHMARKS = [
    ("startup.py", [], ["--runs", "5"], "`aima --help`, `aima detect --json`, `aima plan` wall time"),
    ("cli_vs_compose.py", [], ["--runs", "5"], "aima vs `docker-compose config` on an equivalent three-service file"),
    ("resolve.py", [], ["--seconds", "1"], "resolutions/s over every profile x engine (the matrix's work)"),
    ("inspect.py", [], [], "fatbin reader MB/s over a large synthetic library"),
    ("up.py", [], [], "`aima up` overhead vs the slowest engine and vs `docker-compose up -d` + polling; "
                      "crash-line -> diagnosis latency"),
    ("verify.py", [], ["--runs", "1"], "the time the speech loop (`aima verify`) adds to `aima up` on the stubs"),
    ("pull.py", [], ["--sizes", "128", "512", "--runs", "3"],
     "model download MB/s vs curl on the same file from the loopback hub; bytes fetched twice after a kill"),
    ("fuzz.py", [], ["--examples", "1000"], "hypothesis examples per input, uncaught exceptions"),
]


def run(script: str, args: list[str]) -> tuple[int, str, float, int]:
    """Run one benchmark; return (exit code, output, seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / script), *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, output, time.perf_counter() - start, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs and examples (minutes, not ten)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md")
    args = parser.parse_args()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Performance",
        "",
        f"Measured in one run of `python benchmarks/run_all.py{' --quick' if args.quick else ''}` on {when}:",
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, no GPU.",
        "Figures are what each script printed; ratios are taken inside one script, in the same run.",
        "Targets: `aima --help` < 0.10 s, `aima plan` <= 0.15 s, >= 10,000 resolutions/s, inspect >= 200 MB/s,",
        "`up` total / slowest engine <= 1.1, crash line -> diagnosis <= 1 s, 0 uncaught exceptions when fuzzing.",
        "",
        "| benchmark | what | exit | wall | peak RSS |",
        "|---|---|---|---|---|",
    ]
    sections = []
    for script, full, quick, what in BENCHMARKS:
        if not (HERE / script).exists():
            sections += [f"## {script}", "", "not present in this checkout", ""]
            continue
        code, output, seconds, rss_kib = run(script, quick if args.quick else full)
        print(f"{script}: exit {code}, {seconds:.1f} s, peak {rss_kib / 1024:.0f} MiB", flush=True)
        lines.append(f"| `{script}` | {what} | {code} | {seconds:.1f} s | {rss_kib / 1024:.0f} MiB |")
        sections += [f"## {script}", "", "```", output.rstrip(), "```", ""]
    args.out.write_text("\n".join(lines + [""] + sections))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
