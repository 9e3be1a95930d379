"""A dedicated dockerd for the end-to-end tests, with a stand-in NVIDIA hook.

What this sandbox taught us (Debian bookworm, docker.io 20.10, kernel 6.x, root, no systemd):
- dockerd starts as-is: overlay2 works on the ext4 root, cgroups are v1 (cgroupfs driver),
  and it runs its own containerd under --exec-root, so no system service is needed.
- We pass --iptables=false: with iptables on, dockerd flushes and recreates the shared DOCKER
  chains and sets FORWARD to DROP, which breaks a system dockerd on the same host (CI runners
  have one). Ports published on 127.0.0.1 still work through docker-proxy, which is all the
  tests need; containers just get no outbound NAT (there is no internet here anyway).
- For the same reason we bring our own bridge instead of docker0.
- dockerd registers its "nvidia" device driver only if `nvidia-container-runtime-hook` is on its
  PATH at start (moby daemon/nvidia_linux.go); it then sets NVIDIA_VISIBLE_DEVICES from the
  request and adds the hook as an OCI prestart hook, which runc runs on the host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import HarnessError, HarnessUnavailable
from .procs import alive, locked, read_pid, runs, tail, which

HOOK_NAME = "nvidia-container-runtime-hook"
BRIDGE_NAME = "aima-test0"

# The hook runs on the host as runc's prestart hook, gets the container state JSON on stdin,
# and must exit 0 or the container does not start. It records one line per call.
_HOOK_SCRIPT = """#!/bin/sh
# Stand-in for NVIDIA's hook (aima tests): record the call, touch no device.
state=$(cat)
printf 'args=%s state=%s\\n' "$*" "$state" >> '{log}'
exit 0
"""


@dataclass(frozen=True)
class DaemonPaths:
    """Where the test daemon keeps its socket, state, logs and the stand-in hook."""

    run_dir: Path
    data_root: Path
    bridge_cidr: str
    storage_driver: str | None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DaemonPaths:
        """Read the AIMA_TEST_* overrides, falling back to the shared defaults."""
        env = os.environ if environ is None else environ
        return cls(
            run_dir=Path(env.get("AIMA_TEST_RUN_DIR", "/run/aima-test")),
            data_root=Path(env.get("AIMA_TEST_DOCKER_ROOT", "/var/lib/aima-test-docker")),
            # An unusual private /24 so it is unlikely to collide with docker0 or a LAN.
            bridge_cidr=env.get("AIMA_TEST_BRIDGE_CIDR", "172.29.213.1/24"),
            storage_driver=env.get("AIMA_TEST_DOCKER_STORAGE_DRIVER") or None,
        )

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def exec_root(self) -> Path:
        return self.run_dir / "exec"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "docker.pid"

    @property
    def log(self) -> Path:
        return self.run_dir / "dockerd.log"

    @property
    def hook_dir(self) -> Path:
        return self.run_dir / "bin"

    @property
    def hook_log(self) -> Path:
        return self.run_dir / "nvidia-hook.log"


@dataclass(frozen=True)
class TestDaemon:
    """A running test dockerd: its base URL (for DOCKER_HOST) and where its files are."""

    __test__ = False  # not a pytest test class despite the name

    paths: DaemonPaths
    pid: int
    started_here: bool

    @property
    def base_url(self) -> str:
        return self.paths.base_url

    @property
    def hook_log(self) -> Path:
        return self.paths.hook_log

    def client(self, timeout: int = 60):
        """Return a new docker.DockerClient talking to this daemon."""
        import docker

        return docker.DockerClient(base_url=self.base_url, timeout=timeout)

    def hook_calls(self) -> list[str]:
        """Return the lines the stand-in NVIDIA hook recorded, oldest first."""
        if not self.paths.hook_log.exists():
            return []
        return self.paths.hook_log.read_text().splitlines()


def missing_tools() -> str | None:
    """Say what is missing to run a test dockerd, or None when everything is installed."""
    for tool in ("dockerd", "containerd", "runc", "docker-proxy"):
        if not which(tool):
            return f"{tool} not found: docker.io is not installed (run `bash .ci/setup-docker`)"
    return None


def ensure_daemon(paths: DaemonPaths, timeout: float = 60.0) -> TestDaemon:
    """Return the test dockerd at paths, reusing a running one or starting it."""
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    # A lock, because several pytest sessions (engineers, xdist workers) may start at once.
    with locked(paths.run_dir / "start.lock"):
        pid = read_pid(paths.pidfile)
        if pid and runs(pid, "dockerd"):
            # Running already, maybe still starting: wait for it rather than start a second.
            _wait_ready(paths, pid, timeout)
            _check_hook_on_path(paths, pid)
            return TestDaemon(paths, pid, started_here=False)
        if os.geteuid() != 0:
            raise HarnessUnavailable(
                f"no test dockerd answers at {paths.base_url} and starting one needs root. "
                "Hint: run `sudo bash .ci/setup-docker --start` once, or run the tests as root."
            )
        why = missing_tools()
        if why:
            raise HarnessUnavailable(why)
        pid = _start(paths)
        _wait_ready(paths, pid, timeout)
        return TestDaemon(paths, pid, started_here=True)


def stop_daemon(paths: DaemonPaths, timeout: float = 30.0) -> bool:
    """Stop the test dockerd (and its containerd); return False if none was running."""
    pid = read_pid(paths.pidfile)
    if not pid or not runs(pid, "dockerd"):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            raise HarnessError(f"dockerd (pid {pid}) did not stop within {timeout:.0f}s")
        time.sleep(0.2)
    return True


def _start(paths: DaemonPaths) -> int:
    paths.data_root.mkdir(parents=True, exist_ok=True)
    paths.exec_root.mkdir(parents=True, exist_ok=True)
    _write_hook(paths)
    _ensure_bridge(paths)
    args = [
        which("dockerd") or "dockerd",
        f"--host={paths.base_url}",
        f"--data-root={paths.data_root}",
        f"--exec-root={paths.exec_root}",
        f"--pidfile={paths.pidfile}",
        f"--bridge={BRIDGE_NAME}",
        "--iptables=false",
        "--ip-masq=false",
        "--log-level=warn",  # info level is mostly gRPC chatter; errors are what we show
        # Keep it away from /etc/docker/daemon.json, which belongs to the system daemon.
        f"--config-file={_empty_config(paths)}",
    ]
    if paths.storage_driver:
        args.append(f"--storage-driver={paths.storage_driver}")
    env = dict(os.environ)
    # The hook dir first, so dockerd registers the nvidia driver with our stand-in; the sbin
    # dirs because runc and docker-proxy live there and a non-login PATH may lack them.
    env["PATH"] = ":".join([str(paths.hook_dir), env.get("PATH", ""), "/usr/sbin:/sbin"])
    env.pop("DOCKER_HOST", None)
    with open(paths.log, "ab") as log:
        log.write(f"\n--- aima test harness starting dockerd at {time.ctime()}\n".encode())
        log.flush()
        # A new session, so the daemon outlives this pytest run and later runs reuse it.
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
    return proc.pid


def _empty_config(paths: DaemonPaths) -> Path:
    config = paths.run_dir / "daemon.json"
    config.write_text("{}\n")
    return config


def _write_hook(paths: DaemonPaths) -> None:
    paths.hook_dir.mkdir(parents=True, exist_ok=True)
    hook = paths.hook_dir / HOOK_NAME
    hook.write_text(_HOOK_SCRIPT.format(log=paths.hook_log))
    hook.chmod(0o755)


def _ensure_bridge(paths: DaemonPaths) -> None:
    # dockerd's --bridge wants an existing bridge with an address; it keeps it across restarts.
    if Path(f"/sys/class/net/{BRIDGE_NAME}").exists():
        return
    ip = which("ip")
    if not ip:
        raise HarnessError("`ip` (iproute2) is needed to create the test bridge; apt-get install iproute2")
    for cmd in (
        [ip, "link", "add", "name", BRIDGE_NAME, "type", "bridge"],
        [ip, "addr", "add", paths.bridge_cidr, "dev", BRIDGE_NAME],
        [ip, "link", "set", BRIDGE_NAME, "up"],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise HarnessError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()}")


def _wait_ready(paths: DaemonPaths, pid: int, timeout: float) -> None:
    import docker

    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if not alive(pid):
            raise HarnessError(
                f"dockerd (pid {pid}) exited during start-up.\n--- last lines of {paths.log}:\n{tail(paths.log)}"
            )
        if paths.socket.exists():
            try:
                client = docker.DockerClient(base_url=paths.base_url, timeout=5)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
            except Exception as exc:  # any failure here just means "not ready yet"
                last_error = str(exc)
        time.sleep(0.2)
    raise HarnessError(
        f"dockerd (pid {pid}) did not answer at {paths.base_url} within {timeout:.0f}s "
        f"(last error: {last_error}).\n--- last lines of {paths.log}:\n{tail(paths.log)}"
    )


def _check_hook_on_path(paths: DaemonPaths, pid: int) -> None:
    # A daemon started without our hook dir first on PATH has no nvidia driver; GPU tests
    # would fail in a confusing way, so say so at once.
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return  # not ours to read (another user); trust it
    path = next((e[5:].decode() for e in environ if e.startswith(b"PATH=")), "")
    if not path.startswith(str(paths.hook_dir)):
        raise HarnessError(
            f"the dockerd at {paths.base_url} (pid {pid}) was not started by the aima harness: "
            f"{paths.hook_dir} is not first on its PATH, so it has no stand-in GPU driver. "
            f"Hint: stop it (kill {pid}) and let the tests start their own."
        )
