"""The web app in Debian's Chromium (Playwright) against the real `teller serve`: tiny model, small KB, SQLite."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from teller.settings import PROJECT_ROOT
from tests.conftest import free_port

WEB = PROJECT_ROOT / "web"
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
TOKEN = "e2e-agent-token"


def write_label_reports(env: dict) -> None:
    """A proposal and a discovery made by the real CLI on the tiny model's corpus, for the labels page."""
    teller = [str(Path(sys.executable).with_name("teller")), "labels"]
    examples = [
        "Someone opened a credit card in my name and the bureau will not remove it",
        "My identity was stolen and accounts I never opened are on my report",
        "A fraudulent account appears on my credit report after identity theft",
    ]
    commands = [
        [*teller, "propose", "Identity theft account", "--description", "Accounts opened by an identity thief"]
        + [arg for e in examples for arg in ("--example", e)],
        [*teller, "discover", "--bundle", env["TELLER_SERVE__BUNDLE"], "--limit", "150", "--max-confidence", "1"],
    ]
    for command in commands:
        run = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


@pytest.mark.slow
def test_web_app_end_to_end(tiny_bundle, small_kb, tmp_path):
    from serving.process import teller_serve

    missing = [p for p in (WEB / "dist" / "index.html", WEB / "node_modules") if not p.exists()]
    assert not missing, f"{missing} missing: `make test` builds the web app first (make web)"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    assert shutil.which(chromium), f"{chromium} missing: `make test` installs it (apt-get install -y chromium)"
    database = tmp_path / "teller.db"
    env = {
        "TELLER_DATA_DIR": str(tiny_bundle["data_dir"]),
        "TELLER_SERVE__BUNDLE": str(tiny_bundle["bundle"]),
        "TELLER_RAG__KB_DIR": str(small_kb.path),
        "TELLER_SERVE__DATABASE_URL": f"sqlite:///{database}",
        "TELLER_SERVE__AGENT_TOKEN": TOKEN,
    }
    write_label_reports(env)
    with teller_serve(free_port(), tmp_path / "serve.log", env) as url:
        run = subprocess.run(
            ["npx", "playwright", "test"],
            cwd=WEB,
            env={
                **os.environ,
                "TELLER_URL": url,
                "TELLER_AGENT_TOKEN": TOKEN,
                "TELLER_MODEL_VERSION": tiny_bundle["version"],
                "SCREENSHOT_DIR": str(SCREENSHOTS),
                "CHROMIUM": chromium,
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    for page in ("chat", "complaint", "agent-console", "dashboard", "labels", "chat-mobile"):
        assert (SCREENSHOTS / f"{page}.png").stat().st_size > 10_000

    # What the browser did is in the audit store: the agent's correction, and the complaint stored masked.
    with sqlite3.connect(database) as db:
        (corrected,) = db.execute(
            "SELECT c.narrative FROM feedback f JOIN complaints c ON c.id = f.complaint_id WHERE f.agent_id = ?",
            ("e2e-agent",),
        ).fetchall()
        assert "<PERSON>" in corrected[0] and "Okonkwo" not in corrected[0]
        assert db.execute("SELECT status FROM complaints WHERE narrative = ?", corrected).fetchone() == ("corrected",)
    assert b"Okonkwo" not in Path(database).read_bytes()
