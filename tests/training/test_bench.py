"""The side-by-side benchmark: interleaving, ratios to the anchors, ceilings, memory, the command's output."""

from __future__ import annotations

import json
import mmap
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from teller.bundle import load_bundle
from teller.cfpb import NARRATIVE
from tests.bundle_fixtures import fake_bundle
from tests.conftest import CFPB, sample_rows, write_csv
from tests.training.test_export import tiny_draft
from training import bench
from training.bench import Engine, PeakRss, encoder_flops, format_table, rounds, summarise


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_draft(tmp_path_factory.mktemp("bench") / "draft")


def engine(name: str, group: str = "classify", anchor: bool = False, **rates) -> Engine:
    e = Engine(name, group, lambda t: None, lambda ts: None, 0.0, anchor=anchor, ceiling=rates.pop("ceiling", None))
    e.single_rates, e.batched_rates = rates.get("single", []), rates.get("batched", [])
    e.latencies = rates.get("latencies", [0.01])
    return e


def test_peak_rss_sees_an_allocation_that_is_freed_before_the_block_ends():
    with PeakRss() as peak:
        # Fresh anonymous pages, touched one MiB at a time: the allocator cannot hand back memory already resident.
        block = mmap.mmap(-1, 80 * 2**20)
        for start in range(0, len(block), 2**20):
            block[start : start + 2**20] = b"\1" * 2**20
        deadline = time.monotonic() + 10  # the sampler thread may be starved on a busy machine
        while peak.peak - peak.base < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        block.close()
    assert peak.growth_mb > 60


def test_memory_is_measured_in_a_forked_child_and_left_there():
    def factory():
        held = np.ones(80 * 2**20 // 8)
        return (lambda t: held.sum()), (lambda ts: held.sum())

    before = bench.rss_mb()
    assert bench.memory_in_child(factory, ["x"]) > 60
    assert bench.rss_mb() - before < 20


def test_rounds_time_every_engine_once_per_round_in_a_rotating_order():
    calls: list[str] = []

    def make(name: str) -> Engine:
        return Engine(name, "classify", lambda t: calls.append(name), lambda ts: calls.append(name + "*"), 0.0)

    engines = [make("a"), make("b"), make("c")]
    done = [e.name for e in rounds(engines, {"classify": ["x", "y"]}, repeats=3)]
    assert done == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert calls[:6] == ["a", "a", "a*", "b", "b", "b*"]
    for e in engines:
        assert len(e.single_rates) == len(e.batched_rates) == 3 and len(e.latencies) == 6


def test_ratios_are_taken_within_a_round_against_the_faster_anchor():
    engines = [
        engine("hf 2 threads", anchor=True, single=[10.0, 4.0, 10.0], batched=[20.0, 20.0, 20.0]),
        engine("hf 1 thread", anchor=True, single=[5.0, 8.0, 5.0], batched=[10.0, 10.0, 10.0]),
        engine("teller", single=[40.0, 40.0, 60.0], batched=[100.0, 80.0, 60.0]),
        engine("presidio", group="mask", anchor=True, single=[2.0, 2.0, 2.0], batched=[3.0, 3.0, 3.0]),
        engine("masker", group="mask", single=[20.0, 10.0, 30.0], batched=[30.0, 30.0, 30.0]),
    ]
    rows = {r["engine"]: r for r in summarise(engines, 0.0, {})}
    # Per round the best anchor is 10, 8, 10: ratios 4, 5, 6 (median 5), not 40/10 or the median of rates.
    assert rows["teller"]["x_anchor_batch1"] == 5.0
    assert rows["teller"]["x_anchor_batched"] == 4.0
    assert rows["teller"]["batched_x_anchor_batch1"] == 10.0  # 10, 10, 6
    assert rows["masker"]["x_anchor_batch1"] == 10.0 and rows["masker"]["x_anchor_batched"] == 10.0
    assert rows["hf 1 thread"]["x_anchor_batch1"] == 0.5
    assert "ceiling" not in rows["teller"]


def test_latency_percentiles_and_ceiling_share():
    e = engine("teller", single=[50.0], batched=[100.0], latencies=[i / 1000 for i in range(1, 101)], ceiling="int8")
    row = summarise([e], 2e9, {"fp32_gflops": 100.0, "int8_gops": 400.0})[0]
    assert row["p50_ms"] == pytest.approx(51.0) and row["p95_ms"] == pytest.approx(95.0)
    assert row["ceiling_share_batch1"] == pytest.approx(2e9 * 50 / 400e9)
    assert row["ceiling_share_batched"] == pytest.approx(0.5)
    assert "teller" in format_table([row]) and "50.0%" in format_table([row])
    anchored = row | {"x_anchor_batch1": 2.0, "x_anchor_batched": 3.0, "batched_x_anchor_batch1": 4.25}
    assert format_table([anchored]).splitlines()[1].split()[-5:] == ["2.00", "3.00", "4.25", "25.0%", "50.0%"]


def test_encoder_flops_count_every_weight_matmul_and_attention(tiny):
    # 1 layer, hidden 64, FFN 128: Q, K, V, O are 4 x 64 x 64 MACs per token, the FFN 2 x 64 x 128.
    per_token = 2 * (4 * 64 * 64 + 2 * 64 * 128)
    attention = 4 * 64 * 1  # QK^T and AV: 2 n^2 h MACs per layer
    assert encoder_flops(tiny, [10, 20]) == per_token * 30 + attention * (10**2 + 20**2)


def test_gemm_ceilings_measure_both_kernels():
    ceilings = bench.gemm_ceilings(threads=1, size=128, repeats=1)
    assert ceilings["fp32_gflops"] > 0 and ceilings["int8_gops"] > 0


def test_plans_are_built_next_to_the_bundles_own_variants(tiny, tmp_path):
    wide, notes = bench.with_plans(tiny, tmp_path)
    assert {"fp32", "opt", "int8:opt_all", "int8:all", "int8:attention_only"} <= set(wide.info.variants)
    assert (
        notes["opt"] == "built here"
        and notes["fp32"] == "shipped"
        and wide.info.variants["fp32"] == str(tiny.path / "model.onnx")
    )
    assert bench.is_int8(wide, "int8:opt_all") and not bench.is_int8(wide, "opt")


def stand_in(seconds: float):
    """A factory whose calls take `seconds` per text."""

    def build():
        return (lambda t: time.sleep(seconds)), (lambda ts: time.sleep(seconds * len(ts) / 2))

    return build


def test_side_by_side_reports_every_engine_with_its_ratio(tiny, monkeypatch):
    monkeypatch.setattr(
        bench,
        "contenders",
        lambda b, v, n: [
            ("anchor", "classify", stand_in(0.004), {"anchor": True, "ceiling": "fp32"}),
            ("fast", "classify", stand_in(0.001), {"ceiling": "int8"}),
            ("presidio", "mask", stand_in(0.004), {"anchor": True}),
            ("masker", "mask", stand_in(0.002), {}),
        ],
    )
    result = bench.side_by_side(tiny, ["raw text"] * 6, ["card fee dispute"] * 6, repeats=2, plans=False)
    rows = {r["engine"]: r for r in result["rows"]}
    assert set(rows) == {"anchor", "fast", "presidio", "masker"}
    assert rows["fast"]["x_anchor_batch1"] > 1.5 and rows["masker"]["x_anchor_batch1"] > 1.2
    assert rows["fast"]["ceiling_share_batch1"] > 0 and "ceiling" not in rows["masker"]
    assert result["texts"]["count"] == 6 and result["ceiling"]["int8_gops"] > 0
    assert result["repeats"] == 2 and "RSS" in result["memory"]


def test_bench_command_prints_a_table_or_json(tmp_path, monkeypatch):
    from teller.cli import app
    from training import evaluate

    header, rows = sample_rows(CFPB, 5, where=lambda r: len(r[NARRATIVE]) > 50)
    data = write_csv(tmp_path / "cfpb.csv", header, rows)
    chosen = load_bundle(fake_bundle(tmp_path / "bundles", "20260101.000000"))
    row = {"engine": "teller fp32", "texts_per_s_batch1": 1.0, "texts_per_s_batched": 2.0, "p50_ms": 1.0}
    row |= {"p95_ms": 2.0, "memory_mb": 3.0}
    seen = {}

    def fake(bundle, raw, masked, repeats, plans, batch_size):
        seen.update(raw=raw, masked=masked, repeats=repeats, plans=plans, batch_size=batch_size)
        ceiling = {"fp32_gflops": 1.0, "int8_gops": 2.0, "how": "h", "encoder_gflop_per_text": 0.5}
        texts = {"count": len(raw), "max_length": 32, "mean_tokens": 20.0}
        return {"rows": [row], "texts": texts, "ceiling": ceiling, "ratios": "r", "memory": "m"}

    monkeypatch.setattr(bench, "side_by_side", fake)
    monkeypatch.setattr(evaluate, "mask_examples", lambda examples: [setattr(e, "text", "masked") for e in examples])
    args = ["bench", "--data", str(data), "--bundle", str(chosen.path), "--limit", "2", "--repeats", "1"]
    out = CliRunner().invoke(app, [*args, "--json", "--no-plans", "--batch-size", "8"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["rows"][0]["engine"] == "teller fp32"
    assert seen["masked"] == ["masked", "masked"] and len(seen["raw"]) == 2 and seen["raw"] != seen["masked"]
    assert seen["repeats"] == 1 and not seen["plans"] and seen["batch_size"] == 8
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0 and "teller fp32" in out.stdout and "GEMM ceiling" in out.stdout
