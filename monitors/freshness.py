"""freshness: each configured table must have been loaded recently (dbt source freshness, on our ports).

One `[[monitors.freshness.tables]]` per table. A table is judged against when its data is due, never
"empty now": each day owes the partition of `game_date` (today's, or yesterday's for box scores that
load the morning after) from `due_local`. The partition owed is the latest one due by now within the
window (today, `lookback_days` before and `lookahead_days` after); it is loaded when a row of it or of a
later date was loaded on or after its date (a schedule reloaded every day must reload, not merely hold
old rows). Not loaded, the table's age runs from its newest load in the window or from the due moment,
whichever is later: past `warn_after` it is stale (warning), past `error_after` (critical).

A table `only_on_game_days` owes only the partitions of dates with games (postponed/cancelled do not
count); any other table owes one every day while the schedule has games from that partition through
`lookahead_days` after today (the off-season owes nothing). One query reads every table (R-007).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Literal
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
    lookahead_days: int = Field(default=0, ge=0, le=14)
    """... and this many days after today (a table loaded ahead of its games, such as the schedule)."""
    game_date: Literal["today", "yesterday"] = "today"
    """The partition a day owes: today's, or yesterday's (box scores load the morning after the games)."""
    due_local: time = time(0, 0)
    """League-local time of the day from which it owes that partition (e.g. 09:00 for yesterday's box scores)."""
    warn_after: Duration | None = None
    """How long after the due moment (or the newest load, if later) an unloaded partition may stay missing."""
    error_after: Duration | None = None
    only_on_game_days: bool = False
    """Loaded only for games: owes nothing for a date the schedule has no games (postponed/cancelled do not count)."""

    @model_validator(mode="after")
    def _thresholds(self) -> FreshnessTable:
        if self.warn_after is None and self.error_after is None:
            raise ValueError("give warn_after, error_after or both")
        if self.warn_after is not None and self.error_after is not None and self.warn_after >= self.error_after:
            raise ValueError("warn_after must be shorter than error_after")
        if self.game_date == "yesterday" and self.lookback_days < 1:
            raise ValueError("game_date = \"yesterday\" needs lookback_days of at least 1 (the window must hold yesterday)")
        return self

    def owed_on(self, day: date) -> date:
        """The partition the day `day` owes."""
        return day - timedelta(days=1) if self.game_date == "yesterday" else day


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
            last=window.last_date + timedelta(days=t.lookahead_days), until=window.until,
        )
        for index, t in enumerate(config.tables)
    ]
    if config.tables:
        first, last = _span(config)
        out.append(schedule_branch(first=window.first_date - first, last=window.last_date + last))
    return out


def _span(config: Config) -> tuple[timedelta, timedelta]:
    """How far before and after a target date the tables read."""
    return (
        timedelta(days=max((t.lookback_days for t in config.tables), default=0)),
        timedelta(days=max((t.lookahead_days for t in config.tables), default=0)),
    )


def fetch(config: Config, sources: Sources, window: Window) -> list[Row]:
    """Loads of every table for the target dates first_date..last_date (with each one's lookback), up to `until`."""
    return fetch_branches(sources.warehouse, branches(config, window))


def _local_and_utc(moment: datetime, zone: ZoneInfo) -> str:
    return league_time(moment, zone, weekday=False)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 10 else f"{round(hours)} h"


def owed(
    table: FreshnessTable, games: dict[date, int], today: date, now: datetime, zone: ZoneInfo,
) -> tuple[date, datetime] | None:
    """The partition owed at `now` (the latest one due within the window) and when it fell due; None: nothing owed."""
    oldest = today - timedelta(days=table.lookback_days)
    horizon = today + timedelta(days=table.lookahead_days)
    day = today
    while table.owed_on(day) >= oldest:
        partition, due = table.owed_on(day), datetime.combine(day, table.due_local, tzinfo=zone)
        if due <= now:
            if table.only_on_game_days:
                if games.get(partition):
                    return partition, due
            elif any(games.get(partition + timedelta(days=n)) for n in range((horizon - partition).days + 1)):
                return partition, due
        day -= timedelta(days=1)
    return None


def judge_table(
    table: FreshnessTable, rows: list[Row], games: dict[date, int], today: date, now: datetime, zone: ZoneInfo,
) -> Finding | None:
    """None when nothing is owed, the owed partition is loaded, or it is missing for less than warn_after."""
    due = owed(table, games, today, now, zone)
    if due is None:
        return None
    partition, due_at = due
    first, last = today - timedelta(days=table.lookback_days), today + timedelta(days=table.lookahead_days)
    loads = [
        r for r in loaded_by(rows, table.table, now) if first <= r["game_date"] <= last and r["loaded_at"] is not None
    ]
    start_of_partition = datetime.combine(partition, time(0, 0), tzinfo=zone)
    if any(r["game_date"] >= partition and r["loaded_at"] >= start_of_partition for r in loads):
        return None
    newest = max((r["loaded_at"] for r in loads), default=None)
    reference = max(due_at, newest) if newest is not None else due_at
    age = now - reference
    if table.error_after is not None and age > table.error_after:
        severity, threshold, word = Severity.CRITICAL, table.error_after, "error_after"
    elif table.warn_after is not None and age > table.warn_after:
        severity, threshold, word = Severity.WARNING, table.warn_after, "warn_after"
    else:
        return None
    window = f"game dates {first}..{last}" if first != last else f"game date {first}"
    from_load = newest is not None and newest >= due_at
    since_what = f"its newest load {_local_and_utc(newest, zone)}" if from_load else f"due {_local_and_utc(due_at, zone)}"
    first_threshold = table.warn_after if table.warn_after is not None else threshold
    return Finding(
        monitor=NAME, severity=severity, key={"table": table.table, "problem": "stale"},
        summary=(
            f"{table.table} is stale: game date {partition} not loaded {_hours(age)} after "
            f"{'its newest load' if from_load else 'it was due'} ({word} {_hours(threshold)})"
        ),
        details={
            "table": table.table,
            "loaded_at_field": table.loaded_at_field,
            "window": window,
            "partition": partition.isoformat(),
            "due_at": due_at.isoformat(),
            "due_local": f"{due_at.astimezone(zone):%Y-%m-%d %H:%M %Z}",
            "warn_after_hours": table.warn_after.total_seconds() / 3600 if table.warn_after else None,
            "error_after_hours": table.error_after.total_seconds() / 3600 if table.error_after else None,
            "last_loaded_at": newest.isoformat() if newest is not None else None,
            "last_loaded_local": f"{newest.astimezone(zone):%Y-%m-%d %H:%M %Z}" if newest is not None else None,
            "age_minutes": round(age.total_seconds() / 60),
            "rows_in_window": sum(int(r["row_count"]) for r in loads),
            "evidence": (
                f"no row of game date {partition} or later loaded since {partition}; {_hours(age)} since {since_what}; "
                f"{word} is {_hours(threshold)}"
            ),
        },
        since=reference + first_threshold,
        fix=(
            f"Check the phase-2 processor that writes {table.table} (its scraper and processor logs for {partition}) "
            f"and the phase_stalls alerts; re-run it for the date. If the table is loaded only for games, set "
            f"only_on_game_days = true in its [[monitors.freshness.tables]] entry."
        ),
    )


def judge(config: Config, rows: list[Row], ctx: CheckContext) -> CheckResult:
    """Pure: the tables' freshness at ctx.now for ctx.target_date, ignoring loads after ctx.now."""
    today = ctx.target_date
    games = games_by_date(rows)
    errors = errors_by_check(rows)
    findings: list[Finding] = []
    failed: list[CheckError] = []
    for table in config.tables:
        error = errors.get(table.table) or errors.get(SCHEDULE_CHECK)
        if error is not None:
            failed.append(CheckError(
                target=table.table, error=f"{table.table}: {error['error']}", source=error.get("source"),
                labels={"table": table.table},
            ))
            continue
        finding = judge_table(table, rows, games, today, ctx.now, ctx.zone)
        if finding is not None:
            findings.append(finding)
    return CheckResult(findings=findings, check_errors=failed)


def window(config: Config, ctx: CheckContext) -> Window:
    """What one check at ctx needs: the target date with each table's lookback and lookahead, loaded up to now."""
    before, after = _span(config)
    return Window(first_date=ctx.target_date - before, last_date=ctx.target_date + after, until=ctx.now)


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
