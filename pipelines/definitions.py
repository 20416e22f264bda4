"""The four pipelines. Each step is a component from `pipelines.components`; resources come from settings."""

from typing import NamedTuple

from kfp import dsl

from pipelines import components as c
from teller.settings import PROMOTE_MARGIN, get_settings


class TrainEvalOutputs(NamedTuple):
    version: str
    registered_version: str
    promoted: bool
    reason: str


def _sized(task: dsl.PipelineTask, kind: str) -> dsl.PipelineTask:
    size = get_settings().pipelines.resources[kind]
    task.set_cpu_request(size.cpu).set_cpu_limit(size.cpu)
    return task.set_memory_request(size.memory).set_memory_limit(size.memory)


def _corpus(profile, overrides, corrections=None):
    """validate → prepare (mask, split, leakage check), with agents' corrections merged when given."""
    validated = _sized(c.validate_data(profile=profile, overrides=overrides), "light")
    given = {"corrections": corrections} if corrections is not None else {}
    prepared = _sized(c.prepare_data(profile=profile, overrides=overrides, **given), "prepare").after(validated)
    return prepared.outputs["corpus"]


def _model_steps(profile, overrides, corpus, gpus, margin, tracking_uri):
    """train → evaluate and export → register as challenger → gate against champion (shared by every pipeline)."""
    trained = _sized(c.train_model(profile=profile, overrides=overrides, corpus=corpus), "train")
    trained.set_accelerator_type(get_settings().pipelines.gpu_resource).set_accelerator_limit(gpus)
    packaged = _sized(
        c.evaluate_and_export(profile=profile, overrides=overrides, corpus=corpus, model=trained.outputs["model"]),
        "package",
    )
    registered = _sized(
        c.register_challenger(
            profile=profile,
            overrides=overrides,
            tracking_uri=tracking_uri,
            corpus=corpus,
            bundle=packaged.outputs["bundle"],
            report=packaged.outputs["report"],
            summary=packaged.outputs["summary"],
        ),
        "light",
    )
    gated = _sized(c.gate_champion(version=registered.output, margin=margin, tracking_uri=tracking_uri), "package")
    for task in (registered, gated):  # they change the registry: never served from the cache
        task.set_caching_options(False)
    return TrainEvalOutputs(
        packaged.outputs["Output"], registered.output, gated.outputs["promoted"], gated.outputs["reason"]
    )


@dsl.pipeline(name="teller-train-eval", description="Validate, mask, split, train, evaluate, export, register, gate.")
def train_eval(
    profile: str = "quick",
    overrides: dict = {},  # noqa: B006 - KFP pipeline parameters need literal defaults
    gpus: int = 0,
    margin: float = PROMOTE_MARGIN,
    tracking_uri: str = "",
) -> TrainEvalOutputs:
    return _model_steps(profile, overrides, _corpus(profile, overrides), gpus, margin, tracking_uri)


@dsl.pipeline(
    name="teller-retrain-from-feedback",
    description="Agents' corrections from the audit store merged into the base data (test frozen), then train_eval.",
)
def retrain_from_feedback(
    database_url: str,
    profile: str = "quick",
    overrides: dict = {},  # noqa: B006
    gpus: int = 0,
    margin: float = PROMOTE_MARGIN,
    tracking_uri: str = "",
) -> TrainEvalOutputs:
    exported = _sized(c.export_corrections(database_url=database_url), "light")
    exported.set_caching_options(False)  # the store changes between runs
    corpus = _corpus(profile, overrides, exported.outputs["corrections"])
    return _model_steps(profile, overrides, corpus, gpus, margin, tracking_uri)


@dsl.pipeline(name="teller-kb-index", description="Ingest, mask, chunk, embed, index, evaluate and publish the KB.")
def kb_index(
    sources: list = [],  # noqa: B006 - empty: the configured sources
    min_hit_at_3: float = 0.0,
    target: str = "",
) -> str:
    built = _sized(c.build_kb(sources=sources), "prepare")
    evaluated = _sized(c.evaluate_kb(kb=built.outputs["kb"], min_hit_at_3=min_hit_at_3), "light")
    published = _sized(c.publish_kb(kb=built.outputs["kb"], target=target), "light").after(evaluated)
    published.set_caching_options(False)
    return published.output


@dsl.pipeline(
    name="teller-sweep",
    description="Train one trial per hyperparameter set in parallel (MLflow child runs), then train_eval the best.",
)
def sweep(
    trials: list = [  # noqa: B006
        {"lr": 8e-5, "max_length": 96, "balance": "class_weights", "epochs": 2},
        {"lr": 1.5e-4, "max_length": 96, "balance": "class_weights", "epochs": 2},
        {"lr": 8e-5, "max_length": 128, "balance": "upsample", "epochs": 2},
        {"lr": 8e-5, "max_length": 128, "balance": "class_weights", "epochs": 3},
    ],
    profile: str = "quick",
    overrides: dict = {},  # noqa: B006
    gpus: int = 0,
    margin: float = PROMOTE_MARGIN,
    tracking_uri: str = "",
) -> TrainEvalOutputs:
    corpus = _corpus(profile, overrides)
    with dsl.ParallelFor(trials, parallelism=2) as trial:
        tried = _sized(
            c.sweep_trial(profile=profile, overrides=overrides, trial=trial, corpus=corpus, gpus=gpus), "train"
        )
        tried.set_accelerator_type(get_settings().pipelines.gpu_resource).set_accelerator_limit(gpus)
    best = _sized(
        c.pick_best(overrides=overrides, results=dsl.Collected(tried.output), corpus=corpus, tracking_uri=tracking_uri),
        "light",
    )
    best.set_caching_options(False)
    return _model_steps(profile, best.output, corpus, gpus, margin, tracking_uri)


PIPELINES = {
    "train_eval": train_eval,
    "kb_index": kb_index,
    "sweep": sweep,
    "retrain_from_feedback": retrain_from_feedback,
}
