"""`aima pull`'s downloader against curl on the same file from the loopback HF-compatible server, and the bytes
fetched again after a kill at 50 %.

Prints, per file size: MB/s of curl (-L, to a file on the same disk) and of aima's downloader (a fresh process:
imports, HEAD, SHA-256 and fsync included) on a file served by tests/harness/hfserver.py in its own process, the
median of RUNS alternating runs, and the ratio of the medians (target >= 0.9); the same timed by each tool's own
clock (curl's time_total, aima's pull() call), which leaves out the Python interpreter's start (~50 ms, a third
of curl's whole run on 128 MiB); the same for curl followed by
`sync --data` on its file (the durability aima gives before a rename, which plain curl does not); then a
download killed (SIGKILL) once half the file is on disk and resumed by a new process: the bytes of the file
fetched twice (target 0).
Figures only, no asserts. Usage: python benchmarks/pull.py [--sizes 128 512 2048] [--runs 5]
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
_REPO = os.path.dirname(_HERE)
sys.path.insert(0, _REPO)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

_CHILD = """
import sys
import time
from pathlib import Path
from aima.models.download import pull
from aima.models.hub import HubSettings
from aima.models.source import ModelFile, ModelSource
size, sha = int(sys.argv[3]), sys.argv[4]
src = ModelSource("test/bench", "main", (ModelFile("model.bin", size, sha),), entry="model.bin")
began = time.perf_counter()
result = pull([src], Path(sys.argv[1]), HubSettings(endpoint=sys.argv[2], timeout_s=30))
print(result.fetched_bytes, time.perf_counter() - began)
"""


def _server(path: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.harness.hfserver", str(path)], cwd=_REPO,
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def _child_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _aima(hub: Path, endpoint: str, size: int, sha: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(hub), endpoint, str(size), sha], cwd=_REPO,
                            stdout=subprocess.PIPE, text=True)


def _throughput(work: Path, size_mib: int, runs: int) -> None:
    data = os.urandom(size_mib * 2**20)
    sha = hashlib.sha256(data).hexdigest()
    (work / "model.bin").write_bytes(data)
    del data
    size = size_mib * 2**20
    server, endpoint = _server(work / "model.bin")
    url = f"{endpoint}/test/bench/resolve/main/model.bin"
    try:
        curl_s, synced_s, aima_s, curl_cpu, aima_cpu = [], [], [], [], []
        curl_xfer, aima_xfer = [], []  # each tool's own clock: the transfer without the process starting
        for i in range(runs):  # alternating, so a busy moment on the machine hits all three
            out = work / f"curl-{i}.bin"
            t, c0 = time.perf_counter(), _child_cpu()
            timed = subprocess.run(["curl", "-sfL", "-o", str(out), "-w", "%{time_total}", url], check=True,
                                   capture_output=True, text=True)
            curl_s.append(time.perf_counter() - t)
            curl_xfer.append(float(timed.stdout))
            curl_cpu.append(_child_cpu() - c0)
            out.unlink()
            # The same guarantee aima gives before it renames a file: the bytes are on the disk (fdatasync).
            t = time.perf_counter()
            subprocess.run(["curl", "-sfL", "-o", str(out), url], check=True)
            subprocess.run(["sync", "--data", str(out)], check=True)
            synced_s.append(time.perf_counter() - t)
            out.unlink()
            hub = work / f"hub-{i}"
            t, c0 = time.perf_counter(), _child_cpu()
            proc = _aima(hub, endpoint, size, sha)
            printed = proc.communicate()[0].split()
            aima_s.append(time.perf_counter() - t)
            aima_xfer.append(float(printed[1]) if len(printed) == 2 else float("nan"))
            aima_cpu.append(_child_cpu() - c0)
            if proc.returncode:
                raise SystemExit(f"aima's downloader failed (exit {proc.returncode})")
            shutil.rmtree(hub)
        mb = size / 1e6
        c, a, cs = (mb / statistics.median(x) for x in (curl_s, aima_s, synced_s))
        spread = (f"aima {mb / max(aima_s):.0f}-{mb / min(aima_s):.0f}, "
                  f"curl {mb / max(curl_s):.0f}-{mb / min(curl_s):.0f}")
        print(f"{size_mib:5d} MiB  curl {c:6.0f} MB/s  aima {a:6.0f} MB/s  ratio {a / c:4.2f}  "
              f"(fresh processes, start-up included; median of {runs}; range {spread} MB/s)")
        cx, ax = (mb / statistics.median(x) for x in (curl_xfer, aima_xfer))
        print(f"          transfer  curl {cx:6.0f} MB/s  aima {ax:6.0f} MB/s  ratio {ax / cx:4.2f}  (each tool's own "
              f"clock: curl's time_total; aima's pull(): HEAD, GET, SHA-256, fsync, rename)")
        print(f"          curl + sync --data {cs:6.0f} MB/s  ratio aima/(curl + sync) {a / cs:4.2f}  "
              f"(curl does not fsync; aima does before it renames the file)")
        print(f"          CPU seconds (user + sys), median: curl {statistics.median(curl_cpu):.2f}, aima "
              f"{statistics.median(aima_cpu):.2f} (SHA-256 and the interpreter are aima's extra work; on a busy "
              f"2-core machine wall time follows CPU time)")
    finally:
        server.kill()
        server.wait()
        (work / "model.bin").unlink()


def _kill_and_resume(work: Path, size_mib: int) -> None:
    data = os.urandom(size_mib * 2**20)
    sha = hashlib.sha256(data).hexdigest()
    (work / "model.bin").write_bytes(data)
    server, endpoint = _server(work / "model.bin")
    try:
        hub = work / "hub-kill"
        partial = hub / "models--test--bench" / "blobs" / f"{sha}.incomplete"
        proc = _aima(hub, endpoint, len(data), sha)
        while proc.poll() is None and (not partial.exists() or partial.stat().st_size < len(data) // 2):
            time.sleep(0.001)
        proc.kill()
        proc.wait()
        kept = partial.stat().st_size if partial.exists() else 0
        resumed = _aima(hub, endpoint, len(data), sha)
        fetched = int((resumed.communicate()[0].split() or ["0"])[0])
        print(f"killed at {kept / len(data):.0%} on disk ({kept} bytes); the new process fetched {fetched} bytes")
        print(f"bytes of the file fetched twice: {kept + fetched - len(data)}   (target 0)")
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512, 2048], help="file sizes in MiB")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # An installed aima runs from bytecode pip compiled at install; a checkout compiles at every fresh process
    # where PYTHONDONTWRITEBYTECODE is set, which would charge ~40 ms of compiling to each aima run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(_REPO, "aima")], check=True)
    work = Path(tempfile.mkdtemp(prefix="aima-bench-pull-"))
    try:
        print("download throughput, curl vs aima's downloader (target ratio >= 0.9)")
        for size in args.sizes:
            _throughput(work, size, args.runs)
        _kill_and_resume(work, min(args.sizes))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
