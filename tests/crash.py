"""Simulated crashes for the atomic-swap tests."""

from __future__ import annotations

import os
from pathlib import Path


def crash_moving_in(monkeypatch, target: Path) -> list[tuple[str, str]]:
    """Make the rename that moves a freshly built `target` into place raise, as a crash or full disk would.

    Both os.rename and os.replace are watched, so this holds whichever the swap uses; returns the moves seen.
    """
    moves: list[tuple[str, str]] = []

    def watch(real):
        def move(src, dst, *args, **kwargs):
            moves.append((str(src), str(dst)))
            built = Path(src).name == target.name and Path(src).parent.name.startswith(f".{target.name}.")
            if built and Path(dst) == target:
                raise OSError("simulated crash while swapping in the new version")
            return real(src, dst, *args, **kwargs)

        return move

    monkeypatch.setattr(os, "rename", watch(os.rename))
    monkeypatch.setattr(os, "replace", watch(os.replace))
    return moves
