"""missing_predictions: today's games must have active predictions by the time they are due.

Due 3 hours before the earliest known game start, or at 13:00 league-local time when no start time is
known. One query joins the schedule with the predictions of one system for one game date.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field

from core.config import Duration
from core.model import CheckResult, Finding, Severity
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from sources.tables import PREDICTIONS, SCHEDULE
from sources.warehouse import Row

NAME = "missing_predictions"

QUERY = f"""
WITH games AS (
  SELECT game_id AS game_id, MIN(game_start_utc) AS game_start_utc
  FROM {SCHEDULE}
  WHERE game_date = @game_date
    AND COALESCE(game_status, 'scheduled') NOT IN ('postponed', 'cancelled')
  GROUP BY game_id
),
predictions AS (
  SELECT game_id AS game_id, COUNT(*) AS prediction_count, COUNT(DISTINCT player_lookup) AS player_count
  FROM {PREDICTIONS}
  WHERE game_date = @game_date
    AND system_id = @system_id
    AND (is_active IS NULL OR is_active)
    AND created_at <= @now
  GROUP BY game_id
)
SELECT
  games.game_id AS game_id,
  games.game_start_utc AS game_start_utc,
  COALESCE(predictions.prediction_count, 0) AS prediction_count,
  COALESCE(predictions.player_count, 0) AS player_count
FROM games
LEFT JOIN predictions ON predictions.game_id = games.game_id
ORDER BY game_id
"""


class Config(MonitorConfig):
    system_id: str
    lead_time: Duration = timedelta(hours=3)
    """Predictions are due this long before the earliest game start."""
    fallback_due_local: time = time(13, 0)
    """When no game has a known start time, predictions are due at this league-local time."""
    max_games_listed: int = Field(default=15, ge=1)


def due_at(config: Config, game_date: date, starts: list[datetime], zone: ZoneInfo) -> datetime:
    if starts:
        return min(starts) - config.lead_time
    return datetime.combine(game_date, config.fallback_due_local, tzinfo=zone)


def judge_games(config: Config, game_date: date, rows: list[Row], now: datetime, zone: ZoneInfo) -> CheckResult:
    if not rows:
        return CheckResult(no_data=True, no_data_reason=f"no games scheduled on {game_date}")
    due = due_at(config, game_date, [r["game_start_utc"] for r in rows if r["game_start_utc"] is not None], zone)
    if now < due:
        return CheckResult()
    missing = [r["game_id"] for r in rows if int(r["prediction_count"]) == 0]
    if not missing:
        return CheckResult()
    total_predictions = sum(int(r["prediction_count"]) for r in rows)
    key_base = {"game_date": game_date.isoformat(), "system_id": config.system_id}
    details = {
        "game_date": game_date.isoformat(),
        "system_id": config.system_id,
        "games_scheduled": len(rows),
        "games_without_predictions": len(missing),
        "missing_games": missing[: config.max_games_listed],
        "active_predictions": total_predictions,
        "due_at": due.isoformat(),
        "minutes_past_due": round((now - due).total_seconds() / 60),
    }
    fix = (
        f"Check phase_5_predictions for {game_date} (prediction-coordinator and prediction-worker logs, "
        f"the phase_4_precompute->phase_5_predictions transition), then re-run the coordinator for {game_date}"
    )
    if len(missing) == len(rows):
        return CheckResult(
            findings=[
                Finding(
                    monitor=NAME,
                    severity=Severity.CRITICAL,
                    key={**key_base, "problem": "none"},
                    summary=f"No active {config.system_id} predictions for {game_date} ({len(rows)} games scheduled)",
                    details={**details, "evidence": f"0 active predictions for {len(rows)} scheduled games"},
                    since=due,
                    fix=fix,
                )
            ]
        )
    return CheckResult(
        findings=[
            Finding(
                monitor=NAME,
                severity=Severity.WARNING,
                key={**key_base, "problem": "partial"},
                summary=f"{len(missing)} of {len(rows)} games on {game_date} have no active {config.system_id} predictions",
                details={
                    **details,
                    "evidence": f"{total_predictions} active predictions, none for {', '.join(missing[: config.max_games_listed])}",
                },
                since=due,
                fix=fix,
            )
        ]
    )


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    game_date = ctx.target_date
    rows = sources.warehouse.query(QUERY, {"game_date": game_date, "system_id": config.system_id, "now": ctx.now})
    return judge_games(config, game_date, rows, ctx.now, ctx.zone).model_copy(update={"game_dates": [game_date]})


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="warehouse",
    key_labels=frozenset({"game_date", "system_id", "problem"}),
)
