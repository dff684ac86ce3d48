"""Configuration: canary.toml (what to check) validated by pydantic, and CANARY_* environment settings."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.model import Severity
from core.secrets import secret_values

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The folder of main.py: canary.toml and the local backend's `.canary` are found here by default,
whatever the working directory."""
DEFAULT_CONFIG_PATH = PROJECT_DIR / "canary.toml"
DEFAULT_LOCAL_DIR = PROJECT_DIR / ".canary"
LOCAL_DATA_FILES = ("warehouse.duckdb", "iam_policies.json")
"""What the local backend reads; a folder with neither has nothing to check (run `main.py demo`)."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """A configuration problem, worded for the person who has to fix it."""


def parse_duration(value: Any) -> Any:
    """Accept '90s', '30m', '2h', '1d' (and timedelta); pydantic reports anything else."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"expected a duration such as '30m', '2h' or '1d', got {value!r}")
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if isinstance(value, timedelta):
        return value
    raise ValueError(f"expected a duration such as '30m', '2h' or '1d', got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepeatIntervals(StrictModel):
    critical: Duration = timedelta(hours=2)
    warning: Duration = timedelta(hours=12)
    info: Duration = timedelta(hours=24)

    def for_severity(self, severity: Severity) -> timedelta:
        return getattr(self, severity.value)


class AlertsConfig(StrictModel):
    repeat_after: RepeatIntervals = RepeatIntervals()
    group_after: int = Field(default=5, ge=1)
    """More notifications than this in one run go out as one summary message."""
    resolved_retention: Duration = timedelta(days=30)
    """How long a resolved incident's record is kept (Firestore TTL on expire_at)."""
    claim_lease: Duration = timedelta(minutes=5)
    """A claim older than this belongs to a sender that died; another run may take it over."""


class SlackConfig(StrictModel):
    channel: str = "#nba-pipeline-alerts"
    channels: dict[Severity, str] = Field(default_factory=dict)
    """Optional per-severity routing; a severity not listed goes to `channel`."""

    def channel_for(self, severity: Severity) -> str:
        return self.channels.get(severity, self.channel)


class FirestoreConfig(StrictModel):
    alerts_collection: str = "canary_alerts"
    silences_collection: str = "canary_silences"


class Transition(StrictModel):
    """One hand-off of the pipeline: `from` phase complete -> `to` phase starts, within `max_delay`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_phase: str = Field(alias="from")
    to_phase: str = Field(alias="to")
    service: str | None = None
    """The Cloud Run service whose Pub/Sub push starts the downstream phase (an orchestrator, or the
    phase-3 trigger), when one does; its IAM and push problems explain this transition's stalls."""
    min_processors: int | None = Field(default=None, ge=1)
    """The upstream phase is complete when this many distinct processors succeeded..."""
    required_processors: list[str] | None = None
    """...or when every one of these did (give exactly one of the two)."""
    max_delay: Duration
    """How long after the upstream phase completed the downstream phase may take to start."""
    next_step: str | None = None
    """What to run by hand to push the downstream phase (shown in the alert's fix)."""

    @model_validator(mode="after")
    def _one_completeness_rule(self) -> Transition:
        if (self.min_processors is None) == (not self.required_processors):
            raise ValueError("give exactly one of min_processors or required_processors")
        return self

    @property
    def label(self) -> str:
        return f"{self.from_phase}->{self.to_phase}"


class Pipeline(StrictModel):
    """The pipeline's shape, stated once: its phases in order, the hand-offs between them, and the
    service that starts each downstream phase. Monitors and the dependency rules read it from here."""

    project: str
    region: str
    phases: list[str] = Field(min_length=2)
    predictions_phase: str
    """The phase that writes player_prop_predictions: a stall at or before it explains missing predictions."""
    transitions: list[Transition] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_exist(self) -> Pipeline:
        known = ", ".join(self.phases)
        if len(set(self.phases)) != len(self.phases):
            raise ValueError(f"phases: a phase is listed twice ({known})")
        if self.predictions_phase not in self.phases:
            raise ValueError(f"predictions_phase: unknown phase {self.predictions_phase!r} (known: {known})")
        seen: set[str] = set()
        for index, transition in enumerate(self.transitions):
            for side, phase in (("from", transition.from_phase), ("to", transition.to_phase)):
                if phase not in self.phases:
                    raise ValueError(f"transitions[{index}].{side}: unknown phase {phase!r} (known: {known})")
            if self.phases.index(transition.from_phase) >= self.phases.index(transition.to_phase):
                raise ValueError(f"transitions[{index}]: {transition.label} runs against the order of phases ({known})")
            if transition.label in seen:
                raise ValueError(f"transitions[{index}]: {transition.label} is listed twice")
            seen.add(transition.label)
        return self

    @property
    def services(self) -> list[str]:
        """Every service that starts a phase, in pipeline order."""
        return list(dict.fromkeys(t.service for t in self.transitions if t.service))

    def transitions_started_by(self, service: str) -> list[Transition]:
        return [t for t in self.transitions if t.service == service]

    def position(self, phase: str) -> int:
        return self.phases.index(phase)


class CanaryConfig(StrictModel):
    timezone: str = "America/New_York"
    monitor_timeout: Duration = timedelta(seconds=60)
    alerts: AlertsConfig = AlertsConfig()
    slack: SlackConfig = SlackConfig()
    firestore: FirestoreConfig = FirestoreConfig()
    pipeline: Pipeline
    monitors: dict[str, Any] = Field(default_factory=dict)
    """Per-monitor tables; load_config validates each with its monitor's own Config model."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as 'America/New_York')")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Settings(BaseSettings):
    """Environment settings (prefix CANARY_); endpoints are for local servers and unset in production."""

    model_config = SettingsConfigDict(env_prefix="CANARY_", extra="ignore", frozen=True)

    backend: Literal["local", "gcp"] = "local"
    config: Path = DEFAULT_CONFIG_PATH
    local_dir: Path = DEFAULT_LOCAL_DIR
    """The local backend's folder: `.canary` beside main.py unless CANARY_LOCAL_DIR says otherwise."""
    gcp_project: str = "nba-props-platform"
    slack_bot_token: SecretStr | None = None
    slack_channel: str | None = None
    """Overrides [slack] channel of the configuration file (deploy.sh sets it)."""
    bigquery_endpoint: str | None = None
    run_endpoint: str | None = None
    slack_base_url: str | None = None
    heartbeat_url: str | None = None

    def missing_local_data(self) -> str | None:
        """Why a local run would have nothing to read (no folder, or neither source file in it), or None."""
        if self.backend != "local":
            return None
        if not self.local_dir.is_dir():
            return f"no local data folder {self.local_dir}"
        if not any((self.local_dir / name).exists() for name in LOCAL_DATA_FILES):
            return f"the local data folder {self.local_dir} has neither {' nor '.join(LOCAL_DATA_FILES)}"
        return None

    def secrets(self) -> list[str]:
        """Every value of these settings that must never be shown (the token, the heartbeat URL)."""
        token = self.slack_bot_token.get_secret_value() if self.slack_bot_token is not None else None
        return secret_values(token, self.heartbeat_url)


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem: the key and what was expected."""
    lines = []
    for problem in error.errors():
        where = _location(tuple(problem["loc"]))
        if prefix:
            where = f"{prefix}.{where}" if where != "(top level)" else prefix
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{where}: {message}")
    return "; ".join(lines)
