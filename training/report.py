"""Evaluation report: matplotlib PNGs plus a REPORT.md that embeds them and tabulates the numbers."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import matplotlib
import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from training.metrics import HeadPredictions

matplotlib.use("Agg")
import matplotlib.pyplot as plt

MANY = 20  # above this many classes: no cell annotations, small tick fonts
LABEL_CHARS = 40
TEXT_CHARS = 160
BINS = 10
DPI = 100


def write_report(
    out_dir: Path,
    title: str,
    metrics: dict[str, dict],
    predictions: dict[str, HeadPredictions],
    baselines: dict[str, dict[str, dict]] | None = None,
    distributions: dict[str, dict[str, dict[str, int]]] | None = None,
    top_errors: int = 20,
) -> Path:
    """Write the plots and REPORT.md into `out_dir`; return the path of REPORT.md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    heads = list(dict.fromkeys([*metrics, *predictions]))
    preds = {h: p for h, p in predictions.items() if len(p.y_true)}
    md = [f"# {title}", ""]
    with matplotlib.rc_context({"text.parse_math": False}):  # "$" in labels is text, not mathtext
        md += _summary(heads, metrics)
        if baselines:
            md += _baselines(out_dir, heads, metrics, baselines)
        if distributions:
            md += _distributions(out_dir, distributions)
        if preds:
            md += _calibration(out_dir, preds)
        for head in heads:
            md += _head_section(out_dir, head, metrics.get(head) or {}, preds.get(head), top_errors)
    path = out_dir / "REPORT.md"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(md).rstrip() + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


# --- Markdown sections -------------------------------------------------------------------------------


def _summary(heads: list[str], metrics: dict[str, dict]) -> list[str]:
    """Per-head headline numbers; the binary columns appear when some head has a threshold."""
    cols = ["n", "accuracy", "macro_f1", "weighted_f1", "roc_auc"]
    if any("threshold" in (m or {}) for m in metrics.values()):
        cols += ["precision", "recall", "pr_auc", "threshold"]
    rows = [[h, *(_fmt((metrics.get(h) or {}).get(c)) for c in cols)] for h in heads]
    return ["## Summary", "", *_table(["head", *cols], rows), ""]


def _baselines(
    out_dir: Path, heads: list[str], metrics: dict[str, dict], baselines: dict[str, dict[str, dict]]
) -> list[str]:
    """Model vs baselines on accuracy and macro-F1: a table and a grouped bar chart."""
    sources = {"model": metrics, **baselines}
    keys = [(h, k) for h in heads for k in ("accuracy", "macro_f1")]
    values = np.array([[_num(((src or {}).get(h) or {}).get(k)) for src in sources.values()] for h, k in keys]).reshape(
        len(keys), len(sources)
    )
    rows = [[f"{h} {k}", *(_fmt(v) for v in row)] for (h, k), row in zip(keys, values, strict=True)]
    md = ["## Baselines", "", *_table(["head / metric", *sources], rows), ""]
    if keys:
        md += [f"![baseline comparison]({_plot_baselines(out_dir, keys, list(sources), values)})", ""]
    return md


def _distributions(out_dir: Path, distributions: dict[str, dict[str, dict[str, int]]]) -> list[str]:
    """Label counts before/after the taxonomy mapping: a chart and a table per side."""
    md = ["## Label distributions", ""]
    for name, dist in distributions.items():
        sides = {side: counts for side, counts in (dist or {}).items() if counts}
        if not sides:
            continue
        md += [f"### {name}", "", f"![{name} distribution]({_plot_distribution(out_dir, name, sides)})", ""]
        for side, counts in sides.items():
            total = sum(counts.values())
            items = sorted(counts.items(), key=lambda kv: -kv[1])
            rows = [[_cell(k), str(v), f"{v / total:.1%}" if total else "–"] for k, v in items]
            md += [f"**{side}** ({total} rows, {len(counts)} labels)", ""]
            md += [*_table(["label", "count", "share"], rows), ""]
    return md


def _calibration(out_dir: Path, preds: dict[str, HeadPredictions]) -> list[str]:
    """Confidence histograms, reliability curves and the expected calibration error per head."""
    stats = {h: _reliability(p) for h, p in preds.items()}
    rows = [
        [
            h,
            str(len(p.y_true)),
            _fmt(float(np.mean(p.y_pred == p.y_true))),
            _fmt(float(p.confidence.mean())),
            _fmt(stats[h][3]),
        ]
        for h, p in preds.items()
    ]
    return [
        "## Calibration",
        "",
        f"![confidence histograms]({_plot_confidence(out_dir, preds)})",
        "",
        f"![reliability curves]({_plot_reliability(out_dir, stats)})",
        "",
        f"Expected calibration error over {BINS} equal-width confidence bins:",
        "",
        *_table(["head", "n", "accuracy", "mean confidence", "ECE"], rows),
        "",
    ]


def _head_section(out_dir: Path, head: str, m: dict, p: HeadPredictions | None, k: int) -> list[str]:
    """Confusion matrix, per-class F1, PR curve (binary) and most confident errors of one head."""
    md = [f"## Head: {head}", ""]
    if p is None:
        return [*md, "No predictions for this head.", ""]
    md += [f"![{head} confusion matrix]({_plot_confusion(out_dir, p)})", ""]
    per_class = m.get("per_class") or {}
    if per_class:
        items = sorted(per_class.items(), key=lambda kv: -kv[1].get("f1", 0.0))
        rows = [[_cell(c), *(_fmt(v.get(x)) for x in ("precision", "recall", "f1", "support"))] for c, v in items]
        md += [f"![{head} per-class F1]({_plot_per_class(out_dir, head, items)})", ""]
        md += ["<details><summary>Per-class numbers</summary>", ""]
        md += [*_table(["class", "precision", "recall", "f1", "support"], rows), "", "</details>", ""]
    if p.threshold is not None and (pr := _plot_pr(out_dir, p)):
        md += [f"![{head} precision-recall curve]({pr})", ""]
    return md + _top_errors(p, k)


def _top_errors(p: HeadPredictions, k: int) -> list[str]:
    """The `k` wrong predictions with the highest confidence, as a Markdown table."""
    if p.texts is None or k <= 0 or len(p.texts) != len(p.y_true):
        return []
    pred, conf = p.y_pred, p.confidence
    wrong = np.flatnonzero(pred != p.y_true)
    order = wrong[np.argsort(-conf[wrong], kind="stable")][:k]
    md = [f"### Most confident errors ({len(order)} of {len(wrong)})", ""]
    if not len(order):
        return [*md, "No errors.", ""]
    rows = [
        [
            str(r),
            _cell(p.texts[i], TEXT_CHARS),
            _cell(p.labels[p.y_true[i]]),
            _cell(p.labels[pred[i]]),
            f"{conf[i]:.3f}",
        ]
        for r, i in enumerate(order, 1)
    ]
    return [*md, *_table(["#", "text", "true", "predicted", "confidence"], rows), ""]


# --- plots -------------------------------------------------------------------------------------------


def _plot_baselines(out_dir: Path, keys: list[tuple[str, str]], names: list[str], values: np.ndarray) -> str:
    """Grouped bars: one group per head/metric, one bar per model or baseline."""
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(keys) + 2), 4.5), layout="constrained")
    x, width = np.arange(len(keys)), 0.8 / len(names)
    for i, name in enumerate(names):
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, np.nan_to_num(values[:, i]), width, label=name)
        ax.bar_label(bars, [_fmt(v) if not math.isnan(v) else "" for v in values[:, i]], fontsize=7)
    ax.set_xticks(x, [f"{h}\n{k}" for h, k in keys])
    ax.set(ylim=(0, 1.08), ylabel="score", title="Model vs baselines")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, out_dir / "baselines.png")


def _plot_confusion(out_dir: Path, p: HeadPredictions) -> str:
    """Row-normalised confusion matrix with class names; no cell annotations above MANY classes."""
    c = len(p.labels)
    cm = np.zeros((c, c))
    np.add.at(cm, (p.y_true, p.y_pred), 1)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    many = c > MANY
    side = 0.22 * c + 3 if many else 0.55 * c + 3.5
    fig, ax = plt.subplots(figsize=(side + 1.5, side), layout="constrained")
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    names = [_short(label) for label in p.labels]
    fontsize = 7 if many else 9
    ax.set_xticks(range(c), names, fontsize=fontsize)
    plt.setp(ax.get_xticklabels(), rotation=90 if many else 45, ha="right", va="center", rotation_mode="anchor")
    ax.set_yticks(range(c), names, fontsize=fontsize)
    if not many:
        for i, j in zip(*np.nonzero(cm), strict=True):
            color = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8, color=color)
    ax.set(
        xlabel="predicted",
        ylabel="true",
        title=f"{p.head}: confusion matrix (row-normalised, n={len(p.y_true)})",
    )
    fig.colorbar(im, ax=ax, shrink=0.6)
    return _save(fig, out_dir / f"confusion_{_slug(p.head)}.png")


def _plot_per_class(out_dir: Path, head: str, items: list[tuple[str, dict]]) -> str:
    """Horizontal F1 bars per class, best on top, support in the label."""
    n = len(items)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.2 * n + 1.2)), layout="constrained")
    f1 = [v.get("f1", 0.0) for _, v in items]
    ax.barh(range(n), f1, color=plt.cm.RdYlGn(np.asarray(f1)))
    ax.set_yticks(range(n), [f"{_short(c)} (n={v.get('support', '?')})" for c, v in items])
    ax.tick_params(axis="y", labelsize=7 if n > MANY else 9)
    ax.invert_yaxis()
    ax.margins(y=0.5 / max(n, 1))
    ax.set(xlim=(0, 1), xlabel="F1", title=f"{head}: F1 per class")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out_dir / f"per_class_{_slug(head)}.png")


def _plot_distribution(out_dir: Path, name: str, sides: dict[str, dict[str, int]]) -> str:
    """Side-by-side horizontal bar charts of label counts (e.g. before and after the mapping)."""
    rows = max(len(c) for c in sides.values())
    size = (7.5 * len(sides), max(2.5, 0.22 * rows + 1.2))
    fig, axes = plt.subplots(1, len(sides), figsize=size, layout="constrained", squeeze=False)
    for ax, (side, counts) in zip(axes[0], sides.items(), strict=True):
        items = sorted(counts.items(), key=lambda kv: -kv[1])
        bars = ax.barh(range(len(items)), [v for _, v in items])
        ax.bar_label(bars, [str(v) for _, v in items], fontsize=7, padding=2)
        ax.set_yticks(range(len(items)), [_short(k) for k, _ in items], fontsize=7 if len(items) > MANY else 9)
        ax.invert_yaxis()
        ax.margins(x=0.12)
        ax.set(xlabel="rows", title=f"{name}: {side} ({sum(counts.values())} rows, {len(counts)} labels)")
    return _save(fig, out_dir / f"distribution_{_slug(name)}.png")


def _plot_confidence(out_dir: Path, preds: dict[str, HeadPredictions]) -> str:
    """One histogram per head of the predicted-class confidence, correct and wrong overlaid."""
    cols = min(len(preds), 3)
    rows = math.ceil(len(preds) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.4 * rows), layout="constrained", squeeze=False)
    for ax in axes.flat[len(preds) :]:
        ax.set_axis_off()
    bins = np.linspace(0, 1, 21)
    for ax, (head, p) in zip(axes.flat, preds.items(), strict=False):
        ok = p.y_pred == p.y_true
        ax.hist(p.confidence[ok], bins=bins, alpha=0.6, color="tab:green", label=f"correct ({ok.sum()})")
        ax.hist(p.confidence[~ok], bins=bins, alpha=0.6, color="tab:red", label=f"wrong ({(~ok).sum()})")
        ax.set(xlim=(0, 1), xlabel="confidence", ylabel="rows", title=head)
        ax.legend(fontsize=8)
    return _save(fig, out_dir / "confidence.png")


def _plot_reliability(out_dir: Path, stats: dict[str, tuple]) -> str:
    """Accuracy vs mean confidence per bin for every head, against the diagonal, ECE in the legend."""
    fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
    for head, (conf, acc, count, ece) in stats.items():
        used = count > 0
        ax.plot(conf[used], acc[used], marker="o", label=f"{head} (ECE {ece:.3f})")
    ax.set(xlim=(0, 1.02), ylim=(-0.02, 1.04), xlabel="confidence", ylabel="accuracy", title="Reliability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, out_dir / "reliability.png")


def _plot_pr(out_dir: Path, p: HeadPredictions) -> str | None:
    """Precision-recall curve of a binary head with its operating threshold marked; None if one class."""
    y, score = p.y_true == 1, p.probs[:, 1]
    if y.all() or not y.any():
        return None
    precision, recall, _ = precision_recall_curve(y, score)
    picked = score >= p.threshold
    op_p, op_r = (y & picked).sum() / max(picked.sum(), 1), (y & picked).sum() / y.sum()
    fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    ax.plot(recall, precision, label=f"PR curve (AP {average_precision_score(y, score):.3f})")
    ax.axhline(y.mean(), ls=":", color="grey", label=f"prevalence {y.mean():.3f}")
    ax.scatter(
        [op_r],
        [op_p],
        color="red",
        zorder=3,
        label=f"threshold {p.threshold:.3f}: P {op_p:.2f}, R {op_r:.2f}",
    )
    ax.set(
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        xlabel="recall",
        ylabel="precision",
        title=f"{p.head}: precision-recall",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, out_dir / f"pr_{_slug(p.head)}.png")


# --- helpers -----------------------------------------------------------------------------------------


def _reliability(p: HeadPredictions) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Mean confidence, accuracy and count per equal-width confidence bin, and the ECE."""
    conf, correct = p.confidence, (p.y_pred == p.y_true).astype(float)
    idx = np.clip((conf * BINS).astype(int), 0, BINS - 1)
    count = np.bincount(idx, minlength=BINS)
    acc = np.bincount(idx, weights=correct, minlength=BINS) / np.maximum(count, 1)
    mean_conf = np.bincount(idx, weights=conf, minlength=BINS) / np.maximum(count, 1)
    ece = float(np.sum(count * np.abs(acc - mean_conf)) / max(len(conf), 1))
    return mean_conf, acc, count, ece


def _save(fig: plt.Figure, path: Path) -> str:
    """Save `fig` as PNG atomically, close it, and return the file name for a relative link."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    os.replace(tmp, path)
    return path.name


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _cell(text: object, limit: int | None = None) -> str:
    """Text made safe for a table cell: truncated, newlines shown as ↵, pipes and HTML escaped."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    for old, new in (("\\", "\\\\"), ("|", "\\|"), ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(old, new)
    return re.sub(r"\r\n|\r|\n", " ↵ ", text).replace("\t", " ")


def _short(label: object) -> str:
    """A label cut to LABEL_CHARS characters for plot ticks."""
    label = str(label)
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _slug(name: str) -> str:
    """A file-name-safe version of a head or distribution name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "_"


def _num(x: object) -> float:
    """A metric value as float, NaN when missing."""
    return float(x) if isinstance(x, int | float) else math.nan


def _fmt(x: object) -> str:
    """A metric value for a table: ints as is, floats to 3 decimals, missing as a dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, bool | int | np.integer):
        return str(x)
    return f"{x:.3f}" if isinstance(x, float | np.floating) else str(x)


def report_html(report_md: Path) -> str:
    """REPORT.md as one self-contained HTML page (plots inlined), e.g. for the Kubeflow Pipelines UI."""
    import base64
    import re

    import markdown

    folder = report_md.parent

    def inline(match: re.Match) -> str:
        png = folder / match.group(1)
        data = base64.b64encode(png.read_bytes()).decode() if png.is_file() else ""
        return f'src="data:image/png;base64,{data}"'

    body = markdown.markdown(report_md.read_text(encoding="utf-8"), extensions=["tables"])
    body = re.sub(r'src="([^":]+\.png)"', inline, body)
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>{body}</body></html>"
