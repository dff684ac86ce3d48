"""The demo's history (issue 19): days without games, an off-season stretch, a schedule loaded every day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from demo.pipeline import NO_GAMES_AT, NO_GAMES_EVERY, SCHEDULE_AHEAD_DAYS, build_demo
from sources.tables import GAMEBOOK, PHASE_COMPLETIONS, RAW_SCHEDULE, SCHEDULE
from tests.conftest import run_cli
from tests.production import CONFIG, PUSH_MEMBER, SERVICES

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)


def demo(history_days: int, off_season_days: int = 0):  # type: ignore[no-untyped-def]
    return build_demo(now=NOW, zone=CONFIG.zone, services=list(SERVICES), push_member=PUSH_MEMBER,
                      history_days=history_days, off_season_days=off_season_days,
                      project=CONFIG.pipeline.project, region=CONFIG.pipeline.region)


def test_the_history_has_days_without_games_an_off_season_and_a_daily_schedule_load() -> None:
    pipeline = demo(40, off_season_days=12)
    today = pipeline.today
    game_days = {r["game_date"] for r in pipeline.rows[SCHEDULE]}
    history = [today - timedelta(days=back) for back in range(40, 0, -1)]
    off_season, season = history[:12], history[12:]
    assert not game_days & set(off_season)
    without = [d for d in season if d not in game_days]
    assert without == [today - timedelta(days=b) for b in range(28, 0, -1) if b % NO_GAMES_EVERY == NO_GAMES_AT]
    assert today in game_days and len(without) >= 2
    # Nothing runs for a day without games: no phase work, no box scores.
    assert not {r["game_date"] for r in pipeline.rows[PHASE_COMPLETIONS]} & set(without)
    assert not {r["game_date"] for r in pipeline.rows[GAMEBOOK]} & set(without)
    # The schedule is loaded every morning that has a game within the coming week, days without games included.
    loads = {r["processed_at"].astimezone(CONFIG.zone).date() for r in pipeline.rows[RAW_SCHEDULE]}
    near = {d for d in [*history, today] if any(d + timedelta(days=n) in game_days for n in range(SCHEDULE_AHEAD_DAYS + 1))}
    assert loads == near and set(without) <= loads


def test_more_off_season_than_history_is_refused() -> None:
    with pytest.raises(ValueError, match="off_season_days"):
        demo(5, off_season_days=6)


def test_the_cli_refuses_it_in_one_line(local_dir) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("demo", "--history-days", "3", "--off-season-days", "5", "--no-run")
    assert result.code == 2 and result.stderr.strip() == "error: --off-season-days: give 0 to --history-days (3)"


def test_the_broken_day_is_coherent_the_hop_has_a_waiting_message_and_yesterday_is_partial() -> None:
    """What the demo's alerts say must hold in its data: phase 4 never ran today (its service's binding is gone),
    nba-phase4-trigger's message has waited since phase 3 completed and its retries were refused, nothing was sent
    to the phase-5 orchestrator, same-day-phase4's attempt was refused, and only yesterday's phase 3 is partial."""
    from demo.pipeline import BROKEN_SERVICES, DENIED_JOB, PARTIAL_MISSING, SECOND_HOP
    from sources.push import OLDEST_UNACKED_AGE, PUSH_REQUESTS

    pipeline = demo(7)
    today, yesterday = pipeline.today, pipeline.today - timedelta(days=1)
    ran_today = {r["phase"] for r in pipeline.rows[PHASE_COMPLETIONS] if r["game_date"] == today}
    assert ran_today == {"phase_2_raw", "phase_3_analytics"}
    for service in BROKEN_SERVICES:
        assert not [b for b in pipeline.policies[service]["bindings"] if b["role"] == "roles/run.invoker"]
    series = {(s["resource"]["labels"]["subscription_id"], s["metric"]["type"]): s for s in pipeline.push_metrics["timeSeries"]}
    hop_sub = next(s["name"].rsplit("/", 1)[-1] for s in pipeline.subscriptions if SECOND_HOP in s["pushConfig"]["pushEndpoint"])
    refused = series[(hop_sub, PUSH_REQUESTS)]
    assert refused["metric"]["labels"]["response_code"] == "403" and len(refused["points"]) == 3  # one retry per 10 min
    phase3_done = max(min(r["completed_at"] for r in pipeline.rows[PHASE_COMPLETIONS]
                          if r["game_date"] == today and r["phase"] == "phase_3_analytics" and r["processor_name"] == name
                          and r["status"] == "success")
                      for name in {r["processor_name"] for r in pipeline.rows[PHASE_COMPLETIONS] if r["phase"] == "phase_3_analytics"})
    newest_age = int(series[(hop_sub, OLDEST_UNACKED_AGE)]["points"][0]["value"]["int64Value"])
    assert newest_age == int((NOW - phase3_done).total_seconds())
    orchestrator_sub = next(s["name"].rsplit("/", 1)[-1] for s in pipeline.subscriptions
                            if "phase4-to-phase5-orchestrator" in s["pushConfig"]["pushEndpoint"])
    assert (orchestrator_sub, PUSH_REQUESTS) not in series  # phase 4 never completed: nothing to push to it
    with_jobs = build_demo(now=NOW, zone=CONFIG.zone, services=list(SERVICES), push_member=PUSH_MEMBER, history_days=1,
                           project=CONFIG.pipeline.project, region=CONFIG.pipeline.region,
                           jobs=[DENIED_JOB, "same-day-phase3-tomorrow"])
    status = {j["name"].rsplit("/", 1)[-1]: (j["state"], j["status"]) for j in with_jobs.scheduler_jobs}
    # Its 11:00 attempt reached the hop and was refused: PERMISSION_DENIED, 7 (proto3 JSON omits a zero code).
    assert status == {DENIED_JOB: ("ENABLED", {"code": 7}), "same-day-phase3-tomorrow": ("ENABLED", {})}
    # Yesterday's phase 3: 3 of 5 processors, none of them failed (nothing to say before its complete_by).
    partial = {r["processor_name"] for r in pipeline.rows[PHASE_COMPLETIONS]
               if r["game_date"] == yesterday and r["phase"] == "phase_3_analytics"}
    assert len(partial) == 3 and not partial & set(PARTIAL_MISSING)
    assert all(r["status"] == "success" for r in pipeline.rows[PHASE_COMPLETIONS]
               if r["game_date"] == yesterday and r["phase"] == "phase_3_analytics")
    earlier = {r["game_date"] for r in pipeline.rows[PHASE_COMPLETIONS] if r["phase"] == "phase_3_analytics"} - {today, yesterday}
    for day in earlier:
        assert {r["processor_name"] for r in pipeline.rows[PHASE_COMPLETIONS]
                if r["game_date"] == day and r["phase"] == "phase_3_analytics"} >= set(PARTIAL_MISSING)
