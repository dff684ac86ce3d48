"""Loading configuration: canary.toml validated as a whole (each monitor's table by its own model,
checked against the pipeline's topology) and the CANARY_* environment settings."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.config import CanaryConfig, ConfigError, Pipeline, Settings, describe_validation_error, phase_name_problems
from monitors.registry import validate_monitor_tables


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(f"environment: {describe_validation_error(error, prefix='CANARY')}") from None


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
    # Every problem of the file at once (the top level, the pipeline, each monitor's table), not one per attempt.
    problems: list[str] = []
    config: CanaryConfig | None = None
    try:
        config = CanaryConfig.model_validate(raw)
    except ValidationError as error:
        problems.append(describe_validation_error(error))
        problems += [f"pipeline.{p}" for p in _names_of_a_broken_pipeline(raw, error)]
    tables = config.monitors if config is not None else raw.get("monitors", {})
    monitors = {}
    if isinstance(tables, dict):
        try:
            monitors = validate_monitor_tables(tables, pipeline=config.pipeline if config is not None else _valid_pipeline(raw))
        except ConfigError as error:
            problems.append(str(error))
    if problems or config is None:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return config.model_copy(update={"monitors": monitors})


def _names_of_a_broken_pipeline(raw: dict[str, Any], error: ValidationError) -> list[str]:
    """When [pipeline] has field errors its name checks never ran: run them on what is there, so a missing
    key and a mistyped phase come in one error. (When its fields parsed, the model ran them itself.)"""
    pipeline = raw.get("pipeline")
    if not isinstance(pipeline, dict) or not any(e["loc"][:1] == ("pipeline",) and len(e["loc"]) > 1 for e in error.errors()):
        return []
    phases = pipeline.get("phases")
    if not isinstance(phases, list) or not all(isinstance(p, str) for p in phases):
        return []
    transitions = pipeline.get("transitions")
    pairs = [
        (t.get("from") if isinstance(t.get("from"), str) else None, t.get("to") if isinstance(t.get("to"), str) else None)
        for t in (transitions if isinstance(transitions, list) else []) if isinstance(t, dict)
    ]
    predictions = pipeline.get("predictions_phase")
    return phase_name_problems(phases, predictions if isinstance(predictions, str) else None, pairs)


def _valid_pipeline(raw: dict[str, Any]) -> Pipeline | None:
    """[pipeline] on its own when the rest of the file is broken, so monitor tables are still checked against it."""
    try:
        return Pipeline.model_validate(raw.get("pipeline"))
    except ValidationError:
        return None


def load_all(settings: Settings | None = None) -> tuple[Settings, CanaryConfig]:
    """The settings and the configuration file they name, with the environment's overrides applied."""
    settings = settings or load_settings()
    return settings, apply_settings(load_config(settings.config), settings)
