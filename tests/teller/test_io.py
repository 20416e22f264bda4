"""Atomic writes: a file or directory is replaced whole, and a failed swap leaves the old one in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from teller.io import atomic_path
from tests.crash import crash_moving_in


def build_dir(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.mkdir()
        (tmp / "data.txt").write_text(text)


def test_a_directory_is_replaced_and_nothing_is_left_beside_it(tmp_path):
    target = tmp_path / "kb"
    build_dir(target, "old")
    build_dir(target, "new")
    assert (target / "data.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["kb"]


def test_a_crash_between_build_and_swap_keeps_the_old_directory(tmp_path, monkeypatch):
    target = tmp_path / "kb"
    build_dir(target, "old")
    moves = crash_moving_in(monkeypatch, target)
    with pytest.raises(OSError, match="simulated crash"):
        build_dir(target, "new")
    assert moves, "the swap was never reached"
    assert (target / "data.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["kb"]


def test_an_error_while_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_file_is_replaced_in_one_rename(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
