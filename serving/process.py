"""`teller serve` as a child process: started, awaited until ready, and stopped cleanly (load tests, e2e tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from teller.errors import TellerError


@contextmanager
def teller_serve(port: int, log: Path, env: dict[str, str] | None = None, timeout_s: float = 300) -> Iterator[str]:
    """Run `teller serve --port PORT` (output to `log`) until the block ends; yields its URL once /readyz answers."""
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("teller")), "serve", "--port", str(port)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            _wait_ready(url, server, log, timeout_s)
            yield url
        finally:
            server.send_signal(signal.SIGINT)  # lets Ray stop the processes it started
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_ready(url: str, server: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise TellerError(f"teller serve exited with {server.returncode}", str(log), "read this server log")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise TellerError(f"{url} was not ready within {timeout_s:.0f} s", str(log), "read the server log")
