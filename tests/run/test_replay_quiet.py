"""Quiet by construction (issue 19): the demo's season, every replayable monitor on (the raw-table checks as
the demo turns them on), replays to 0 notices on every healthy day (with games, without games, and an
off-season stretch) and to exactly the broken day's incidents; with the thresholds tightened, the same
replay is noisy, so the proof can fail.

One season is generated and written once for the module (a few seconds); each test replays it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from core.config import DEFAULT_CONFIG_PATH, CanaryConfig
from demo.pipeline import DEMO_MONITORS, DemoPipeline, build_demo, write_demo
from entry.cli import with_demo_checks
from monitors.base import Sources
from monitors.registry import MONITORS
from run.configure import load_config
from run.replay import ReplayReport, ReplayRequest, notices_by_day, replay
from sources.duckdb_warehouse import DuckDbWarehouse
from sources.iam_file import IamPolicyFile
from sources.push_files import PushChainFiles
from sources.tables import SCHEDULE
from tests.production import PUSH_MEMBER, SERVICES

HEALTHY_DAYS = 60
OFF_SEASON_DAYS = 8
NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)  # 18:30 league-local on the broken day


class Season:
    def __init__(self, pipeline: DemoPipeline, folder: Path, config: CanaryConfig) -> None:
        self.pipeline, self.folder, self.config = pipeline, folder, config
        self.first = pipeline.today - timedelta(days=HEALTHY_DAYS)
        games = {row["game_date"] for row in pipeline.rows[SCHEDULE] if row["game_status"] != "postponed"}
        days = [self.first + timedelta(days=n) for n in range(HEALTHY_DAYS)]
        self.off_season = days[:OFF_SEASON_DAYS]
        self.without_games = [d for d in days[OFF_SEASON_DAYS:] if d not in games]
        self.with_games = [d for d in days if d in games]

    def replay(self, config: CanaryConfig, monitors: tuple[str, ...] | None = None) -> ReplayReport:
        sources = Sources(
            warehouse=DuckDbWarehouse(path=self.folder / "warehouse.duckdb"),
            iam=IamPolicyFile(path=self.folder / "iam_policies.json"), push=PushChainFiles(folder=self.folder),
        )
        request = ReplayRequest(first=self.first, last=self.pipeline.today, every=timedelta(minutes=30), monitors=monitors)
        return replay(config, sources, request)


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Season:
    config = with_demo_checks(load_config(DEFAULT_CONFIG_PATH))
    pipeline = build_demo(
        now=NOW, zone=config.zone, services=list(SERVICES), push_member=PUSH_MEMBER, history_days=HEALTHY_DAYS,
        off_season_days=OFF_SEASON_DAYS, project=config.pipeline.project, region=config.pipeline.region,
    )
    folder = tmp_path_factory.mktemp("season")
    write_demo(pipeline, folder)
    return Season(pipeline, folder, config)


def test_the_season_has_game_days_days_without_games_and_an_off_season(season: Season) -> None:
    assert len(season.with_games) >= 45 and len(season.without_games) >= 4 and len(season.off_season) == OFF_SEASON_DAYS


def test_every_healthy_day_is_quiet_and_the_broken_day_gives_exactly_its_incidents(season: Season) -> None:
    report = season.replay(season.config)
    replayable = [name for name, spec in MONITORS.items() if spec.replayable and season.config.monitors[name].enabled]
    assert report.replayed == replayable and {"freshness", "volume"} <= set(replayable)
    per_day = notices_by_day(report, season.config.zone)
    today = season.pipeline.today
    assert {day: count for day, count in per_day.items() if day != today and count} == {}
    for label, days in (("with games", season.with_games), ("without games", season.without_games),
                        ("off-season", season.off_season)):
        assert days and all(per_day[d] == 0 for d in days), label
    # The broken day's incidents: phase 4 never started, no predictions, and (from noon, its complete_by) yesterday's
    # partial phase 3. Yesterday itself is quiet: a partial phase says nothing before its complete_by.
    yesterday = today - timedelta(days=1)
    assert {(i.monitor, i.key.get("game_date"), i.key.get("problem"), i.resolved_at) for i in report.incidents} == {
        ("phase_stalls", today.isoformat(), "stalled", None),
        ("missing_predictions", today.isoformat(), "none", None),
        ("phase_stalls", yesterday.isoformat(), "incomplete", None),
    }
    assert per_day[yesterday] == 0
    assert per_day[today] == len(report.notices) > 0
    assert report.days_with_games == len(season.with_games) + 1  # and the broken day


def tightened(**changes: Any) -> CanaryConfig:
    """The demo's raw-table checks with every table due at 05:00 (before phase 2 loads) and stale 30 min later."""
    tables = [{**table, **changes} for table in DEMO_MONITORS["freshness"]["tables"]]
    config = load_config(DEFAULT_CONFIG_PATH)
    monitors = dict(config.monitors)
    monitors["freshness"] = MONITORS["freshness"].config_model.model_validate({"tables": tables})
    monitors["volume"] = MONITORS["volume"].config_model.model_validate(DEMO_MONITORS["volume"])
    return config.model_copy(update={"monitors": monitors})


def test_the_same_replay_with_the_thresholds_tightened_is_noisy(season: Season) -> None:
    noisy = season.replay(tightened(due_local="05:00", warn_after="30m", error_after="1h"), monitors=("freshness", "volume"))
    per_day = notices_by_day(noisy, season.config.zone)
    healthy_noise = [d for d in season.with_games if per_day[d]]
    assert len(healthy_noise) >= len(season.with_games) // 2
    assert all(n.monitor == "freshness" for n in noisy.notices)
    # On a day without games, today's tables loaded for games (injuries, props) owe nothing; the schedule
    # (loaded every day while games are near) and the box scores of yesterday's games still do.
    quiet_days = {*season.off_season, *season.without_games}
    late = {n.key["table"] for n in noisy.notices if n.at.astimezone(season.config.zone).date() in quiet_days}
    assert "nba_raw.nbac_schedule" in late
    assert not late & {"nba_raw.nbac_injury_report", "nba_raw.odds_api_player_points_props"}
    assert per_day[season.off_season[0]] == 0  # the start of the off-season: no game within a week


def test_replay_counts_the_pages_a_policy_would_cost_and_the_healthy_season_costs_none(season: Season) -> None:
    from core.config import EscalationConfig

    assert season.replay(season.config).pages is None  # no [escalation]: nothing escalates
    config = season.config.model_copy(update={"escalation": EscalationConfig(after="30m", severities=["critical"])})
    report = season.replay(config)
    today = season.pipeline.today
    assert all(page.at.astimezone(config.zone).date() == today for page in report.paged)  # healthy days: no page
    # The broken day: the stall and yesterday's incomplete phase 3 page once each, 30 minutes after their first
    # notice; the missing predictions the stall explains never page.
    stall, partial = sorted((i for i in report.incidents if i.monitor == "phase_stalls"), key=lambda i: i.opened_at)
    assert (stall.key["problem"], partial.key["problem"]) == ("stalled", "incomplete")
    assert report.pages == 2 and [(p.fingerprint, p.at) for p in report.paged] == [
        (stall.fingerprint, stall.opened_at + timedelta(minutes=30)), (partial.fingerprint, partial.opened_at + timedelta(minutes=30))]
    later = season.replay(config.model_copy(update={"escalation": EscalationConfig(after="6h")}))
    # the policy sets when, not whether
    assert [p.at for p in later.paged] == [stall.opened_at + timedelta(hours=6), partial.opened_at + timedelta(hours=6)]
