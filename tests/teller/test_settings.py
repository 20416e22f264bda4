import os

import pytest

from teller.errors import TellerError
from teller.settings import TellerSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Settings tests see only the variables they set (session fixtures may point TELLER_* elsewhere)."""
    for name in [n for n in os.environ if n.startswith("TELLER_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def config_file(monkeypatch, tmp_path):
    """Write a teller.yaml with the given text and point TELLER_CONFIG at it."""

    def write(text: str):
        path = tmp_path / "teller.yaml"
        path.write_text(text)
        monkeypatch.setenv("TELLER_CONFIG", str(path))
        return path

    return write


def test_defaults_are_local(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = TellerSettings()
    assert settings.tracking_uri.startswith("sqlite:///") and settings.tracking_uri.endswith("mlflow.db")
    assert settings.bundles_dir == settings.data_dir / "bundles"


def test_yaml_file_then_env_override(monkeypatch, tmp_path, config_file):
    config_file(f"data_dir: {tmp_path / 'from-yaml'}\npromote_margin: 0.02\n")
    monkeypatch.setenv("TELLER_PROMOTE_MARGIN", "0.05")
    settings = TellerSettings()
    assert settings.data_dir == tmp_path / "from-yaml"
    assert settings.promote_margin == 0.05


def test_mlflow_env_var_is_honoured(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert TellerSettings().tracking_uri == "http://127.0.0.1:5000"


def test_bad_config_file_is_a_clear_error(monkeypatch, tmp_path, config_file):
    config_file("data_dir: [unclosed\n")
    with pytest.raises(TellerError, match="not valid YAML"):
        TellerSettings()
    monkeypatch.setenv("TELLER_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(TellerError, match="config file not found"):
        TellerSettings()


def test_unknown_setting_is_rejected(config_file):
    config_file("data_dri: /tmp/x\n")
    with pytest.raises(Exception, match="data_dri"):
        TellerSettings()
