"""Hypothesis strategies for everything aima reads: YAML documents near the real schemas, arch and
NVIDIA_REQUIRE_CUDA strings, and health responses. Shared by the tests and benchmarks/fuzz.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]

# Keys the real schemas use, so generated documents reach deep into the validators instead of failing
# at the first unknown key.
KEYS = [
    "engines", "asr", "llm", "tts", "candidates", "models", "id", "image", "gpu", "platforms", "archs", "cuda",
    "require_cuda", "runtime_compiler_cuda", "port", "health", "path", "startup_timeout_s", "command", "entrypoint",
    "env", "limits", "memory_mib", "cpus", "shm_mib", "pids", "model_format", "concurrency", "ptx_jit", "name",
    "format", "file", "gpu_memory_mib", "allow_cpu", "host_port", "replace", "extends", "version", "cpu_arch",
    "cpu_cores", "ram_mib", "driver_version", "cuda_driver_version", "gpus", "index", "compute_capability",
    "unified_memory", "brand", "expect", "notes", "device", "model", "models_dir", "os_reserve_mib", "enabled",
    "max_model_len", "known_failures", "gpu_memory_utilization_max", "mig_enabled", "uuid", "jetson",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**7), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["sm_86", "8.6+PTX", "86-virtual", "75;80;86;90", "sm_121a", "12.1", "13.0", "580.65.06",
                     "linux/amd64", "linux/arm64", "x86_64", "aarch64", "ggml", "gguf", "hf", "builtin", "auto",
                     "gpu", "cpu", "/health", "{port}", "{nope}", "cuda>=12.4 brand=tesla,driver>=535,driver<536",
                     "", " ", "GPU-0", "geforce", "sm_8x", "native", "-1"]),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)),
    max_leaves=25,
)


def _seed_texts() -> list[str]:
    texts = [(REPO / "images.yaml").read_text()]
    texts += [p.read_text() for p in sorted((REPO / "profiles").glob("*.yaml"))[:4]]
    texts.append("name: demo\nengines:\n  asr: {model: base, port: 9001}\n  llm: {device: cpu}\n")
    return texts


SEED_TEXTS = _seed_texts()


@st.composite
def mutated_text(draw) -> str:
    """A real file with a few characters replaced, deleted or inserted."""
    text = draw(st.sampled_from(SEED_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        where = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["replace", "delete", "insert"]))
        char = draw(st.sampled_from(list(":-[]{}'\"#\n\t 0aZ&*!|>%@`") + ["\x00", "é"]))
        if op == "replace":
            text = text[:where] + char + text[where + 1:]
        elif op == "delete":
            text = text[:where] + text[where + 1:]
        else:
            text = text[:where] + char + text[where:]
    return text


@st.composite
def structured_yaml(draw) -> str:
    """A YAML document built from schema keys and odd values."""
    return yaml.safe_dump(draw(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)), allow_unicode=True)


@st.composite
def aliased_yaml(draw) -> str:
    """Anchors and aliases: ordinary reuse, alias bombs of random width and depth, and recursive aliases."""
    width = draw(st.integers(1, 12))
    levels = draw(st.integers(1, 10))
    lines = [f"{draw(st.sampled_from(KEYS))}: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        target = draw(st.integers(0, i)) if draw(st.booleans()) else i - 1  # i itself: a recursive alias
        body = ", ".join([f"*a{target}"] * width)
        lines.append(f"k{i}: &a{i} [{body}]" if draw(st.booleans()) else f"k{i}: &a{i} {{m: *a{target}}}")
    return "\n".join(lines) + "\n"


# Control characters, bidi overrides and escape sequences that must never reach a terminal raw.
CONTROL_CHARS = st.sampled_from(["\x1b[2J", "\x1b]0;title\x07", "\r", "\x08", "\u202e", "\x7f", "\x00", "\x85",
                                 "\u2028", "\t"])


@st.composite
def controlled_text(draw) -> str:
    """A real stack file with control characters put inside values and keys."""
    text = "name: demo\nengines:\n  asr: {model: base, port: 9001}\n  llm: {env: {A: b}}\n"
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(text)))
        text = text[:where] + draw(CONTROL_CHARS) + text[where:]
    return text


HOSTILE = st.one_of(aliased_yaml(), controlled_text(),
                    st.integers(1, 3).map(lambda n: "".join(f"k{i}: v\n" for i in range(n * 6000))),
                    st.integers(60, 90).map(lambda n: "a: " + "[" * n + "]" * n + "\n"))
DOCUMENTS = st.one_of(mutated_text(), structured_yaml(), st.text(max_size=200), HOSTILE)
ARCH_STRINGS = st.one_of(
    st.text(alphabet="sm_compute0123456789.;, +PTXptxvirtualreafl-", max_size=30),
    st.lists(st.sampled_from(["sm_86", "compute_90", "8.6", "8.6+PTX", "86-virtual", "86-real", "121a", "sm_120f",
                              "12.0a", "native", "sm_", "9.", "+PTX", "1000", "sm_999"]), max_size=5).map(";".join),
    st.text(max_size=20),
)
REQUIRE_STRINGS = st.one_of(
    st.lists(st.lists(st.sampled_from(["cuda>=12.4", "driver>=535", "driver<536", "brand=tesla", "arch=8.6",
                                       "cuda>>1", "brand", "=", "driver>=abc", "cuda>=13.0.1", "arch<9.0"]),
                      min_size=1, max_size=3).map(",".join), max_size=4).map(" ".join),
    st.text(alphabet="cudarivebn=<>!,. 0123456789", max_size=40),
    st.text(max_size=30),
)
HEALTH_BODIES = st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode),
                          st.sampled_from([b'{"status":"ok"}', b'{"status":"loading model"}', b"", b"{", b"null"]))
# DOCKER_HOST values: Docker's schemes with fuzzed rest, hostile literals, and anything.
DOCKER_HOSTS = st.one_of(
    st.tuples(st.sampled_from(["unix://", "tcp://", "http://", "https://", "ssh://", "npipe://", "garbage://", "",
                               "fd://", "tcp:/", "unix:"]),
              st.text(alphabet="/:@[]%?#.-_abc019 \x00\x1b\n", max_size=30)).map("".join),
    st.sampled_from(["tcp://", "unix://", "tcp://:", "tcp://[::1", "tcp://h:0", "tcp://h:65536", "tcp://h:-1",
                     "tcp://h:2375/", "tcp://[::1]:2375", "unix:///dev/null", "unix:///", "tcp://u:p@h:1",
                     "ssh://h/path", "tcp://h:2375#x", "\x1b[2J", " ", "://", "tcp://h:2375\x00"]),
    st.text(max_size=40),
)
# What a server on a DOCKER_HOST might answer GET /_ping with.
PING_ANSWERS = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.0 500 X", b"HTTP/1.1 ",
                               b"HTTP/", b"HTTP/1.1 99999999999999999999 Big"]),
              st.lists(st.sampled_from([b"Api-Version: 1.43", b"Content-Length: 2", b"Content-Length: 99999",
                                        b"Content-Length: -5", b"Server: \x1b[2Jevil", b"Content-Type: ",
                                        b": x", b"nocolon"]), max_size=4),
              st.binary(max_size=80))
    .map(lambda p: p[0] + b"\r\n" + b"\r\n".join(p[1]) + b"\r\n\r\n" + p[2]),
)

# Environment values for HOME and the XDG_* variables: relative, empty, not a folder, inside /proc, missing,
# control characters, very long; aima.paths must answer an absolute folder or its own one-line error.
PATH_VALUES = st.one_of(
    st.sampled_from(["", ".", "..", "rel", "a/b", "~", "~/x", "/", "/proc", "/proc/self", "/dev/null",
                     "/nonexistent/deep/folder", "/tmp", "//", "/tmp/../tmp", " ", "/tmp/\x1b[2J", "x" * 5000,
                     "/" + "y" * 300]),
    st.text(max_size=40).map(lambda t: t.replace("\x00", "")),
    st.text(max_size=20).map(lambda t: "/tmp/" + t.replace("\x00", "").replace("/", "")),
)
PATH_ENVS = st.dictionaries(st.sampled_from(["HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
                                             "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"]), PATH_VALUES)
# hf:// model URIs as a hostile user writes them: traversal, empty parts, '@' games, control characters.
HF_URIS = st.one_of(
    st.tuples(st.sampled_from(["hf://", "hf:///", "hf://a/b/", "hf://../", "hf://a/../", "hf://org/repo/"]),
              st.text(alphabet="/.@%\\?#-_ab1 \x00\x1b\n\x7f", max_size=30)).map("".join),
    st.sampled_from(["hf://../../etc/passwd", "hf://a/b/../../x", "hf://a/b/c.gguf@", "hf://a/b/c@../../x",
                     "hf://a/b/c@main/../..", "hf://a/b/./x", "hf://a/b/\\..\\x", "hf://a/.git/x", "hf://a/b/c@a@b"]),
    # the bare form hf://ORG/REPO[@REVISION]: a model folder
    st.tuples(st.sampled_from(["hf://org/", "hf://a/", "hf://", "hf://org/repo@", "hf://../"]),
              st.text(alphabet="/.@-_ab1\x00\x1b\n", max_size=20)).map("".join),
    st.sampled_from(["hf://a/b", "hf://a/b@main", "hf://a/b@", "hf://a/..@main", "hf://a/b@../x", "hf://a/.b",
                     "hf://a/b@refs/pr/1", "hf://a/b@" + "f" * 40, "hf://a/b@main@x", "hf://a", "hf://a/b/@main"]),
)
# One entry of the hub's file listing as a hostile server writes it: names and digests that would leave the cache.
_ANY = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**70), st.text(max_size=30),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
LISTING_ENTRIES = st.one_of(
    st.fixed_dictionaries({
        "type": st.sampled_from(["file", "directory", "", None]),
        "path": st.one_of(_ANY, st.sampled_from(["../x", "/etc/passwd", "a/../../b", "a//b", "ok.json", "a\nb"])),
        "size": _ANY, "oid": st.one_of(_ANY, st.sampled_from(["../../x", "a" * 40, ".", "..", "a/b"])),
        "lfs": st.one_of(_ANY, st.fixed_dictionaries({"oid": st.one_of(_ANY, st.just("b" * 64),
                                                                         st.just("sha256:" + "c" * 64)),
                                                      "size": _ANY})),
    }),
    _ANY,
)
# HF_ENDPOINT and HF_HUB_DOWNLOAD_TIMEOUT values.
HUB_ENVS = st.fixed_dictionaries({
    "HF_ENDPOINT": st.one_of(st.text(max_size=30),
                             st.tuples(st.sampled_from(["http://", "https://", "ftp://", "", "http://u:p@"]),
                                       st.text(alphabet="[]:/@.%h1 9\x00\n", max_size=20)).map("".join)),
    "HF_HUB_DOWNLOAD_TIMEOUT": st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e308", "0", "-1", "", "1e-9"]),
                                         st.text(max_size=10)),
})
