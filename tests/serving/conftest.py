"""The gateway over in-process backends: real masker, real ONNX bundle, real KB, real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from teller.settings import get_settings

AGENT_TOKEN = "agent-test-token"


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    from teller.store import Store

    return Store(f"sqlite:///{tmp_path_factory.mktemp('audit') / 'teller.db'}")


@pytest.fixture(scope="session")
def classifier(tiny_bundle):
    from serving.runtime import Classifier
    from teller.bundle import load_bundle

    return Classifier(load_bundle(Path(tiny_bundle["bundle"])), threads=2)


@pytest.fixture(scope="session")
def client(classifier, answerer, store):
    from serving.backends import LocalBackends
    from serving.gateway import create_app
    from teller.masking import Masker

    settings = get_settings().serve.model_copy(update={"agent_token": SecretStr(AGENT_TOKEN)})
    app = create_app(LocalBackends(Masker(), classifier, answerer), store, settings)
    with TestClient(app, headers={"Authorization": f"Bearer {AGENT_TOKEN}"}) as test_client:
        yield test_client
