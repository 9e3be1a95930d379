"""Where the shipped data files are: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DATA = Path(__file__).parent / "data"
_CHECKOUT = Path(__file__).parent.parent


def shipped(name: str) -> Path:
    """Path of a shipped data file or folder (``images.yaml``, ``profiles``)."""
    # An installed wheel carries them in aima/data (pyproject's force-include); a checkout or an
    # editable install has them at the repository's top, where people edit them.
    inside = _PACKAGE_DATA / name
    return inside if inside.exists() else _CHECKOUT / name
