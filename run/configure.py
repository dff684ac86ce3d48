"""Loading configuration: canary.toml validated as a whole (each monitor's table by its own model,
checked against the pipeline's topology) and the CANARY_* environment settings."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from core.config import CanaryConfig, ConfigError, Settings, describe_settings_error, describe_validation_error
from monitors.registry import validate_monitor_tables


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(f"environment: {describe_settings_error(error)}") from None


def apply_settings(config: CanaryConfig, settings: Settings) -> CanaryConfig:
    """The environment's overrides of the file's values."""
    if settings.slack_channel:
        config = config.model_copy(update={"slack": config.slack.model_copy(update={"channel": settings.slack_channel})})
    if settings.dataset_prefix is not None:
        config = config.model_copy(update={"dataset_prefix": settings.dataset_prefix})
    return config


def load_config(path: Path) -> CanaryConfig:
    """Read and validate canary.toml; every failure names the file, the key and what was expected."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found (set CANARY_CONFIG or create it)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration file ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    try:
        config = CanaryConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe_validation_error(error, raw=raw, model=CanaryConfig)}") from None
    try:
        monitors = validate_monitor_tables(config.monitors, pipeline=config.pipeline)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    return config.model_copy(update={"monitors": monitors})


def load_all(settings: Settings | None = None) -> tuple[Settings, CanaryConfig]:
    """The settings and the configuration file they name, with the environment's overrides applied."""
    settings = settings or load_settings()
    return settings, apply_settings(load_config(settings.config), settings)
