"""`aima detect`: what this machine is."""

from __future__ import annotations

from pathlib import Path

import typer


def detect(
    json_out: bool = typer.Option(False, "--json", help="Print the hardware as JSON (schema: docs/hardware.md)."),
    save: Path = typer.Option(None, "--save", help="Write this machine as a hardware profile (YAML) to FILE."),
    name: str = typer.Option(None, "--name", help="Name to record in the saved profile."),
) -> None:
    """Detect GPUs (compute capability, memory, driver, CUDA) and host facts."""
    import dataclasses

    from aima.hardware.detect import detect as run_detect
    from aima.hardware.profiles import hardware_to_dict, save_profile
    from aima.render import console
    from aima.render.hardware import hardware_table

    hw = run_detect()
    if name:
        hw = dataclasses.replace(hw, name=name)
    if save is not None:
        save_profile(hw, save, source="aima detect --save")
    if json_out:
        console.print_json(hardware_to_dict(hw))
    else:
        hardware_table(hw)
        if save is not None:
            console.out(f"saved profile to {save}")
