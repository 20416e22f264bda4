"""Teller settings: local defaults, overridden by one YAML file and then by TELLER_* environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from teller.errors import TellerError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class TellerSettings(BaseSettings):
    """Where Teller keeps its data, models and registry."""

    model_config = SettingsConfigDict(env_prefix="TELLER_", extra="forbid")

    data_dir: Path = Field(PROJECT_ROOT / "var", description="Working data: caches, splits, bundles, MLflow.")
    shared_data_dir: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data",
        description="Read-only public datasets (CFPB, Banking77, ...).",
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow store; defaults to MLFLOW_TRACKING_URI, else SQLite under data_dir."
    )
    registered_model: str = Field("teller-triage", description="Name of the model in the MLflow registry.")
    promote_margin: float = Field(
        0.005, ge=0.0, description="How much a challenger must beat the champion's score by to be promoted."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def bundles_dir(self) -> Path:
        return self.data_dir / "bundles"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI in force (explicit setting, env var, or local SQLite)."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by TELLER_CONFIG (or ./teller.yaml if present)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get("TELLER_CONFIG", "teller.yaml"))
        if not path.exists():
            if "TELLER_CONFIG" in os.environ:
                raise TellerError("config file not found", str(path), "set TELLER_CONFIG to an existing YAML file")
            return {}
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise TellerError(f"not valid YAML ({exc})", str(path), "fix the syntax of the config file") from exc
        if not isinstance(data, dict):
            raise TellerError("expected a mapping of setting names to values", str(path))
        return data


@lru_cache
def get_settings() -> TellerSettings:
    """The process-wide settings (cached; tests clear the cache after changing the environment)."""
    return TellerSettings()
