"""Where aima keeps its files: the XDG base directories and the home folder, checked in one place.

Every folder aima writes or reads by convention comes from here: the catalogue override (config), model folders
(data), the ownership record and the last verify results (state), the parse, inspect, layer and build caches and
the hub cache (cache), and the stack locks (runtime). The rules, from the XDG Base Directory specification
(https://specifications.freedesktop.org/basedir-spec/latest/): a relative path in an ``XDG_*`` variable is
invalid and ignored, so the default under the home folder is used (aima says so, once); ``XDG_RUNTIME_DIR`` must
be a folder the user owns and can write, else aima falls back to ``/tmp/aima-<uid>`` and says why. ``HOME`` must
be absolute: a relative or empty one would put folders under the current directory, so it is an error when a
default under it is needed. Nothing is created here; callers create what they write and say when they cannot.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from aima.errors import AimaError

_DEFAULTS = {"CONFIG": ".config", "DATA": ".local/share", "STATE": ".local/state", "CACHE": ".cache"}
_warned: set[str] = set()  # one process, one warning per problem


def warn_once(message: str) -> None:
    """A warning on stderr, the first time this process meets this problem."""
    if message in _warned:
        return
    _warned.add(message)
    from aima.render import console

    console.warning(message)


def home(environ: Mapping[str, str] | None = None) -> Path:
    """The home folder: $HOME when it is an absolute path, the password database's when HOME is unset or empty."""
    env = os.environ if environ is None else environ
    value = env.get("HOME", "")
    if not value:
        import pwd

        try:
            value = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:
            value = ""
        if not value or not os.path.isabs(value):
            raise AimaError("HOME is not set and this user has no home folder in the password database: aima keeps "
                            "its cache and state under it",
                            hint="set HOME to an absolute path, or set XDG_CACHE_HOME, XDG_STATE_HOME and "
                                 "XDG_DATA_HOME to absolute paths")
    if not os.path.isabs(value):
        raise AimaError(f"HOME={_shown(value)} is a relative path: aima would create its folders under the current "
                        "directory", hint="set HOME to an absolute path (or XDG_CACHE_HOME, XDG_STATE_HOME and "
                                         "XDG_DATA_HOME to absolute paths)")
    return Path(value)


def _base(kind: str, environ: Mapping[str, str] | None) -> Path:
    env = os.environ if environ is None else environ
    variable = f"XDG_{kind}_HOME"
    value = env.get(variable, "")
    if value and os.path.isabs(value):
        return Path(value)
    default = home(env) / _DEFAULTS[kind]
    if value:
        warn_once(f"{variable}={_shown(value)} is a relative path, which the XDG Base Directory specification says to "
                  f"ignore: aima uses {default} (set {variable} to an absolute path)")
    return default


def config_home(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME, else ~/.config."""
    return _base("CONFIG", environ)


def data_home(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_DATA_HOME, else ~/.local/share."""
    return _base("DATA", environ)


def state_home(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME, else ~/.local/state."""
    return _base("STATE", environ)


def cache_home(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_CACHE_HOME, else ~/.cache."""
    return _base("CACHE", environ)


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_RUNTIME_DIR/aima when XDG_RUNTIME_DIR is an absolute folder this user owns and can write, else
    /tmp/aima-<uid> (per user, so one user cannot block another), with a warning that says why."""
    env = os.environ if environ is None else environ
    value = env.get("XDG_RUNTIME_DIR", "")
    fallback = Path(f"/tmp/aima-{os.getuid()}")
    if not value:
        return fallback
    problem = _runtime_problem(value)
    if problem is None:
        return Path(value) / "aima"
    warn_once(f"XDG_RUNTIME_DIR={_shown(value)} {problem}: aima keeps its stack locks in {fallback} instead "
              "(set XDG_RUNTIME_DIR to your own writable folder, usually /run/user/<uid>)")
    return fallback


def _shown(value: str) -> str:
    """A variable's value in a one-line message: control characters as escapes, at most 200 characters."""
    from aima.textsafe import printable

    shown = printable(value, newlines=False)
    return shown if len(shown) <= 200 else shown[:200] + "…"


def _runtime_problem(value: str) -> str | None:
    if not os.path.isabs(value):
        return "is a relative path"
    try:
        info = os.stat(value)
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != os.getuid() or not os.access(value, os.W_OK | os.X_OK):
        return "is not a folder this user owns and can write"
    if sys.platform.startswith("linux") and os.path.realpath(value).startswith("/proc"):
        return "is inside /proc"
    return None


def unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot be created or written (its nearest existing ancestor decides), or None."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():
            return f"{probe} is a broken link"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None
