"""The load-test summary: Locust's CSV and the server's stage histograms become one table."""

from __future__ import annotations

import csv
import importlib.util
import os
from pathlib import Path

import pytest

from tests.conftest import free_port

spec = importlib.util.spec_from_file_location("loadtest_run", Path(__file__).resolve().parents[2] / "loadtests/run.py")
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)

METRICS = """
teller_stage_seconds_sum{model_version="v1",stage="masking"} 2.0
teller_stage_seconds_count{model_version="v1",stage="masking"} 100.0
teller_stage_seconds_sum{model_version="v1",stage="classification"} 1.5
teller_stage_seconds_count{model_version="v1",stage="classification"} 50.0
"""


def test_stage_split_is_mean_milliseconds_per_stage():
    assert run.stage_split(METRICS) == {"masking": 20.0, "classification": 30.0}


def test_summary_table_from_locust_stats(tmp_path):
    path = tmp_path / "locust_stats.csv"
    header = ["Type", "Name", "Request Count", "Failure Count", "50%", "95%", "99%", "Requests/s"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow(["POST", "complaints", "300", "0", "45", "90", "120", "5.1"])
        writer.writerow(["", "Aggregated", "300", "0", "45", "90", "120", "5.1"])
    rows, table = run.summarise(path, {"masking": 20.0}, users=10, duration=60)
    assert rows[0] == {
        "endpoint": "complaints",
        "requests": 300,
        "failures": 0,
        "p50_ms": 45.0,
        "p95_ms": 90.0,
        "p99_ms": 120.0,
        "rps": 5.1,
    }
    assert "| complaints | 300 | 0 | 45 | 90 | 120 | 5.1 |" in table and "| masking | 20.0 |" in table


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("TELLER_DATA_DIR", str(tmp_path / "var"))  # no bundle there: `teller serve` exits with 2
    monkeypatch.delenv("TELLER_SERVE__BUNDLE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    log = tmp_path / "serve.log"
    with pytest.raises(run.ServerError, match="exited with 2"), run.teller_serve(free_port(), log, timeout_s=120):
        pass
    assert "no model bundle yet" in log.read_text()


def test_every_request_is_recorded_then_the_slowest_listed_and_plotted(tmp_path):
    from loadtests.requests_log import RequestLog  # what the Locust process writes with

    log = RequestLog()
    for name, ms, chars in [("chat", 40.0, 60), ("complaints", 3300.0, 26_697), ("complaints", 90.0, 850)]:
        log.record(name=name, response_time=ms, exception=None, context={"chars": chars}, response=None)
    log.record(name="chat", response_time=5.0, exception=ConnectionError("refused"), context={})
    log.write(tmp_path / "requests.csv")

    requests = run.read_requests(tmp_path / "requests.csv")
    assert [(r["endpoint"], r["latency_ms"], r["chars"], r["failed"]) for r in requests] == [
        ("complaints", 3300.0, 26_697, False),  # ordered by start: end time less latency
        ("complaints", 90.0, 850, False),
        ("chat", 40.0, 60, False),
        ("chat", 5.0, 0, True),
    ]
    table = run.slowest_table(requests, n=2)
    assert "| 3300 | 26,697 |" in table and "| 90 | 850 |" in table and "| 40 |" not in table
    run.plot_latency(requests, tmp_path / "latency.png")
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run.read_requests(tmp_path / "absent.csv") == [] and run.slowest_table([]) == ""


def test_server_processes_are_named_for_the_ray_actor_or_program_they_run():
    assert run.process_label(["ray::ServeReplica:teller:Gateway", "", ""]) == "Gateway"
    assert run.process_label(["ray::ServeController.listen_for_change"]) == "ServeController"
    assert run.process_label(["ray::ProxyActor"]) == "ProxyActor"
    assert run.process_label(["/venv/bin/python3.11", "-u", "/ray/_private/log_monitor.py", "--x"]) == "log_monitor.py"
    assert run.process_label(["/ray/core/src/ray/raylet/raylet", "--raylet_socket_name=x"]) == "raylet"
    assert run.process_label([]) == "?"


def test_cpu_time_is_counted_for_every_process_under_the_server_and_tabled_most_first(tmp_path):
    import subprocess
    import sys
    from collections import Counter

    script = tmp_path / "burn.py"
    script.write_text(
        "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
        "print('burnt', flush=True)\ntime.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "burnt"
        spent = run.cpu_seconds(os.getpid())  # this test's process and the child under it
    finally:
        child.kill()
        child.wait()
    assert spent["burn.py"] >= 0.3
    table = run.cpu_table(Counter({"Gateway": 5.2, "MaskerDeployment": 6.2, "raylet": 0.4}), 120, shown=2)
    assert table.splitlines()[1:] == [
        "| CPU seconds over the run (of 120 available) | s |",
        "|---|---|",
        "| MaskerDeployment | 6.2 |",
        "| Gateway | 5.2 |",
        "| all | 11.8 |",
    ]
