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

Every stub also speaks the request formats of the three engines' APIs (whatever engine it plays):
  POST /v1/chat/completions  OpenAI chat (vLLM, llama.cpp): JSON, or with "stream": true server-sent events
                             in chunked transfer encoding (a delta per word, a finish chunk, usage, [DONE])
  POST /v1/audio/speech      OpenAI speech (Kokoro-FastAPI): a 24 kHz mono 16-bit WAV, 0.38 s of tone per word of
                             "input", whose LIST/INFO INAM entry carries the words (the stub's "speech")
  POST /inference            whisper.cpp server: a multipart upload; the transcript is the uploaded WAV's INAM
                             entry (which aima's reference recording carries too), as {"text": " ..."}
and is told how to answer them (never /health) by
  STUB_ANSWER=ok             ok | wrong-words | empty | truncated | silence | notaudio | notjson | http500 | hang
                             | crash (print STUB_REQUEST_CRASH_LINE to stderr and exit STUB_EXIT_CODE, default 134)
  STUB_LLM_TEXT              the chat answer (default: "The weather is mild and calm today.")
  STUB_WRONG_TEXT            the words of wrong-words answers
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
# A request that crashes the engine (STUB_ANSWER=crash): the handler signals PID 1, as seed 002's assert ends it.
trap 'printf "%s\n" "${STUB_REQUEST_CRASH_LINE:-stub: crashed on a request}" >&2; stop
      exit "${STUB_EXIT_CODE:-134}"' USR2

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

# One HTTP/1.1 exchange on stdin/stdout; always closes the connection. The body is kept in a file for the APIs.
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
body=/tmp/body.$$
trap 'rm -f "$body"' EXIT
if [ "$length" -gt 0 ] 2>/dev/null; then head -c "$length" >"$body"; else : >"$body"; fi

respond() {  # status body [content type]
    printf 'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
        "$1" "${3:-application/json}" "${#2}" "$2"
}
ready() { [ -f /tmp/stub-ready ]; }
# The 503 body is llama.cpp server's while it loads a model.
loading='{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'
model="${STUB_MODEL:-stub-model}"
models="{\"object\":\"list\",\"data\":[{\"id\":\"$model\",\"object\":\"model\"}]}"
answer="${STUB_ANSWER:-ok}"
wrong="${STUB_WRONG_TEXT:-purple monkeys juggle seven frozen pineapples}"

le16() { printf "\\$(printf %o $(($1 & 255)))\\$(printf %o $((($1 >> 8) & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $((($1 >> 16) & 65535)); }

api() {  # how the engine answers its API (never /health): broken answers end the exchange here
    ready || { respond "503 Service Unavailable" "$loading"; exit 0; }
    case "$answer" in
        http500) respond "500 Internal Server Error" \
            '{"error":{"code":500,"message":"stub: internal error","type":"server_error"}}'; exit 0 ;;
        hang) sleep 3600; exit 0 ;;
        crash) kill -USR2 1; sleep 5; exit 0 ;;
        notjson) respond "200 OK" "stub: this is not JSON" "text/plain"; exit 0 ;;
    esac
}

event() {  # one server-sent event as one HTTP chunk
    printf '%x\r\ndata: %s\n\n\r\n' $((${#1} + 8)) "$1"
}

chat() {
    api
    text="${STUB_LLM_TEXT:-The weather is mild and calm today.}"
    [ "$answer" = empty ] && text=""
    [ "$answer" = wrong-words ] && text="$wrong"
    head="\"id\":\"chatcmpl-stub\",\"created\":0,\"model\":\"$model\""
    if ! grep -q '"stream": *true' "$body"; then
        respond "200 OK" "{$head,\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\
\"assistant\",\"content\":\"$text\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\
\"completion_tokens\":$(echo $text | wc -w),\"total_tokens\":0}}"
        exit 0
    fi
    printf 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n'
    printf 'Connection: close\r\n\r\n'
    head="$head,\"object\":\"chat.completion.chunk\""
    event "{$head,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\
\"finish_reason\":null}]}"
    n=0
    for word in $text; do
        [ "$n" -gt 0 ] && word=" $word"
        event "{$head,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"$word\"},\"finish_reason\":null}]}"
        n=$((n + 1))
        [ "$answer" = truncated ] && [ "$n" -ge 2 ] && exit 0  # the stream stops mid-answer
    done
    event "{$head,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
    event "{$head,\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":$n,\
\"total_tokens\":$((n + 12))}}"
    event "[DONE]"
    printf '0\r\n\r\n'
}

speech() {
    api
    text=$(sed -n 's/.*"input": *"\([^"]*\)".*/\1/p' "$body")
    case "$answer" in
        empty) respond "200 OK" "" "audio/wav"; exit 0 ;;
        notaudio) respond "200 OK" '{"detail":"stub: JSON instead of audio"}'; exit 0 ;;
        wrong-words) text="$wrong" ;;
    esac
    words=$(echo $text | wc -w)
    [ "$words" -gt 0 ] || words=1
    data=$((words * $(wc -c </stub/word.pcm)))
    tlen=$((${#text} + 1)); pad=$((tlen % 2))
    list=$((4 + 8 + tlen + pad))
    # No Content-Length: the body ends when the connection closes, as a streamed response would.
    printf 'HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nConnection: close\r\n\r\n'
    printf 'RIFF'; le32 $((4 + 24 + 8 + list + 8 + data))
    printf 'WAVEfmt '; le32 16; le16 1; le16 1; le32 24000; le32 48000; le16 2; le16 16
    printf 'LIST'; le32 $list; printf 'INFOINAM'; le32 $tlen; printf '%s\0' "$text"
    [ "$pad" = 1 ] && printf '\0'
    printf 'data'; le32 $data
    case "$answer" in
        silence) head -c "$data" /dev/zero ;;
        truncated) i=0; while [ $((i * 2)) -lt $((words - 1)) ]; do cat /stub/word.pcm; i=$((i + 1)); done ;;
        *) i=0; while [ $i -lt "$words" ]; do cat /stub/word.pcm; i=$((i + 1)); done ;;
    esac
}

inference() {
    api
    if ! grep -q 'RIFF' "$body"; then
        respond "400 Bad Request" '{"error":"failed to read audio data"}'; exit 0
    fi
    heard=$(strings "$body" | sed -n '/INAM/{n;p;q}')
    case "$answer" in
        wrong-words) heard="$wrong" ;;
        empty) heard="" ;;
    esac
    respond "200 OK" "{\"text\":\" $heard\\n\"}"
}

case "$method ${path%%\?*}" in
    *" /health")
        if ready; then respond "200 OK" '{"status":"ok"}'; else respond "503 Service Unavailable" "$loading"; fi ;;
    *" /v1/models")
        if ready; then respond "200 OK" "$models"; else respond "503 Service Unavailable" "$loading"; fi ;;
    "POST /v1/chat/completions") chat ;;
    "POST /v1/audio/speech") speech ;;
    "POST /inference") inference ;;
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
        "rootfs/stub/word.pcm": (word_pcm(), 0o644),
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


def word_pcm(rate: int = 24000) -> bytes:
    """One spoken "word" of the stub's speech: 0.3 s of a voiced tone, then 0.08 s of quiet (16-bit mono)."""
    import array
    import math
    import sys

    tone, quiet = int(0.3 * rate), int(0.08 * rate)
    samples = array.array("h", (
        int(12000 * math.sin(math.pi * i / tone) * (math.sin(2 * math.pi * 180 * i / rate)
                                                     + 0.5 * math.sin(2 * math.pi * 540 * i / rate)) / 1.5)
        for i in range(tone)))
    samples.extend([0] * quiet)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    # Fixed owner and mtime keep the build context identical, so rebuilds hit the layer cache.
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 0, 0, 0
    return info


def _applets(busybox: Path) -> list[str]:
    listed = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    return sorted({name for name in listed.stdout.split() if name and "/" not in name and name != "busybox"})
