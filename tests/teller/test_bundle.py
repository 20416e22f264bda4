"""The one bundle resolver: explicit path, then the configured bundle, then the champion, then the newest."""

from __future__ import annotations

import pytest

from teller.bundle import resolve_bundle
from teller.errors import BundleError
from teller.settings import get_settings
from tests.bundle_fixtures import fake_bundle


def test_without_a_registry_the_newest_local_bundle_is_used(data_dir):
    fake_bundle(data_dir / "bundles", "20260101.000000")
    fake_bundle(data_dir / "bundles", "20260202.000000")
    assert resolve_bundle().info.version == "20260202.000000"
    assert not (data_dir / "mlflow.db").exists()  # looking for a champion creates no registry


def test_an_explicit_path_beats_the_configured_bundle(data_dir, monkeypatch):
    old = fake_bundle(data_dir / "bundles", "20260101.000000")
    configured = fake_bundle(data_dir / "elsewhere", "20250101.000000")
    monkeypatch.setenv("TELLER_SERVE__BUNDLE", str(configured))
    get_settings.cache_clear()
    assert resolve_bundle().info.version == "20250101.000000"
    assert resolve_bundle(old).info.version == "20260101.000000"


def test_no_bundle_says_how_to_train_one(data_dir):
    with pytest.raises(BundleError, match="teller train"):
        resolve_bundle()
