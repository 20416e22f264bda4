"""Bounded headless load test: start `teller serve`, run Locust in its own process, write a summary table.

Usage: python loadtests/run.py [--users 10] [--duration 60] [--out var/loadtest]
Writes <out>/locust_stats.csv (Locust's own), <out>/summary.md and <out>/summary.csv with the per-stage
latency split read from the server's /metrics, the CPU time each server process spent during the run and the
slowest requests, <out>/requests.csv (every request) and <out>/latency.png (latency over the run, per endpoint).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from requests_log import read_requests  # noqa: E402

BIN = Path(sys.executable).parent


class ServerError(Exception):
    """The server under test did not start; the message names its log."""


@contextmanager
def teller_serve(port: int, log: Path, timeout_s: float = 300) -> Iterator[tuple[str, int]]:
    """Run `teller serve` as a child process until the block ends; yields its URL and pid once /readyz answers.

    The load test talks to Teller over HTTP only, so it starts the installed command, not the package.
    """
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(BIN / "teller"), "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=os.environ
        )
        try:
            _wait_ready(url, server, log, timeout_s)
            yield url, server.pid
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
            raise ServerError(f"{log}: teller serve exited with {server.returncode}\nFix: read this server log")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise ServerError(f"{log}: {url} was not ready within {timeout_s:.0f} s\nFix: read the server log")


def stage_split(metrics: str) -> dict[str, float]:
    """Mean seconds per stage from the gateway's Prometheus histograms."""
    sums = {
        m[0]: float(m[1]) for m in re.findall(r'teller_stage_seconds_sum\{[^}]*stage="(\w+)"[^}]*\} (\S+)', metrics)
    }
    counts = {
        m[0]: float(m[1]) for m in re.findall(r'teller_stage_seconds_count\{[^}]*stage="(\w+)"[^}]*\} (\S+)', metrics)
    }
    return {stage: 1000 * sums[stage] / counts[stage] for stage in sums if counts.get(stage)}


def process_label(cmdline: list[str]) -> str:
    """A short name for a server process: the Ray actor or replica its title names, else the program or script."""
    if not cmdline:
        return "?"
    if cmdline[0].startswith("ray::"):  # Ray titles its workers ray::ServeReplica:<app>:<deployment>, ray::<Actor>
        return cmdline[0].removeprefix("ray::").split(".")[0].split(":")[-1].strip()
    program = Path(cmdline[0]).name
    if program.startswith("python") and len(cmdline) > 1:
        return Path(next((a for a in cmdline[1:] if not a.startswith("-")), program)).name
    return program


def cpu_seconds(pid: int) -> Counter[str]:
    """CPU seconds spent so far by a process and everything under it, summed per `process_label`."""
    import psutil

    spent: Counter[str] = Counter()
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return spent
    for process in processes:
        try:
            times = process.cpu_times()
            spent[process_label(process.cmdline())] += times.user + times.system
        except psutil.Error:  # ended meanwhile
            continue
    return spent


def cpu_table(spent: Counter[str], available_s: float, shown: int = 8) -> str:
    """Where the machine's CPU went during the run, most first: which processes the serving path costs."""
    lines = ["", f"| CPU seconds over the run (of {available_s:.0f} available) | s |", "|---|---|"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in spent.most_common(shown)]
    lines.append(f"| all | {sum(spent.values()):.1f} |")
    return "\n".join(lines) + "\n"


def summarise(stats_csv: Path, stages: dict[str, float], users: int, duration: int) -> tuple[list[dict], str]:
    rows = []
    with stats_csv.open() as handle:
        for r in csv.DictReader(handle):
            rows.append(
                {
                    "endpoint": r["Name"],
                    "requests": int(r["Request Count"]),
                    "failures": int(r["Failure Count"]),
                    "p50_ms": float(r["50%"]),
                    "p95_ms": float(r["95%"]),
                    "p99_ms": float(r["99%"]),
                    "rps": round(float(r["Requests/s"]), 2),
                }
            )
    lines = [
        f"Load test: {users} users for {duration} s against `teller serve` on this machine.",
        "",
        "| endpoint | requests | failures | p50 ms | p95 ms | p99 ms | req/s |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['endpoint']} | {r['requests']} | {r['failures']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"{r['p99_ms']:.0f} | {r['rps']} |"
            for r in rows
        ),
        "",
        "| stage (server side, mean) | ms |",
        "|---|---|",
        *(f"| {stage} | {ms:.1f} |" for stage, ms in stages.items()),
    ]
    return rows, "\n".join(lines) + "\n"


def slowest_table(requests: list[dict], n: int = 5) -> str:
    """The slowest requests with when they started and how long their text was: where a tail comes from."""
    if not requests:
        return ""
    lines = ["", "| slowest requests | started (s into the run) | ms | characters |", "|---|---|---|---|"]
    for r in sorted(requests, key=lambda r: -r["latency_ms"])[:n]:
        lines.append(f"| {r['endpoint']} | {r['started_s']:.1f} | {r['latency_ms']:.0f} | {r['chars']:,} |")
    return "\n".join(lines) + "\n"


def plot_latency(requests: list[dict], out: Path) -> None:
    """Latency of every request against when it started, one colour per endpoint (log scale)."""
    if not requests:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    for endpoint in sorted({r["endpoint"] for r in requests}):
        mine = [r for r in requests if r["endpoint"] == endpoint]
        ax.scatter([r["started_s"] for r in mine], [r["latency_ms"] for r in mine], s=8, label=endpoint, alpha=0.7)
    ax.set(xlabel="request started (s into the run)", ylabel="latency (ms)", yscale="log", title="Load test latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "loadtest")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with teller_serve(args.port, args.out / "serve.log") as (url, pid):
            locust = [BIN / "locust", "-f", ROOT / "loadtests" / "locustfile.py", "--headless", "--only-summary"]
            locust += ["-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s", "--host", url]
            locust += ["--csv", args.out / "locust"]
            env = {**os.environ, "LOADTEST_REQUESTS": str(args.out / "requests.csv")}
            server_before, locust_before = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([str(c) for c in locust], check=False, env=env)
            spent = cpu_seconds(pid) - server_before  # Counter subtraction keeps what grew
            locust_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            spent["Locust (the load generator)"] = sum(
                getattr(locust_after, f) - getattr(locust_before, f) for f in ("ru_utime", "ru_stime")
            )
            try:
                stages = stage_split(httpx.get(f"{url}/metrics", timeout=10).text)
            except httpx.HTTPError as exc:
                what = f"{args.out / 'serve.log'}: the server stopped answering during the run ({exc})"
                raise ServerError(f"{what}\nFix: read this server log") from None
    except ServerError as exc:
        sys.exit(f"error: {exc}")
    rows, table = summarise(args.out / "locust_stats.csv", stages, args.users, args.duration)
    requests = read_requests(args.out / "requests.csv")
    table += cpu_table(spent, (os.cpu_count() or 1) * args.duration) + slowest_table(requests)
    plot_latency(requests, args.out / "latency.png")
    (args.out / "summary.md").write_text(table)
    with (args.out / "summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(table)
    if any(r["failures"] for r in rows):
        sys.exit("error: some requests failed (see the table)")


if __name__ == "__main__":
    main()
