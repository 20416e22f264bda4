"""Small file helpers shared by every package: atomic writes so a crash never leaves half a file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it takes the place of `path` (file or directory).

    A file is swapped in one rename. A directory cannot be renamed over a full one, so the old one is renamed
    aside, the new one in, and the old one back if that fails; only a kill between those two renames leaves
    the old content aside, in `.<name>.*/<name>.previous`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp, aside = work / path.name, work / f"{path.name}.previous"
    try:
        yield tmp
        if path.is_dir() and tmp.is_dir():
            os.rename(path, aside)
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(aside, path)
                raise
        else:
            os.replace(tmp, path)
    finally:
        if path.exists() or not aside.exists():  # else the restore failed too: keep the old content where it is
            shutil.rmtree(work, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically, pretty-printed."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Write JSON lines atomically."""
    with atomic_path(path) as tmp, tmp.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    with Path(path).open() as handle:
        return [json.loads(line) for line in handle if line.strip()]
