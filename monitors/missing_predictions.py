"""missing_predictions: today's games must have active predictions by the time they are due.

Due 3 hours before the earliest known game start, or at 13:00 league-local time when no start time is
known. One query joins the schedule with the predictions of one system for a range of game dates.
"""

from __future__ import annotations

import shlex
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from core import monitor_names
from core.config import Duration, Pipeline, not_a_job_command
from core.model import CheckResult, Finding, Judged, Severity
from monitors.base import CheckContext, FetchWindow, MonitorConfig, MonitorSpec, Sources
from monitors.scheduler_jobs import confirm_jobs, with_job_fix
from sources.tables import PREDICTIONS, SCHEDULE, prefixed_table
from sources.warehouse import Row

NAME = monitor_names.MISSING_PREDICTIONS

# One row per scheduled game and moment its active predictions were written (a game with none: one row,
# created_at NULL), so judge can count what existed at any moment of the window.
QUERY = f"""
WITH games AS (
  SELECT game_date AS game_date, game_id AS game_id, MIN(game_start_utc) AS game_start_utc
  FROM {SCHEDULE}
  WHERE game_date BETWEEN @first_date AND @last_date
    AND COALESCE(game_status, 'scheduled') NOT IN ('postponed', 'cancelled')
  GROUP BY game_date, game_id
),
predictions AS (
  SELECT game_date AS game_date, game_id AS game_id, created_at AS created_at, COUNT(*) AS prediction_count
  FROM {PREDICTIONS}
  WHERE game_date BETWEEN @first_date AND @last_date
    AND system_id = @system_id
    AND (is_active IS NULL OR is_active)
    AND created_at <= @until
  GROUP BY game_date, game_id, created_at
)
SELECT
  games.game_date AS game_date,
  games.game_id AS game_id,
  games.game_start_utc AS game_start_utc,
  predictions.created_at AS created_at,
  COALESCE(predictions.prediction_count, 0) AS prediction_count
FROM games
LEFT JOIN predictions ON predictions.game_id = games.game_id AND predictions.game_date = games.game_date
ORDER BY game_date, game_id
"""


class Config(MonitorConfig):
    system_id: str
    lead_time: Duration = timedelta(hours=3)
    """Predictions are due this long before the earliest game start."""
    fallback_due_local: time = time(13, 0)
    """When no game has a known start time, predictions are due at this league-local time."""
    max_games_listed: int = Field(default=15, ge=1)
    rerun_command: str | None = None
    """The command that re-runs predictions (the alert's fix); `{game_date}` becomes the quoted date. A Cloud
    Scheduler job is named in [pipeline] rerun_job instead (the fix is built from it and confirmed)."""

    @field_validator("rerun_command")
    @classmethod
    def _runs_no_job(cls, value: str | None) -> str | None:
        return not_a_job_command(value, key="[pipeline] rerun_job")

    def check_against(self, pipeline: Pipeline) -> None:
        if self.rerun_command and pipeline.rerun_job:
            raise ValueError("rerun_command: [pipeline] rerun_job is set and the fix runs it; remove one of them")

    def rerun(self, game_date: date, *, dataset_prefix: str = "") -> str:
        """The fix: the configured re-run command, or a query that shows what is there (in the datasets read)."""
        if self.rerun_command:
            return self.rerun_command.replace("{game_date}", shlex.quote(game_date.isoformat()))
        sql = (
            f"SELECT game_id, COUNT(*) AS predictions FROM {prefixed_table(PREDICTIONS, dataset_prefix)} WHERE game_date = '{game_date}' "
            f"AND system_id = '{self.system_id}' GROUP BY game_id"
        )
        return f"bq query --use_legacy_sql=false {shlex.quote(sql)}"


def due_at(config: Config, game_date: date, starts: list[datetime], zone: ZoneInfo) -> datetime:
    if starts:
        return min(starts) - config.lead_time
    return datetime.combine(game_date, config.fallback_due_local, tzinfo=zone)


def judge_games(
    config: Config, game_date: date, rows: list[Row], now: datetime, zone: ZoneInfo, *, dataset_prefix: str = ""
) -> CheckResult:
    """The games of `game_date` and their active predictions written up to `now`."""
    starts: dict[str, datetime | None] = {}
    counts: dict[str, int] = {}
    for row in rows:
        if row["game_date"] != game_date:
            continue
        game_id = row["game_id"]
        starts[game_id] = row["game_start_utc"]
        written = row["created_at"] is not None and row["created_at"] <= now
        counts[game_id] = counts.get(game_id, 0) + (int(row["prediction_count"]) if written else 0)
    if not starts:
        return CheckResult(no_data=True, no_data_reason=f"no games scheduled on {game_date}")
    games = sorted(starts)
    due = due_at(config, game_date, [start for start in starts.values() if start is not None], zone)
    if now < due:
        return CheckResult()
    missing = [game_id for game_id in games if counts[game_id] == 0]
    if not missing:
        return CheckResult()
    total_predictions = sum(counts.values())
    key_base = {"game_date": game_date.isoformat(), "system_id": config.system_id}
    details = {
        "game_date": game_date.isoformat(),
        "system_id": config.system_id,
        "games_scheduled": len(games),
        "games_without_predictions": len(missing),
        "missing_games": missing[: config.max_games_listed],
        "active_predictions": total_predictions,
        "due_at": due.isoformat(),
        "minutes_past_due": round((now - due).total_seconds() / 60),
        "check_first": "a phase_stalls alert (stalled or incomplete) of any phase before predictions, then the prediction logs",
        "table": PREDICTIONS,
    }
    if len(missing) == len(games):
        problem, severity = "none", Severity.CRITICAL
        summary = f"No active {config.system_id} predictions for {game_date} ({len(games)} games scheduled)"
        evidence = f"0 active predictions for {len(games)} scheduled games"
    else:
        problem, severity = "partial", Severity.WARNING
        summary = f"{len(missing)} of {len(games)} games on {game_date} have no active {config.system_id} predictions"
        evidence = f"{total_predictions} active predictions, none for {', '.join(missing[: config.max_games_listed])}"
    finding = Finding(
        monitor=NAME, severity=severity, key={**key_base, "problem": problem}, summary=summary,
        details={**details, "evidence": evidence}, since=due, fix=config.rerun(game_date, dataset_prefix=dataset_prefix),
    )
    return CheckResult(findings=[finding])


def window(config: Config, ctx: CheckContext) -> FetchWindow:
    """Today's (or the operator's) game date, as written up to now."""
    return FetchWindow(first_date=ctx.target_date, last_date=ctx.target_date, until=ctx.now)


def fetch(config: Config, sources: Sources, span: FetchWindow) -> list[Row]:
    """The window's games and when their active predictions were written: one query however long the window."""
    return sources.warehouse.query(
        QUERY,
        {"first_date": span.first_date, "last_date": span.last_date, "system_id": config.system_id, "until": span.until},
    )


def judge(config: Config, rows: list[Row], ctx: CheckContext) -> CheckResult:
    """The target game date at ctx.now."""
    game_date = ctx.target_date
    result = judge_games(config, game_date, rows, ctx.now, ctx.zone, dataset_prefix=ctx.dataset_prefix)
    # The phase that writes predictions: its alert links the logs of the service that starts it.
    phase = ctx.pipeline.predictions_phase
    findings = [
        with_job_fix(f.model_copy(update={"details": {**f.details, "phase": phase}}), ctx.pipeline.rerun_job, ctx.pipeline)
        for f in result.findings
    ]
    return result.model_copy(update={"findings": findings, "judged": Judged.game_dates([game_date])})


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    result = judge(config, fetch(config, sources, window(config, ctx)), ctx)
    # The re-run job is confirmed now (a replay cannot: Cloud Scheduler keeps no history).
    return result.model_copy(update={"findings": confirm_jobs(result.findings, sources, ctx.pipeline)})


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="warehouse", fetch=fetch, judge=judge, window=window,
    key_labels=frozenset({"game_date", "system_id", "problem"}),
    problems=("none", "partial"),
)
