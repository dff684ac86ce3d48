"""freshness: each configured table must have been loaded recently (dbt source freshness, on our ports).

One `[[monitors.freshness.tables]]` per table: the latest `loaded_at_field` among the rows of the
game dates in its window (today and `lookback_days` before) is its last load; past `warn_after` it is
stale (warning), past `error_after` stale (critical). A table `only_on_game_days` is judged only when
the schedule has games today. One query reads every table (R-007, the removed orchestrator's check).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from core.league_time import league_time
from core.config import Duration, StrictModel
from core.model import CheckError, CheckResult, Finding, Severity
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from monitors.data_checks import (
    SCHEDULE_CHECK, Branch, Identifier, TableName, Window, count_branch, errors_by_check, fetch_branches, games_by_date,
    loaded_by, off_without_entries, reject_duplicates, schedule_branch,
)
from sources.warehouse import Row

NAME = "freshness"


class FreshnessTable(StrictModel):
    table: TableName
    """dataset.table, without the dataset prefix."""
    loaded_at_field: Identifier
    """A TIMESTAMP column: when the row was loaded (e.g. processed_at)."""
    partition_field: Identifier = "game_date"
    lookback_days: int = Field(default=1, ge=0, le=14)
    """The game dates read: today and this many days before (the partition filter)."""
    warn_after: Duration | None = None
    error_after: Duration | None = None
    only_on_game_days: bool = False
    """Loaded only for games: not judged on a day the schedule has no games (postponed/cancelled do not count)."""

    @model_validator(mode="after")
    def _thresholds(self) -> FreshnessTable:
        if self.warn_after is None and self.error_after is None:
            raise ValueError("give warn_after, error_after or both")
        if self.warn_after is not None and self.error_after is not None and self.warn_after >= self.error_after:
            raise ValueError("warn_after must be shorter than error_after")
        return self


class Config(MonitorConfig):
    tables: list[FreshnessTable] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _off_when_empty(cls, data: Any) -> Any:
        return off_without_entries(data, "tables")

    @model_validator(mode="after")
    def _unique(self) -> Config:
        reject_duplicates([t.table for t in self.tables], "tables")
        return self


def branches(config: Config, window: Window) -> list[Branch]:
    out = [
        count_branch(
            check=t.table, index=index, table=t.table, partition_field=t.partition_field,
            loaded_at_field=t.loaded_at_field, first=window.first_date - timedelta(days=t.lookback_days),
            last=window.last_date, until=window.until,
        )
        for index, t in enumerate(config.tables)
    ]
    if any(t.only_on_game_days for t in config.tables):
        out.append(schedule_branch(first=window.first_date, last=window.last_date))
    return out


def fetch(config: Config, sources: Sources, window: Window) -> list[Row]:
    """Loads of every table for the target dates first_date..last_date (with each one's lookback), up to `until`."""
    return fetch_branches(sources.warehouse, branches(config, window))


def _local_and_utc(moment: datetime, zone: ZoneInfo) -> str:
    return league_time(moment, zone, weekday=False)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 10 else f"{round(hours)} h"


def judge_table(table: FreshnessTable, rows: list[Row], today: date, now: datetime, zone: ZoneInfo) -> Finding | None:
    first = today - timedelta(days=table.lookback_days)
    loads = [r for r in loaded_by(rows, table.table, now) if first <= r["game_date"] <= today]
    last = max((r["loaded_at"] for r in loads if r["loaded_at"] is not None), default=None)
    window = f"game dates {first}..{today}" if first != today else f"game date {today}"
    details: dict[str, Any] = {
        "table": table.table,
        "loaded_at_field": table.loaded_at_field,
        "window": window,
        "warn_after_hours": table.warn_after.total_seconds() / 3600 if table.warn_after else None,
        "error_after_hours": table.error_after.total_seconds() / 3600 if table.error_after else None,
    }
    fix = (
        f"Check the phase-2 processor that writes {table.table} (its scraper and processor logs for {window}) and "
        f"the phase_stalls alerts; re-run it for the date. If the table is loaded only for games, set "
        f"only_on_game_days = true in its [[monitors.freshness.tables]] entry."
    )
    if last is None:
        severity = Severity.CRITICAL if table.error_after is not None else Severity.WARNING
        return Finding(
            monitor=NAME, severity=severity, key={"table": table.table, "problem": "stale"},
            summary=f"{table.table} is stale: no rows loaded for {window}",
            details={**details, "last_loaded_at": None, "rows_in_window": 0,
                     "evidence": f"0 rows of {window} with {table.loaded_at_field} at or before {now:%Y-%m-%d %H:%M} UTC"},
            fix=fix,
        )
    age = now - last
    if table.error_after is not None and age > table.error_after:
        severity, threshold, word = Severity.CRITICAL, table.error_after, "error_after"
    elif table.warn_after is not None and age > table.warn_after:
        severity, threshold, word = Severity.WARNING, table.warn_after, "warn_after"
    else:
        return None
    first_threshold = table.warn_after if table.warn_after is not None else threshold
    return Finding(
        monitor=NAME, severity=severity, key={"table": table.table, "problem": "stale"},
        summary=f"{table.table} is stale: last loaded {_hours(age)} ago ({word} {_hours(threshold)})",
        details={
            **details,
            "last_loaded_at": last.isoformat(),
            "last_loaded_local": f"{last.astimezone(zone):%Y-%m-%d %H:%M %Z}",
            "age_minutes": round(age.total_seconds() / 60),
            "rows_in_window": sum(int(r["row_count"]) for r in loads),
            "evidence": f"last {table.loaded_at_field} {_local_and_utc(last, zone)}, {_hours(age)} ago; {word} is {_hours(threshold)}",
        },
        since=last + first_threshold,
        fix=fix,
    )


def judge(config: Config, rows: list[Row], ctx: CheckContext) -> CheckResult:
    """Pure: the tables' freshness at ctx.now for ctx.target_date, ignoring loads after ctx.now."""
    today = ctx.target_date
    games = games_by_date(rows)
    errors = errors_by_check(rows)
    findings: list[Finding] = []
    failed: list[CheckError] = []
    for table in config.tables:
        error = errors.get(table.table)
        if error is None and table.only_on_game_days:
            error = errors.get(SCHEDULE_CHECK)
        if error is not None:
            failed.append(CheckError(
                target=table.table, error=f"{table.table}: {error['error']}", source=error.get("source"),
                labels={"table": table.table},
            ))
            continue
        if table.only_on_game_days and not games.get(today):
            continue  # no games today: a table loaded for games owes nothing
        finding = judge_table(table, rows, today, ctx.now, ctx.zone)
        if finding is not None:
            findings.append(finding)
    return CheckResult(findings=findings, check_errors=failed)


def window(config: Config, ctx: CheckContext) -> Window:
    """What one check at ctx needs: the target date and each table's lookback, loaded up to now."""
    lookback = max((t.lookback_days for t in config.tables), default=0)
    return Window(first_date=ctx.target_date - timedelta(days=lookback), last_date=ctx.target_date, until=ctx.now)


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    if not config.tables:
        return CheckResult(no_data=True, no_data_reason="nothing configured (no [[monitors.freshness.tables]])")
    day = ctx.target_date
    return judge(config, fetch(config, sources, Window(first_date=day, last_date=day, until=ctx.now)), ctx)


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="warehouse", key_labels=frozenset({"table", "problem"}),
    problems=("stale",),
    fetch=fetch, judge=judge, window=window,
)
