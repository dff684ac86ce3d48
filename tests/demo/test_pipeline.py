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
