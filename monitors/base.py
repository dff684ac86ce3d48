"""What every monitor is: a name, a validated config, the sources it reads and a check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from core.config import Pipeline
from core.model import CheckResult
from sources.iam import IamPolicies
from sources.audit import AuditLog
from sources.push import PushChain
from sources.scheduler import SchedulerJobs
from sources.warehouse import Row, Warehouse


def check_services(services: list[str] | None, pipeline: Pipeline, *, enabled: bool) -> None:
    """A monitor's optional `services` list: None checks every service of [pipeline]; an empty list (on an
    enabled monitor) would check nothing, and a name [pipeline] does not have would check a wrong thing."""
    if enabled and services is not None and not services:
        raise ValueError("services: empty, so nothing would be checked (leave it out to check every service of [pipeline])")
    if enabled and services is None and not pipeline.services:
        raise ValueError(
            "services: no service to check: no [[pipeline.transitions]] entry names a `service` (give the transitions their "
            "services, or set enabled = false)"
        )
    for index, service in enumerate(services or []):
        if service not in pipeline.services:
            raise ValueError(f"services[{index}]: unknown service {service!r} (known: {', '.join(pipeline.services)})")


class MonitorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True

    def check_against(self, pipeline: Pipeline) -> None:
        """Raise ValueError naming the key when this configuration names what the pipeline does not have."""


@dataclass(frozen=True)
class Sources:
    warehouse: Warehouse
    iam: IamPolicies
    push: PushChain
    scheduler: SchedulerJobs | None = None
    """Cloud Scheduler's jobs (scheduler_jobs; the jobs the fixes run). None: not wired (a test that needs none)."""
    audit: AuditLog | None = None
    """The services' Admin Activity audit log ("who changed it"). None: not wired; alerts say it could not be read."""


@dataclass(frozen=True)
class CheckContext:
    """The run's clock and calendar, read once at the entry point."""

    now: datetime
    today: date
    zone: ZoneInfo
    pipeline: Pipeline
    game_date: date | None = None
    """An operator's explicit game date; date-based monitors check it instead of today."""
    dataset_prefix: str = ""
    """The datasets' prefix the warehouse reads (staging): a fix that queries a table names the same one."""

    @property
    def target_date(self) -> date:
        return self.game_date or self.today


@dataclass(frozen=True)
class FetchWindow:
    """What one fetch reads: rows of game dates first_date..last_date written up to `until`."""

    first_date: date
    last_date: date
    until: datetime

    def covering(self, other: FetchWindow) -> FetchWindow:
        """The smallest window holding both."""
        return FetchWindow(
            first_date=min(self.first_date, other.first_date),
            last_date=max(self.last_date, other.last_date),
            until=max(self.until, other.until),
        )


ConfigT = TypeVar("ConfigT", bound=MonitorConfig)


@dataclass(frozen=True)
class MonitorSpec(Generic[ConfigT]):
    name: str
    config_model: type[ConfigT]
    check: Callable[[ConfigT, Sources, CheckContext], CheckResult]
    reads: str
    """The port it reads ('warehouse', 'iam', 'push' or 'scheduler'): a failure of that source errors this monitor only."""
    fetch: Callable[[ConfigT, Sources, FetchWindow], list[Row]] | None = None
    """One query for a whole window; every row carries its `game_date` (a replay slices rows by it)."""
    judge: Callable[[ConfigT, list[Row], CheckContext], CheckResult] | None = None
    """Pure: the check at ctx.now from fetched rows, ignoring rows written after ctx.now."""
    window: Callable[[ConfigT, CheckContext], FetchWindow] | None = None
    """The window one check at ctx needs."""
    no_history: str | None = None
    """Why this monitor cannot be replayed (its source keeps no history); None when it has fetch/judge."""

    key_labels: frozenset[str] = frozenset()
    """Every label its findings' keys can carry: what a silence may match on (tests hold checks to it)."""
    problems: tuple[str, ...] = ()
    """Every `problem` its findings can carry; each has its runbook entry in docs/runbook.md (tests hold both)."""

    @property
    def replayable(self) -> bool:
        return self.fetch is not None and self.judge is not None and self.window is not None

