"""The triage classifier as a `kserve.Model`, for a plain KServe predictor (v1 and v2 REST, gRPC).

Run: python -m serving.kserve_server --http_port 8080 [--model_name teller-triage] [--bundle DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import kserve
from kserve.protocol.infer_type import InferRequest, InferResponse

from serving import protocols
from serving.runtime import Classifier, Decision, occlusion, resolve_bundle


class TellerTriageModel(kserve.Model):
    """load → preprocess (parse + mask) → predict (ONNX triage) → postprocess (v1 or v2 reply); explain = occlusion."""

    def __init__(self, name: str, bundle: Path | None = None) -> None:
        super().__init__(name)
        self.bundle_path = bundle
        self.ready = False

    def load(self) -> bool:
        from teller.masking import Masker

        self.masker = Masker()
        self.classifier = Classifier(resolve_bundle(self.bundle_path))
        self.ready = True
        return self.ready

    def preprocess(self, payload: dict | InferRequest, headers: dict | None = None) -> dict:
        if isinstance(payload, InferRequest):
            texts, request_id = [str(t) for t in payload.get_input_by_name(protocols.V2_INPUT).data], payload.id
        else:
            texts, request_id = protocols.v1_texts(payload), None
        masked = [m.text for m in self.masker.mask_many(texts)]
        return {"texts": masked, "v2": isinstance(payload, InferRequest), "id": request_id}

    def predict(self, batch: dict, headers: dict | None = None) -> dict:
        return {**batch, "decisions": self.classifier.triage(batch["texts"])}

    def postprocess(self, result: dict, headers: dict | None = None) -> dict | InferResponse:
        decisions: list[Decision] = result["decisions"]
        if result["v2"]:
            rest = protocols.v2_response(decisions, self.name, self.classifier.version, result["id"])
            return InferResponse.from_rest(rest)
        return protocols.v1_predictions(decisions)

    async def explain(self, payload: dict, headers: dict | None = None) -> dict:
        masked = [m.text for m in self.masker.mask_many(protocols.v1_texts(payload))]
        return {"explanations": [occlusion(self.classifier, t).model_dump() for t in masked]}


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--bundle", type=Path, default=None, help="Bundle directory (default: champion).")
    parser.set_defaults(model_name="teller-triage")
    args, _ = parser.parse_known_args()
    model = TellerTriageModel(args.model_name, args.bundle)
    model.load()
    kserve.ModelServer().start([model])


if __name__ == "__main__":
    main()
