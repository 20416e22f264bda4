"""`teller kb build`: index the configured (or given) sources and calibrate abstention on the bundled set."""

from __future__ import annotations

import logging
from pathlib import Path

from rag.embeddings import OnnxEmbeddings, export_encoder
from rag.evaluate import CALIBRATION_SET, calibrate, load_questions
from rag.index import KnowledgeBase, Manifest, build_kb
from teller.masking import MaskCache
from teller.settings import KBSource, get_settings

log = logging.getLogger(__name__)


def build(
    sources: list[KBSource] | None = None,
    out_dir: Path | None = None,
    calibration: Path | None = None,
    mask_cache: MaskCache | None = None,
) -> Manifest:
    """Build the KB into `out_dir` (default: settings' kb_dir); calibrate with `calibration` if it fits this KB."""
    settings = get_settings()
    questions = load_questions(calibration or CALIBRATION_SET)
    embeddings = OnnxEmbeddings(export_encoder(), progress=True)

    def fit(path: Path) -> tuple[float, dict] | None:
        result = calibrate(KnowledgeBase(path, embeddings), questions)
        if result is None:
            log.warning("calibration set has too few questions this KB answers; using the default threshold")
            return None
        threshold, stats = result
        return threshold, {**stats, "questions": str(calibration or CALIBRATION_SET.name)}

    return build_kb(sources or settings.rag.sources, out_dir or settings.kb_dir, embeddings, fit, mask_cache)
