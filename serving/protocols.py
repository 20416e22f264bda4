"""KServe v1 / Open Inference Protocol v2 and SageMaker payloads ↔ narratives and decisions (no HTTP here)."""

from __future__ import annotations

import csv
import io
import json

from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.v2_datamodels import InferenceRequest

from serving.errors import InvalidInput, MalformedPayload
from serving.runtime import Attribution, Decision

V2_INPUT = "narrative"
MAX_DEPTH = 10  # the deepest a valid body nests (v2 with parameters) is 5


def v1_texts(body: dict) -> list[str]:
    """Narratives from `{"instances": ["text", ...]}` or `{"instances": [{"narrative": "text"}, ...]}`."""
    check_depth(body)
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances:
        raise InvalidInput(
            "expected at least one narrative", "instances", 'send {"instances": ["narrative", ...]} or a list of them'
        )
    return [_text(i, n) for n, i in enumerate(instances)]


def v1_predictions(decisions: list[Decision]) -> dict:
    return {"predictions": [d.model_dump(exclude={"model_name"}) for d in decisions]}


def v1_explanations(attributions: list[Attribution]) -> dict:
    return {"explanations": [a.model_dump() for a in attributions]}


def v2_texts(body: dict, model_name: str) -> tuple[list[str], str | None]:
    """Narratives from an Open Inference Protocol request with one BYTES input named `narrative`."""
    check_depth(body, _V2_FIX)
    try:
        request = InferRequest.from_inference_request(InferenceRequest.model_validate(body), model_name)
    except Exception as exc:  # pydantic or kserve parsing
        first = str(exc).splitlines()[0]
        raise InvalidInput(f"not an Open Inference Protocol request ({first})", "body", _V2_FIX) from exc
    return v2_request_texts(request), request.id


def v2_request_texts(request: InferRequest) -> list[str]:
    """Narratives from a decoded v2 request (the gateway's, or the one KServe's model server decoded)."""
    found = request.get_input_by_name(V2_INPUT)
    if found is None or found.datatype != "BYTES":
        raise InvalidInput(f'expected one BYTES input named "{V2_INPUT}"', "inputs", _V2_FIX)
    data = found.data
    if not isinstance(data, list) or not data:
        raise InvalidInput("the narrative input has no data", f"inputs.{V2_INPUT}", _V2_FIX)
    return [_text(t.decode("utf-8", "replace") if isinstance(t, bytes) else t, n) for n, t in enumerate(data)]


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
    kind = content_type.split(";")[0].strip().lower()
    if kind not in ("text/csv", "application/json", ""):
        raise InvalidInput(f"unsupported content type {kind!r}", "Content-Type", "use application/json or text/csv")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload("the body is not UTF-8 text", "body", "send UTF-8 encoded JSON or CSV") from exc
    if kind == "text/csv":
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            raise MalformedPayload(f"not valid CSV ({exc})", "body", "send one quoted narrative per line") from exc
        if rows and [c.strip().lower() for c in rows[0]][:1] == ["narrative"]:
            rows = rows[1:]
        texts = [r[0] for r in rows if r and r[0].strip()]
        if not texts:
            raise InvalidInput("CSV has no narratives", "body", "send one per line or a `narrative` column")
        return texts
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else f"nested deeper than {MAX_DEPTH} levels"
        raise MalformedPayload(f"not valid JSON ({why})", "body", _V1_FIX) from None
    check_depth(data)
    if isinstance(data, list):
        data = {"instances": data}
    elif isinstance(data, dict) and "narrative" in data:
        data = {"instances": [data]}
    return v1_texts(data)


def check_depth(data: object, fix: str = "") -> None:
    """Refuse JSON nested deeper than any valid request (walked without recursion, so no depth can crash it)."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise MalformedPayload(f"JSON nested deeper than {MAX_DEPTH} levels", "body", fix or _V1_FIX)
        stack.extend((child, depth + 1) for child in children)


_V1_FIX = 'send {"instances": ["narrative", ...]}, a list of narratives, or {"narrative": "..."}'
_V2_FIX = f'send one input {{"name": "{V2_INPUT}", "datatype": "BYTES", "shape": [n], "data": ["narrative", ...]}}'


def _text(item: object, n: int) -> str:
    if isinstance(item, dict):
        item = item.get("narrative")
    if not isinstance(item, str) or not item.strip():
        raise InvalidInput("no narrative text", f"instance {n}", 'send a non-blank string, or {"narrative": "..."}')
    return item
