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
def serve_settings():
    """Serve settings with a known agent token."""
    return get_settings().serve.model_copy(update={"agent_token": SecretStr(AGENT_TOKEN)})


@pytest.fixture(scope="session")
def backends(classifier, answerer):
    """One masker, classifier and answerer in this process, shared by every app and service the tests build."""
    from serving.backends import LocalBackends
    from teller.masking import Masker

    return LocalBackends(Masker(), classifier, answerer)


@pytest.fixture(scope="session")
def client(backends, store, serve_settings):
    from serving.gateway import create_app

    app = create_app(backends, store, serve_settings)
    with TestClient(app, headers={"Authorization": f"Bearer {AGENT_TOKEN}"}) as test_client:
        yield test_client
