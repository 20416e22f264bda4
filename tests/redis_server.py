"""A real Redis server from Debian's packages, started on a loopback port in a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def server_binary() -> str:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if not found:
        raise RuntimeError("Redis server not installed; run: sudo apt-get install -y redis-server")
    return found


@contextmanager
def running(port: int) -> Iterator[str]:
    """Start redis-server on 127.0.0.1:`port` with no persistence, yield its URL, then stop it and delete its dir."""
    import redis

    root = Path(tempfile.mkdtemp(prefix="teller-redis-"))
    args = [server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(root)]
    args += ["--save", "", "--appendonly", "no", "--protected-mode", "yes", "--logfile", str(root / "log")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (root / "log").read_text() if (root / "log").exists() else ""
                    raise RuntimeError(f"redis-server did not start on port {port}: {log[-2000:]}") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
