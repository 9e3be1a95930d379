"""Stub engine images: FROM scratch + Debian's static busybox + a shell script that plays an engine.

The stub is configured by environment variables (all optional):
  STUB_PORT=8080          port of the HTTP server inside the container
  STUB_READY_AFTER=0      seconds of "loading": /health answers 503 until then, 200 {"status":"ok"} after
  STUB_NEVER_READY=1      stay "loading" forever (/health is 503 for good)
  STUB_CRASH_LINE=text    print text to stderr after STUB_CRASH_AFTER seconds (default 0), then exit
  STUB_CRASH_AFTER=0      seconds before the crash
  STUB_EXIT_CODE=1        exit status of the crash
  STUB_MODEL=stub-model   model id served on /v1/models
It prints `stub: NVIDIA_VISIBLE_DEVICES=<value|unset>` on start, so tests can see GPU placement,
and `stub: ready` when /health turns 200. Arguments (a container's command) are printed and ignored.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from . import HarnessError, HarnessUnavailable

STUB_TAG = "aima-test/stub:latest"
STUB_PORT = 8080

# PID 1 of the container. Signals are trapped and waits are `sleep & wait`, because a shell
# as PID 1 ignores SIGTERM by default and `docker stop` would then take its full 10 s timeout.
_ENGINE_SH = r"""#!/bin/sh
port="${STUB_PORT:-8080}"
rm -f /tmp/stub-ready
echo "stub: starting, args: $*"
echo "stub: NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-unset}"

server_pid=""
stop() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; }
trap 'echo "stub: stopping"; stop; exit 0' TERM INT
trap 'printf "%s\n" "$STUB_CRASH_LINE" >&2; stop; exit "${STUB_EXIT_CODE:-1}"' USR1

# -ll -e: busybox nc forks the handler per connection and keeps listening (concurrent, no gaps).
nc -ll -p "$port" -e /bin/sh /stub/http.sh &
server_pid=$!
echo "stub: listening on :$port"

if [ -n "${STUB_CRASH_LINE:-}" ]; then
    main=$$
    ( sleep "${STUB_CRASH_AFTER:-0}"; kill -USR1 "$main" ) &
fi

if [ "${STUB_NEVER_READY:-0}" = "1" ]; then
    echo "stub: loading (never ready)"
else
    echo "stub: loading (ready after ${STUB_READY_AFTER:-0}s)"
    sleep "${STUB_READY_AFTER:-0}" & wait $!
    touch /tmp/stub-ready
    echo "stub: ready"
fi
while :; do sleep 3600 & wait $!; done
"""

# One HTTP/1.1 exchange on stdin/stdout; always closes the connection.
_HTTP_SH = r"""#!/bin/sh
read -r method path _ || exit 0
length=0
while IFS= read -r header; do
    header=$(printf '%s' "$header" | tr -d '\r')
    [ -z "$header" ] && break
    case "$header" in
        [Cc]ontent-[Ll]ength:*) length=$(printf '%s' "${header#*:}" | tr -d ' ') ;;
    esac
done
[ "$length" -gt 0 ] 2>/dev/null && head -c "$length" >/dev/null

respond() {
    printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
        "$1" "${#2}" "$2"
}
ready() { [ -f /tmp/stub-ready ]; }
# The 503 body is llama.cpp server's while it loads a model.
loading='{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'
models="{\"object\":\"list\",\"data\":[{\"id\":\"${STUB_MODEL:-stub-model}\",\"object\":\"model\"}]}"
case "${path%%\?*}" in
    /health)
        if ready; then respond "200 OK" '{"status":"ok"}'; else respond "503 Service Unavailable" "$loading"; fi ;;
    /v1/models)
        if ready; then respond "200 OK" "$models"; else respond "503 Service Unavailable" "$loading"; fi ;;
    *) respond "404 Not Found" '{"error":"not found"}' ;;
esac
"""

_DOCKERFILE = """FROM scratch
COPY rootfs/ /
ENV PATH=/bin
EXPOSE {port}/tcp
LABEL aima.test.stub="1"{extra_labels}
ENTRYPOINT ["/bin/sh", "/stub/engine.sh"]
"""


@dataclass(frozen=True)
class PushedImage:
    """An image in the test registry: its tag reference, digest, and digest-pinned reference."""

    ref: str
    digest: str

    @property
    def pinned(self) -> str:
        return f"{self.ref.rsplit(':', 1)[0]}@{self.digest}"


def busybox_path() -> Path:
    """Return the static busybox to put in stub images, or raise if busybox-static is missing."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        if path.is_file():
            return path
    found = shutil.which("busybox")
    if not found:
        raise HarnessUnavailable("busybox not found: install busybox-static (run `bash .ci/setup-docker`)")
    return Path(found)


def build_stub(client, tag: str = STUB_TAG, labels: dict[str, str] | None = None) -> str:
    """Build the stub engine image with the given tag (and extra labels) and return its image id."""
    context = _context(busybox_path(), labels or {})
    try:
        image, _ = client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True)
    except Exception as exc:  # docker.errors.BuildError carries the build log
        log = "".join(str(line.get("stream", line)) for line in getattr(exc, "build_log", []) or [])
        raise HarnessError(f"building {tag} failed: {exc}\n{log}") from exc
    return image.id


def push(
    client, image: str, registry_host: str, repository: str = "aima-test/stub", tag: str = "latest"
) -> PushedImage:
    """Tag image into the registry at registry_host, push it, and return the pushed digest."""
    target = f"{registry_host}/{repository}"
    client.images.get(image).tag(target, tag=tag)
    digest = None
    for event in client.images.push(target, tag=tag, stream=True, decode=True):
        if "error" in event:
            raise HarnessError(f"pushing {target}:{tag} failed: {event['error']}")
        digest = event.get("aux", {}).get("Digest", digest)
    if not digest:
        raise HarnessError(f"pushing {target}:{tag} reported no digest")
    return PushedImage(ref=f"{target}:{tag}", digest=digest)


def _context(busybox: Path, labels: dict[str, str]) -> io.BytesIO:
    extra = "".join(f' \\\n      {key}="{value}"' for key, value in sorted(labels.items()))
    files = {
        "Dockerfile": (_DOCKERFILE.format(port=STUB_PORT, extra_labels=extra).encode(), 0o644),
        "rootfs/stub/engine.sh": (_ENGINE_SH.encode(), 0o755),
        "rootfs/stub/http.sh": (_HTTP_SH.encode(), 0o755),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory, mode in (("rootfs/bin", 0o755), ("rootfs/stub", 0o755), ("rootfs/tmp", 0o1777)):
            tar.addfile(_entry(directory, tarfile.DIRTYPE, mode))
        for name, (data, mode) in files.items():
            info = _entry(name, tarfile.REGTYPE, mode)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = _entry("rootfs/bin/busybox", tarfile.REGTYPE, 0o755)
        info.size = busybox.stat().st_size
        with open(busybox, "rb") as handle:
            tar.addfile(info, handle)
        # Symlinks for every applet so `sh`, `nc`, `sleep` ... exist as in a normal image.
        for applet in _applets(busybox):
            link = _entry(f"rootfs/bin/{applet}", tarfile.SYMTYPE, 0o777)
            link.linkname = "busybox"
            tar.addfile(link)
    buffer.seek(0)
    return buffer


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    # Fixed owner and mtime keep the build context identical, so rebuilds hit the layer cache.
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 0, 0, 0
    return info


def _applets(busybox: Path) -> list[str]:
    listed = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    return sorted({name for name in listed.stdout.split() if name and "/" not in name and name != "busybox"})
