"""`aima pull`'s downloader against curl on the same file from the loopback HF-compatible server, and the bytes
fetched again after a kill at 50 %.

Prints: MB/s of curl (-L, to a file on the same disk) and of aima's downloader (hashing and
fsync included) on a SIZE MiB file served by tests/harness/hfserver.py in its own process, best of RUNS, and the
ratio (target >= 0.9); then a download killed (SIGKILL) once half the file is on disk and resumed by a new
process: the Range it asks for, and the bytes of the file fetched twice (target 0).
Figures only, no asserts. Usage: python benchmarks/pull.py [--size 256] [--runs 3]
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
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

_CHILD = """
import sys
from pathlib import Path
from aima.models.download import pull
from aima.models.hub import HubSettings
from aima.models.source import ModelFile, ModelSource
size, sha = int(sys.argv[3]), sys.argv[4]
src = ModelSource("test/bench", "main", (ModelFile("model.bin", size, sha),), entry="model.bin")
result = pull([src], Path(sys.argv[1]), HubSettings(endpoint=sys.argv[2], timeout_s=30))
print(result.fetched_bytes)
"""


def _server(path: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.harness.hfserver", str(path)], cwd=_REPO,
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def _aima(hub: Path, endpoint: str, size: int, sha: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(hub), endpoint, str(size), sha], cwd=_REPO,
                            stdout=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256, help="MiB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aima-bench-pull-"))
    try:
        data = os.urandom(args.size * 2**20)
        sha = hashlib.sha256(data).hexdigest()
        (work / "model.bin").write_bytes(data)
        server, endpoint = _server(work / "model.bin")
        url = f"{endpoint}/test/bench/resolve/main/model.bin"
        try:
            curl_s, aima_s = [], []
            for i in range(args.runs):
                out = work / f"curl-{i}.bin"
                t = time.perf_counter()
                subprocess.run(["curl", "-sfL", "-o", str(out), url], check=True)
                curl_s.append(time.perf_counter() - t)
                out.unlink()
                hub = work / f"hub-{i}"
                t = time.perf_counter()
                proc = _aima(hub, endpoint, len(data), sha)
                proc.communicate()
                aima_s.append(time.perf_counter() - t)
                shutil.rmtree(hub)
            mb = len(data) / 1e6
            c, a = mb / min(curl_s), mb / min(aima_s)
            print(f"file: {args.size} MiB, best of {args.runs}")
            print(f"curl -L to a file:            {c:8.0f} MB/s")
            print(f"aima pull (SHA-256 + fsync):  {a:8.0f} MB/s   (a fresh process, imports included)")
            print(f"ratio aima/curl:              {a / c:8.2f}   (target >= 0.9)")

            hub = work / "hub-kill"
            partial = hub / "models--test--bench" / "blobs" / f"{sha}.incomplete"
            proc = _aima(hub, endpoint, len(data), sha)
            while proc.poll() is None and (not partial.exists() or partial.stat().st_size < len(data) // 2):
                time.sleep(0.001)
            proc.kill()
            proc.wait()
            kept = partial.stat().st_size if partial.exists() else 0
            resumed = _aima(hub, endpoint, len(data), sha)
            fetched = int(resumed.communicate()[0].strip() or 0)
            print(f"killed at {kept / len(data):.0%} on disk ({kept} bytes); the new process fetched {fetched} bytes")
            print(f"bytes of the file fetched twice: {kept + fetched - len(data)}   (target 0)")
        finally:
            server.kill()
            server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
