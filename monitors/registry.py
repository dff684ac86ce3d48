"""Every monitor, registered by name. Adding a monitor = a module with a SPEC + one line here."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from monitors import freshness, missing_predictions, orchestrator_iam, phase_stalls, push_delivery, scheduler_jobs, volume
from core.config import ConfigError, Pipeline, describe_validation_error
from monitors.base import MonitorConfig, MonitorSpec

MONITORS: dict[str, MonitorSpec[Any]] = {
    spec.name: spec
    for spec in (
        orchestrator_iam.SPEC, push_delivery.SPEC, phase_stalls.SPEC, missing_predictions.SPEC, freshness.SPEC, volume.SPEC,
        scheduler_jobs.SPEC,
    )
}


def known_names() -> str:
    return ", ".join(MONITORS)


def validate_monitor_tables(tables: dict[str, Any], *, pipeline: Pipeline | None) -> dict[str, MonitorConfig]:
    """Validate each [monitors.NAME] table with its monitor's Config, then against the pipeline's topology
    (skipped when the pipeline itself is invalid: `pipeline` None). Every problem is reported at once."""
    problems = [f"monitors.{name}: unknown monitor (known: {known_names()})" for name in sorted(set(tables) - set(MONITORS))]
    configs: dict[str, MonitorConfig] = {}
    for name, spec in MONITORS.items():
        table = tables.get(name, {})
        if not isinstance(table, dict):
            problems.append(f"monitors.{name}: expected a table")
            continue
        try:
            configs[name] = spec.config_model.model_validate(table)
        except ValidationError as error:
            problems.append(describe_validation_error(
                error, prefix=f"monitors.{name}", raw=table, model=spec.config_model))
            continue
        if pipeline is None:
            continue
        try:
            configs[name].check_against(pipeline)
        except ValueError as error:
            problems.append(f"monitors.{name}.{error}")
    if problems:
        raise ConfigError("; ".join(problems))
    return configs
