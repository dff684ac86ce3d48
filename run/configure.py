"""Loading configuration: canary.toml validated as a whole (each monitor's table by its own model,
checked against the pipeline's topology) and the CANARY_* environment settings."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.config import (
    CanaryConfig, ConfigError, Pipeline, Settings, SlackConfig, describe_settings_error, describe_validation_error,
    phase_name_problems,
)
from monitors.registry import validate_monitor_tables


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(f"environment: {describe_settings_error(error)}") from None


def _channel_id(channel: str) -> str:
    return channel.strip().lstrip("#").lower()


def apply_environment(config: CanaryConfig, settings: Settings) -> CanaryConfig:
    """CANARY_ENVIRONMENT naming another environment than the file's: the file's Slack channels (and its
    per-severity routing) belong to the file's environment, so this one posts only to its own channel,
    CANARY_SLACK_CHANNEL, which must be none of them (on the gcp backend; the local one posts to a file)."""
    environment = settings.environment
    if environment is None or environment == config.environment:
        return config
    theirs = {config.slack.channel, *config.slack.channels.values()}
    if settings.backend == "gcp":
        if not settings.slack_channel:
            raise ConfigError(
                f"environment: CANARY_ENVIRONMENT={environment} needs its own Slack channel in CANARY_SLACK_CHANNEL "
                f"(the channels of {settings.config.name} belong to {config.environment}: {', '.join(sorted(theirs))})"
            )
        if _channel_id(settings.slack_channel) in {_channel_id(c) for c in theirs}:
            raise ConfigError(
                f"environment: CANARY_SLACK_CHANNEL={settings.slack_channel} is a channel of {config.environment} "
                f"({settings.config.name} [slack]); {environment} needs a channel of its own"
            )
    update: dict[str, object] = {"environment": environment, "slack": SlackConfig(channel=settings.slack_channel or config.slack.channel)}
    if config.links.canary_url is not None:
        update["links"] = config.links.model_copy(update={"canary_url": None})  # the file's URL is its environment's function
    return config.model_copy(update=update)


def apply_settings(config: CanaryConfig, settings: Settings) -> CanaryConfig:
    """The environment's overrides of the file's values."""
    config = apply_environment(config, settings)
    if settings.function and settings.function != config.links.canary_service:
        # This deployment's own function: its logs and retry URL (the file's canary_url names another one).
        links = config.links.model_copy(update={"canary_service": settings.function, "canary_url": None})
        update: dict[str, object] = {"links": links}
        jobs = config.monitors.get("scheduler_jobs")
        if getattr(jobs, "canary_job", None) == config.links.canary_service:
            # deploy.sh names the canary's Scheduler job after its function (--job defaults to --function): the
            # file's job is the file's deployment's, so another deployment watches its own.
            update["monitors"] = {**config.monitors, "scheduler_jobs": jobs.model_copy(update={"canary_job": settings.function})}
        config = config.model_copy(update=update)
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
    except RecursionError:  # tomllib recurses once per nesting level: a few hundred [ or { exhaust the stack
        raise ConfigError(f"{path}: not valid TOML (arrays or tables nested too deeply)") from None
    try:
        config, monitors = _validate_all(raw, path=path)
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply to validate") from None
    return config.model_copy(update={"monitors": monitors})


def _validate_all(raw: dict[str, Any], *, path: Path) -> tuple[CanaryConfig, dict[str, Any]]:
    # Every problem of the file at once (the top level, the pipeline, each monitor's table), not one per attempt.
    problems: list[str] = []
    config: CanaryConfig | None = None
    try:
        config = CanaryConfig.model_validate(raw)
    except ValidationError as error:
        problems.append(describe_validation_error(error, raw=raw, model=CanaryConfig))
        problems += [f"pipeline.{p}" for p in _names_of_a_broken_pipeline(raw, error)]
    tables = config.monitors if config is not None else raw.get("monitors", {})
    monitors: dict[str, Any] = {}
    if isinstance(tables, dict):
        try:
            monitors = validate_monitor_tables(tables, pipeline=config.pipeline if config is not None else _valid_pipeline(raw))
        except ConfigError as error:
            problems.append(str(error))
    if problems or config is None:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return config, monitors


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
