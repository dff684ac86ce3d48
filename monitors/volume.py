"""volume: named row-count and completeness checks of a game date's partition (Soda row_count /
missing_percent, Elementary volume, on our ports). R-009 gamebook completeness is its first check.

One `[[monitors.volume.checks]]` per check: the rows of `table` for the check's game date (`today` or
`yesterday`) must number at least `min_rows`, and at least `min_rows_per_game` times the schedule's
games of that date that are not postponed or cancelled (`low_rows`); no column of `max_null_percent`
may be NULL in more than its percent of them (`nulls`). A check is judged from `due_local`
(league-local time on the run's day). One query reads every check.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from core.config import StrictModel
from core.model import CheckError, CheckResult, Finding, Judged, Severity
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from monitors.data_checks import (
    SCHEDULE_CHECK, Branch, Identifier, TableName, Window, count_branch, errors_by_check, fetch_branches, games_by_date,
    loaded_by, off_without_entries, reject_duplicates, schedule_branch,
)
from sources.warehouse import Row

NAME = "volume"
_CHECK_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class VolumeCheck(StrictModel):
    name: str = Field(pattern=_CHECK_NAME)
    table: TableName
    """dataset.table, without the dataset prefix."""
    partition_field: Identifier = "game_date"
    game_date: Literal["today", "yesterday"] = "today"
    min_rows: int | None = Field(default=None, ge=1)
    min_rows_per_game: int | None = Field(default=None, ge=1)
    max_null_percent: dict[Identifier, float] = Field(default_factory=dict)
    """{column = percent}: more NULLs than this share of the rows is a finding."""
    loaded_at_field: Identifier | None = None
    """A TIMESTAMP column: rows loaded after the judged moment are not counted (replays of history)."""
    due_local: time = time(0, 0)
    """Judged from this league-local time of the run's day (e.g. 09:00 for yesterday's box scores)."""

    @model_validator(mode="after")
    def _something_to_check(self) -> VolumeCheck:
        if self.min_rows is None and self.min_rows_per_game is None and not self.max_null_percent:
            raise ValueError("give min_rows, min_rows_per_game or max_null_percent")
        bad = next((c for c, p in self.max_null_percent.items() if not 0 <= p <= 100), None)
        if bad is not None:
            raise ValueError(f"max_null_percent.{bad}: expected a percent from 0 to 100")
        return self

    def date_for(self, today: date) -> date:
        return today - timedelta(days=1) if self.game_date == "yesterday" else today


class Config(MonitorConfig):
    checks: list[VolumeCheck] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _off_when_empty(cls, data: Any) -> Any:
        return off_without_entries(data, "checks")

    @model_validator(mode="after")
    def _unique(self) -> Config:
        reject_duplicates([c.name for c in self.checks], "checks")
        return self


def branches(config: Config, window: Window) -> list[Branch]:
    out: list[Branch] = []
    for check in config.checks:
        first, last = check.date_for(window.first_date), check.date_for(window.last_date)
        for column in [None, *check.max_null_percent]:
            out.append(count_branch(
                check=check.name, index=len(out), table=check.table, partition_field=check.partition_field,
                loaded_at_field=check.loaded_at_field, first=first, last=last, until=window.until, column=column,
            ))
    if any(c.min_rows_per_game for c in config.checks):
        out.append(schedule_branch(
            first=min(c.date_for(window.first_date) for c in config.checks), last=window.last_date,
        ))
    return out


def fetch(config: Config, sources: Sources, window: Window) -> list[Row]:
    """Row and NULL counts of every check's game date for the target dates first_date..last_date, up to `until`."""
    return fetch_branches(sources.warehouse, branches(config, window))


def judge_check(check: VolumeCheck, rows: list[Row], game_date: date, games: int | None, now: datetime) -> list[Finding]:
    mine = [r for r in loaded_by(rows, check.name, now) if r["game_date"] == game_date]
    total = sum(int(r["row_count"]) for r in mine if r["column_name"] is None)
    key = {"check": check.name, "game_date": game_date.isoformat()}
    base = {"check": check.name, "table": check.table, "game_date": game_date.isoformat(), "rows": total}
    fix = (
        f"Check the phase-2 processor that writes {check.table} for {game_date} (its scraper and processor logs) "
        f"and re-run it for the date; a schedule change belongs in the schedule's game_status."
    )
    findings = []
    needed = max(check.min_rows or 0, (check.min_rows_per_game or 0) * (games or 0))
    if total < needed:
        parts = []
        if check.min_rows:
            parts.append(f"min_rows {check.min_rows}")
        if check.min_rows_per_game:
            parts.append(f"min_rows_per_game {check.min_rows_per_game} x {games or 0} games = {check.min_rows_per_game * (games or 0)}")
        findings.append(Finding(
            monitor=NAME, severity=Severity.CRITICAL if total == 0 else Severity.WARNING,
            key={**key, "problem": "low_rows"},
            summary=f"{check.name}: {total} rows in {check.table} for {game_date}, expected at least {needed}",
            details={**base, "expected_rows": needed, "games": games, "min_rows": check.min_rows,
                     "min_rows_per_game": check.min_rows_per_game,
                     "evidence": f"{total} rows for {game_date}; {', '.join(parts)}"},
            fix=fix,
        ))
    over = []
    for column, limit in check.max_null_percent.items():
        nulls = sum(int(r["null_count"] or 0) for r in mine if r["column_name"] == column)
        if total and nulls * 100 > limit * total:
            over.append((column, nulls, round(nulls * 100 / total, 1), limit))
    if over:
        findings.append(Finding(
            monitor=NAME, severity=Severity.WARNING, key={**key, "problem": "nulls"},
            summary=f"{check.name}: {', '.join(c for c, *_ in over)} NULL in too many rows of {check.table} for {game_date}",
            details={**base, "columns": {c: {"nulls": n, "percent": p, "max_percent": m} for c, n, p, m in over},
                     "evidence": "; ".join(f"{c}: {n} of {total} rows NULL ({p}%, max {m:g}%)" for c, n, p, m in over)},
            fix=fix,
        ))
    return findings


def judge(config: Config, rows: list[Row], ctx: CheckContext) -> CheckResult:
    """Pure: every check that is due at ctx.now, for its date relative to ctx.target_date; loads after now ignored."""
    games = games_by_date(rows)
    errors = errors_by_check(rows)
    findings: list[Finding] = []
    failed: list[CheckError] = []
    judged: set[date] = set()
    for check in config.checks:
        if ctx.now < datetime.combine(ctx.target_date, check.due_local, tzinfo=ctx.zone) and ctx.game_date is None:
            continue  # not due yet today
        error = errors.get(check.name)
        if error is None and check.min_rows_per_game:
            error = errors.get(SCHEDULE_CHECK)
        if error is not None:
            failed.append(CheckError(
                target=check.name, error=f"{check.table}: {error['error']}", source=error.get("source"),
                labels={"check": check.name},
            ))
            continue
        game_date = check.date_for(ctx.target_date)
        judged.add(game_date)
        findings += judge_check(check, rows, game_date, games.get(game_date, 0), ctx.now)
    return CheckResult(findings=findings, check_errors=failed, judged=Judged.game_dates(sorted(judged)))


def window(config: Config, ctx: CheckContext) -> Window:
    """What one check at ctx needs: each check's game date (today or yesterday) through today, up to now."""
    first = min((c.date_for(ctx.target_date) for c in config.checks), default=ctx.target_date)
    return Window(first_date=first, last_date=ctx.target_date, until=ctx.now)


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    if not config.checks:
        return CheckResult(no_data=True, no_data_reason="nothing configured (no [[monitors.volume.checks]])")
    day = ctx.target_date
    return judge(config, fetch(config, sources, Window(first_date=day, last_date=day, until=ctx.now)), ctx)


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="warehouse", key_labels=frozenset({"check", "game_date", "problem"}),
    problems=("low_rows", "nulls"),
    fetch=fetch, judge=judge, window=window,
)
