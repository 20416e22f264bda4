"""The Ray Serve deployment classes on their own, without a cluster: how the classifier batches requests."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from teller.bundle import load_bundle
from tests.serving.test_ray_app import NARRATIVES


def serving(tiny_bundle, variant: str, tmp_path: Path) -> Path:
    """A copy of the tiny bundle whose served graph is `variant`."""
    path = tmp_path / variant
    shutil.copytree(tiny_bundle["bundle"], path)
    info = load_bundle(path).info.model_copy(update={"default_variant": variant})
    (path / "bundle.json").write_text(info.model_dump_json())
    return path


def classifier_deployment(bundle: Path, monkeypatch):
    """The classifier deployment's class built in this process, batching up to 16 within 50 ms."""
    from ray.serve.batching import _BatchQueue

    from serving.app import ClassifierDeployment

    # Outside a replica there is no deployment config for Ray's max_ongoing_requests warning to read.
    monkeypatch.setattr(_BatchQueue, "_warn_if_max_batch_size_exceeds_max_ongoing_requests", lambda self: None)
    # Ray keeps one batch queue per decorated method (one instance per replica), bound to the first event loop.
    cls = ClassifierDeployment.func_or_class
    for method in (cls._triage_one, cls._intent_one):
        monkeypatch.setattr(method.set_max_batch_size.__self__, "_queue", None)
    return cls(str(bundle), 16, 0.05, False)


@pytest.mark.parametrize(("variant", "shared"), [("opt", True), ("int8", False)])
def test_simultaneous_requests_share_a_run_where_the_graph_batches_else_run_side_by_side(
    tiny_bundle, tmp_path, monkeypatch, variant, shared
):
    deployment = classifier_deployment(serving(tiny_bundle, variant, tmp_path), monkeypatch)

    async def file_eight():
        return await asyncio.gather(*(deployment.triage([NARRATIVES[i % 4]]) for i in range(8)))

    decisions = asyncio.run(file_eight())
    assert [len(d) for d in decisions] == [1] * 8 and deployment.shares_runs() is shared
    runs = deployment.batch_sizes()["triage"]
    assert sum(size * n for size, n in runs.items()) == 8  # every complaint went through exactly one run
    # Batched, the eight arrive within the 50 ms wait and share runs; one text per run, those queued run side by side.
    assert max(runs) > 1 if shared else max(runs) == deployment.classifier.runtime.workers


@pytest.mark.parametrize(("setting", "spinning"), [(None, "0"), ("true", "1"), ("false", "0")])
def test_the_classifier_threads_spin_only_when_settings_ask(tiny_bundle, monkeypatch, setting, spinning):
    from teller.settings import get_settings

    if setting is not None:
        monkeypatch.setenv("TELLER_SERVE__SPIN_THREADS", setting)
    get_settings.cache_clear()
    try:
        deployment = classifier_deployment(Path(tiny_bundle["bundle"]), monkeypatch)
    finally:
        get_settings.cache_clear()
    options = deployment.classifier.runtime.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == spinning
