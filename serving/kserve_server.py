"""The triage service as a `kserve.Model`, for a plain KServe predictor (v1 and v2 REST, gRPC).

It calls the same `TellerService` as the gateway, so payloads are checked alike and every decision is stored.
Run: python -m serving.kserve_server --http_port 8080 [--model_name teller-triage] [--bundle DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import kserve
from kserve.protocol.infer_type import InferRequest, InferResponse

from serving import protocols
from serving.errors import ServiceError, service_error_handler
from serving.runtime import Decision
from serving.service import TellerService, triage_service


class TellerTriageModel(kserve.Model):
    """load → preprocess (decode v1 or v2) → predict (mask, triage, store) → postprocess (v1 or v2 reply).

    explain = occlusion attributions, for callers with the agent token (`Authorization: Bearer ...`).
    """

    def __init__(self, name: str, bundle: Path | None = None, service: TellerService | None = None) -> None:
        super().__init__(name)
        self.bundle_path, self.service = bundle, service
        self.ready = False

    def load(self) -> bool:
        """Build the service from settings (masker, the bundle's classifier, the audit store at the database URL)."""
        if self.service is None:
            self.service = triage_service(self.bundle_path)
        self.service.start()
        self.ready = True
        return self.ready

    async def preprocess(self, payload: dict | InferRequest, headers: dict | None = None) -> dict:
        if isinstance(payload, InferRequest):
            return {"texts": protocols.v2_request_texts(payload), "v2": True, "id": payload.id}
        return {"texts": protocols.v1_texts(payload), "v2": False, "id": None}

    async def predict(self, batch: dict, headers: dict | None = None) -> dict:
        return {**batch, "decisions": await self._service.triage_texts(batch["texts"])}

    async def postprocess(self, result: dict, headers: dict | None = None) -> dict | InferResponse:
        if "decisions" not in result:  # an explanation passes through unchanged
            return result
        decisions: list[Decision] = result["decisions"]
        if result["v2"]:
            rest = protocols.v2_response(decisions, self.name, self._service.model_version, result["id"])
            return InferResponse.from_rest(rest)
        return protocols.v1_predictions(decisions)

    async def explain(self, batch: dict, headers: dict | None = None) -> dict:
        self._service.authorize(_bearer(headers))
        return protocols.v1_explanations(await self._service.explain(batch["texts"]))

    @property
    def _service(self) -> TellerService:
        if self.service is None:
            raise kserve.errors.ModelNotReady(self.name, "call load() first")
        return self.service


def _bearer(headers: dict | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--bundle", type=Path, default=None, help="Bundle directory (default: champion).")
    parser.set_defaults(model_name="teller-triage")
    args, _ = parser.parse_known_args()
    model = TellerTriageModel(args.model_name, args.bundle)
    model.load()
    # The service's typed errors keep their status codes (401, 404, 413, 422, 503) on KServe's own app too.
    kserve.model_server.app.add_exception_handler(ServiceError, service_error_handler)
    kserve.ModelServer().start([model])


if __name__ == "__main__":
    main()
