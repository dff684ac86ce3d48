"""Configuration: canary.toml (what to check) validated by pydantic, and CANARY_* environment settings."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from canary.model import Severity

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "canary.toml"

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


class CanaryConfig(StrictModel):
    timezone: str = "America/New_York"
    monitor_timeout: Duration = timedelta(seconds=60)
    alerts: AlertsConfig = AlertsConfig()
    slack: SlackConfig = SlackConfig()
    firestore: FirestoreConfig = FirestoreConfig()
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
    local_dir: Path = Path(".canary")
    gcp_project: str = "nba-props-platform"
    slack_bot_token: SecretStr | None = None
    slack_channel: str | None = None
    """Overrides [slack] channel of the configuration file (deploy.sh sets it)."""
    bigquery_endpoint: str | None = None
    run_endpoint: str | None = None
    slack_base_url: str | None = None
    heartbeat_url: str | None = None


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


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(f"environment: {describe_validation_error(error, prefix='CANARY')}") from None


def apply_settings(config: CanaryConfig, settings: Settings) -> CanaryConfig:
    """The environment's overrides of the file's values."""
    if settings.slack_channel:
        config = config.model_copy(update={"slack": config.slack.model_copy(update={"channel": settings.slack_channel})})
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
        raise ConfigError(f"{path}: {describe_validation_error(error)}") from None
    # Imported here: the registry imports every monitor module, which config itself does not need.
    from monitors.registry import validate_monitor_tables

    try:
        monitors = validate_monitor_tables(config.monitors)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    return config.model_copy(update={"monitors": monitors})
