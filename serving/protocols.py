"""KServe v1 / Open Inference Protocol v2 and SageMaker payloads ↔ narratives and decisions (no HTTP here)."""

from __future__ import annotations

import csv
import io
import json

from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.v2_datamodels import InferenceRequest

from serving.runtime import Decision

V2_INPUT = "narrative"


class PayloadError(ValueError):
    """A request body that does not match the protocol; the message says what is expected."""


def v1_texts(body: dict) -> list[str]:
    """Narratives from `{"instances": ["text", ...]}` or `{"instances": [{"narrative": "text"}, ...]}`."""
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances:
        raise PayloadError('expected {"instances": ["narrative", ...]} with at least one narrative')
    return [_text(i, n) for n, i in enumerate(instances)]


def v1_predictions(decisions: list[Decision]) -> dict:
    return {"predictions": [d.model_dump(exclude={"model_name"}) for d in decisions]}


def v2_texts(body: dict, model_name: str) -> tuple[list[str], str | None]:
    """Narratives from an Open Inference Protocol request with one BYTES input named `narrative`."""
    try:
        request = InferRequest.from_inference_request(InferenceRequest.model_validate(body), model_name)
    except Exception as exc:  # pydantic or kserve parsing
        raise PayloadError(f"not an Open Inference Protocol request: {str(exc).splitlines()[0]}") from exc
    found = request.get_input_by_name(V2_INPUT)
    if found is None or found.datatype != "BYTES":
        raise PayloadError(f'expected one BYTES input named "{V2_INPUT}"')
    return [_text(t, n) for n, t in enumerate(found.data)], request.id


def v2_response(decisions: list[Decision], model_name: str, version: str, request_id: str | None) -> dict:
    n = len(decisions)
    outputs = [
        InferOutput("team", [n], "BYTES", data=[d.team for d in decisions]),
        InferOutput("issue", [n], "BYTES", data=[d.issue for d in decisions]),
        InferOutput("vulnerable", [n], "BOOL", data=[d.vulnerable for d in decisions]),
        InferOutput("queue", [n], "BYTES", data=[d.queue for d in decisions]),
    ]
    rest, _ = InferResponse(request_id or "", model_name, outputs, model_version=version).to_rest()
    return rest


def v2_metadata(model_name: str, version: str) -> dict:
    return {
        "name": model_name,
        "versions": [version],
        "platform": "onnxruntime",
        "inputs": [{"name": V2_INPUT, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": name, "datatype": dtype, "shape": [-1]}
            for name, dtype in (("team", "BYTES"), ("issue", "BYTES"), ("vulnerable", "BOOL"), ("queue", "BYTES"))
        ],
    }


def sagemaker_texts(body: bytes, content_type: str) -> list[str]:
    """SageMaker /invocations: JSON (instances, a list, one object) or CSV (a `narrative` column, or one per line)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("the body is not UTF-8 text") from exc
    kind = content_type.split(";")[0].strip().lower()
    if kind == "text/csv":
        rows = list(csv.reader(io.StringIO(text)))
        if rows and [c.strip().lower() for c in rows[0]][:1] == ["narrative"]:
            rows = rows[1:]
        texts = [r[0] for r in rows if r and r[0].strip()]
        if not texts:
            raise PayloadError("CSV has no narratives: send one per line or a `narrative` column")
        return texts
    if kind in ("application/json", ""):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PayloadError(f"not valid JSON ({exc.msg})") from exc
        if isinstance(data, list):
            data = {"instances": data}
        elif isinstance(data, dict) and "narrative" in data:
            data = {"instances": [data]}
        return v1_texts(data)
    raise PayloadError(f"unsupported content type {kind!r}: use application/json or text/csv")


def _text(item, n: int) -> str:
    if isinstance(item, dict):
        item = item.get("narrative")
    if not isinstance(item, str) or not item.strip():
        raise PayloadError(f"instance {n} has no narrative text")
    return item
