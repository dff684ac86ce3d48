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
from sources.warehouse import Warehouse


class MonitorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True

    def check_against(self, pipeline: Pipeline) -> None:
        """Raise ValueError naming the key when this configuration names what the pipeline does not have."""


@dataclass(frozen=True)
class Sources:
    warehouse: Warehouse
    iam: IamPolicies


@dataclass(frozen=True)
class CheckContext:
    """The run's clock and calendar, read once at the entry point."""

    now: datetime
    today: date
    zone: ZoneInfo
    pipeline: Pipeline
    game_date: date | None = None
    """An operator's explicit game date; date-based monitors check it instead of today."""

    @property
    def target_date(self) -> date:
        return self.game_date or self.today


ConfigT = TypeVar("ConfigT", bound=MonitorConfig)


@dataclass(frozen=True)
class MonitorSpec(Generic[ConfigT]):
    name: str
    config_model: type[ConfigT]
    check: Callable[[ConfigT, Sources, CheckContext], CheckResult]
    reads: str
    """The port it reads ('warehouse' or 'iam'): a failure of that source errors this monitor only."""
    key_labels: frozenset[str] = frozenset()
    """Every label its findings' keys can carry: what a silence may match on (tests hold checks to it)."""
