"""freshness and volume (issue 14): the rules on DuckDB, the pure judge at a moment, per-check errors,
staging by dataset prefix, and the decisive cases again through google-cloud-bigquery to bqemulator."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest

from core.model import Reason
from demo.pipeline import DEMO_MONITORS
from monitors import freshness, volume
from monitors.base import CheckContext
from monitors.data_checks import Window
from run.configure import load_all
from sources.tables import GAMEBOOK, INJURY_REPORT, PLAYER_PROPS, RAW_SCHEDULE, TEAM_BOXSCORE
from tests.scenario import NEW_YORK, Scenario, local
from tests.servers.stacks import Stack, comparable, default_config, finding_keys, gcp_stack, local_stack

DAY = date(2026, 11, 21)
YESTERDAY = DAY - timedelta(days=1)
EVENING = local(DAY, "18:30")
GAMES = ("20261121_BOS_NYK", "20261121_LAL_DEN")
OLD_GAMES = ("20261120_MIA_CHI", "20261120_PHX_SAC", "20261120_UTA_OKC")

GAMEBOOK_FRESH = {"table": GAMEBOOK, "loaded_at_field": "processed_at", "game_date": "yesterday", "lookback_days": 1,
                  "due_local": "09:00", "warn_after": "1h", "error_after": "3h", "only_on_game_days": True}
PROPS_FRESH = {"table": PLAYER_PROPS, "loaded_at_field": "processed_at", "lookback_days": 0, "due_local": "12:00",
               "warn_after": "1h", "error_after": "3h", "only_on_game_days": True}
SCHEDULE_FRESH = {"table": RAW_SCHEDULE, "loaded_at_field": "processed_at", "lookback_days": 0, "lookahead_days": 7,
                  "due_local": "09:00", "warn_after": "1h", "error_after": "6h"}
GAMEBOOK_VOLUME = {"name": "gamebook_players", "table": GAMEBOOK, "game_date": "yesterday", "min_rows_per_game": 20,
                   "max_null_percent": {"player_lookup": 0}, "loaded_at_field": "processed_at", "due_local": "09:00"}


def gamebook_rows(day: date, game_id: str, loaded: datetime, *, players: int = 20, nameless: int = 0) -> list[dict[str, Any]]:
    return [
        {"game_date": day, "game_id": game_id, "player_lookup": None if i < nameless else f"{game_id}-p{i}",
         "team_abbr": game_id[-3:], "player_status": "active", "minutes": "20:00", "points": 10, "processed_at": loaded}
        for i in range(players)
    ]


def props_rows(day: date, game_id: str, loaded: datetime, *, players: int = 10) -> list[dict[str, Any]]:
    return [{"game_date": day, "game_id": game_id, "player_lookup": f"{game_id}-p{i}", "bookmaker": "dk",
             "points_line": 12.5, "processed_at": loaded} for i in range(players)]


def healthy(*, games_today: bool = True, props_at: str = "10:00") -> Scenario:
    """Yesterday's three games in the gamebook (loaded this morning), tonight's games' props at `props_at`."""
    s = Scenario()
    for game_id in OLD_GAMES:
        s.game(YESTERDAY, game_id, start=local(YESTERDAY, "19:00"), status="final")
        s.raw(GAMEBOOK, *gamebook_rows(YESTERDAY, game_id, local(DAY, "06:10")))
    if games_today:
        for game_id in GAMES:
            s.game(DAY, game_id, start=local(DAY, "19:30"))
            s.raw(PLAYER_PROPS, *props_rows(DAY, game_id, local(DAY, props_at)))
    s.raw(INJURY_REPORT)  # created, empty: not configured in these tests
    return s


def checks(**monitors: Any) -> dict[str, Any]:
    return {"freshness": {"tables": [GAMEBOOK_FRESH, PROPS_FRESH]}, "volume": {"checks": [GAMEBOOK_VOLUME]}, **monitors}


def run(tmp_path: Path, scenario: Scenario, now: datetime, *, prefix: str = "", **monitors: Any) -> tuple[Stack, Any]:
    config = default_config(monitors=checks(**monitors), dataset_prefix=prefix)
    stack = local_stack(tmp_path / "local", config)
    stack.load(scenario)
    return stack, stack.run(now, monitors=("freshness", "volume"))


def keys(report: Any) -> set[tuple[str, tuple[tuple[str, str], ...], str]]:
    return finding_keys(report)


def stale(table: str, severity: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    return ("freshness", tuple(sorted({"table": table, "problem": "stale"}.items())), severity)


def volume_key(problem: str, severity: str, check: str = "gamebook_players", day: date = YESTERDAY) -> Any:
    return ("volume", tuple(sorted({"check": check, "game_date": day.isoformat(), "problem": problem}.items())), severity)


# --- freshness --------------------------------------------------------------------------------


def test_a_healthy_raw_layer_is_quiet_and_costs_one_query_per_monitor(tmp_path: Path) -> None:
    stack, report = run(tmp_path, healthy(), EVENING)
    assert {m.name: m.outcome.value for m in report.monitors} == {"freshness": "ok", "volume": "ok"}
    assert report.findings == [] and stack.canary.sources.warehouse.jobs == 2
    assert [m.judged.targets if m.judged else None for m in report.monitors] == [None, [YESTERDAY.isoformat()]]


@pytest.mark.parametrize(
    "now, expected",
    [
        (local(DAY, "12:59"), set()),  # props due 12:00, not loaded: 59 min, warn_after 1h
        (local(DAY, "13:01"), {stale(PLAYER_PROPS, "warning")}),
        (local(DAY, "15:00"), {stale(PLAYER_PROPS, "warning")}),
        (local(DAY, "15:01"), {stale(PLAYER_PROPS, "critical")}),  # error_after 3h
        (local(DAY, "20:00"), set()),  # loaded at 20:00
    ],
)
def test_stale_past_warn_after_is_a_warning_and_past_error_after_critical(tmp_path: Path, now: datetime, expected: set) -> None:
    _, report = run(tmp_path, healthy(props_at="20:00"), now, volume={"checks": []})
    assert keys(report) == expected


def test_the_evidence_gives_the_partition_the_due_moment_in_both_zones_the_age_and_the_threshold(tmp_path: Path) -> None:
    _, report = run(tmp_path, healthy(props_at="20:00"), local(DAY, "13:30"), volume={"checks": []})
    (finding,) = report.findings
    assert finding.summary == (
        "nba_raw.odds_api_player_points_props is stale: game date 2026-11-21 not loaded 1.5 h after it was due "
        "(warn_after 1.0 h)"
    )
    assert finding.details["evidence"] == (
        "no row of game date 2026-11-21 or later loaded since 2026-11-21; 1.5 h since due 2026-11-21 12:00 EST "
        "(17:00 UTC); warn_after is 1.0 h"
    )
    assert finding.details["age_minutes"] == 90 and finding.since == local(DAY, "13:00")


@pytest.mark.parametrize("at", ["00:00", "06:00", "08:59", "09:59"])
def test_an_empty_window_before_the_data_is_due_is_quiet(tmp_path: Path, at: str) -> None:
    """At midnight today's partitions are empty and yesterday's box scores load in the morning: nothing is due yet."""
    scenario = healthy()
    scenario.raw_rows[GAMEBOOK] = []
    scenario.raw_rows[PLAYER_PROPS] = []
    _, report = run(tmp_path, scenario, local(DAY, at), volume={"checks": []})
    assert report.findings == [] and report.monitors[0].outcome.value == "ok"


def test_no_rows_past_due_is_measured_from_the_due_moment(tmp_path: Path) -> None:
    scenario = healthy()
    scenario.raw_rows[GAMEBOOK] = []
    _, report = run(tmp_path, scenario, local(DAY, "10:01"), volume={"checks": []})
    assert keys(report) == {stale(GAMEBOOK, "warning")}  # due 09:00, warn_after 1h
    scenario.raw_rows[PLAYER_PROPS] = []
    _, report = run(tmp_path, scenario, EVENING, volume={"checks": []})
    assert keys(report) == {stale(GAMEBOOK, "critical"), stale(PLAYER_PROPS, "critical")}
    props = next(f for f in report.findings if f.key["table"] == PLAYER_PROPS)
    assert props.summary == (
        "nba_raw.odds_api_player_points_props is stale: game date 2026-11-21 not loaded 6.5 h after it was due "
        "(error_after 3.0 h)"
    )


def test_a_table_loaded_only_for_games_owes_nothing_for_a_date_without_games(tmp_path: Path) -> None:
    scenario = healthy(games_today=False)
    scenario.game(DAY, GAMES[0], start=local(DAY, "19:30"), status="postponed")  # postponed: not a game
    _, report = run(tmp_path, scenario, EVENING, volume={"checks": []})
    assert report.findings == []
    # Box scores are owed the morning after: after a day without games, the next morning owes none.
    tomorrow = DAY + timedelta(days=1)
    scenario.game(tomorrow, "20261122_BOS_NYK", start=local(tomorrow, "19:30"))
    _, report = run(tmp_path, scenario, local(tomorrow, "12:30"), volume={"checks": []},
                    freshness={"tables": [GAMEBOOK_FRESH]})
    assert report.findings == []
    # ... while the morning after a game day does.
    _, report = run(tmp_path, scenario, local(DAY + timedelta(days=2), "12:30"), volume={"checks": []},
                    freshness={"tables": [GAMEBOOK_FRESH]})
    assert keys(report) == {stale(GAMEBOOK, "critical")}


def _schedule_rows(day: date, game_id: str, loaded: datetime) -> dict[str, Any]:
    return {"game_date": day, "game_id": game_id, "home_team_abbr": game_id[-3:], "away_team_abbr": game_id[-7:-4],
            "game_status": "scheduled", "processed_at": loaded}


def test_a_table_loaded_every_day_is_stale_only_when_its_own_loads_stop(tmp_path: Path) -> None:
    """The schedule is reloaded each morning with the coming week's games, whether today has games or not."""
    soon = DAY + timedelta(days=3)
    scenario = healthy(games_today=False)
    scenario.game(soon, "20261124_BOS_NYK", start=local(soon, "19:30"))
    scenario.raw(RAW_SCHEDULE, _schedule_rows(soon, "20261124_BOS_NYK", local(YESTERDAY, "06:05")))
    only_schedule = {"tables": [SCHEDULE_FRESH]}
    _, report = run(tmp_path, scenario, local(DAY, "08:59"), volume={"checks": []}, freshness=only_schedule)
    assert report.findings == []  # today's load is not due yet
    _, report = run(tmp_path, scenario, local(DAY, "10:01"), volume={"checks": []}, freshness=only_schedule)
    assert keys(report) == {stale(RAW_SCHEDULE, "warning")}  # no games today, but the loads stopped
    scenario.raw(RAW_SCHEDULE, _schedule_rows(soon, "20261124_BOS_NYK", local(DAY, "06:05")))
    _, report = run(tmp_path, scenario, local(DAY, "10:01"), volume={"checks": []}, freshness=only_schedule)
    assert report.findings == []
    # No game in the coming week (the off-season): nothing to load, nothing owed.
    off_season = healthy(games_today=False)
    _, report = run(tmp_path, off_season, local(DAY, "10:01"), volume={"checks": []}, freshness=only_schedule)
    assert report.findings == []


def test_warning_then_critical_is_an_escalation_sent_at_once_in_the_thread(tmp_path: Path) -> None:
    config = default_config(monitors=checks(volume={"checks": []}))
    stack = local_stack(tmp_path / "local", config)
    stack.load(healthy(props_at="20:00"))
    first = stack.run(local(DAY, "13:30"), monitors=("freshness",))
    assert [(n.reason, n.delivered) for n in first.notifications] == [(Reason.FIRST, True)]
    quiet = stack.run(local(DAY, "14:00"), monitors=("freshness",))
    assert quiet.notifications == []
    # 3 h after it was due it is critical: notified now, 2 h after the warning, not 12 h later.
    escalated = stack.run(local(DAY, "15:30"), monitors=("freshness",))
    assert [(n.reason, n.delivered) for n in escalated.notifications] == [(Reason.REPEAT, True)]
    import json

    sent = [json.loads(line) for line in stack.notifications_file.read_text().splitlines()]
    assert "escalated from warning to critical" in json.dumps(sent[-1])


# --- volume -----------------------------------------------------------------------------------


def test_low_rows_counts_the_schedules_games_that_are_played(tmp_path: Path) -> None:
    scenario = healthy()
    scenario.game(YESTERDAY, "20261120_NOP_HOU", start=None, status="postponed")  # owes no gamebook rows
    scenario.raw_rows[GAMEBOOK] = [r for r in scenario.raw_rows[GAMEBOOK] if r["game_id"] != OLD_GAMES[0]]
    _, report = run(tmp_path, scenario, EVENING, freshness={"tables": []})
    assert keys(report) == {volume_key("low_rows", "warning")}
    (finding,) = report.findings
    assert finding.details["evidence"] == "40 rows for 2026-11-20; min_rows_per_game 20 x 3 games = 60"


def test_no_rows_at_all_is_critical_and_nulls_over_the_limit_are_a_warning(tmp_path: Path) -> None:
    scenario = healthy()
    scenario.raw_rows[GAMEBOOK] = gamebook_rows(YESTERDAY, OLD_GAMES[0], local(DAY, "06:10"), players=60, nameless=3)
    _, report = run(tmp_path, scenario, EVENING, freshness={"tables": []})
    assert keys(report) == {volume_key("nulls", "warning")}
    assert report.findings[0].details["evidence"] == "player_lookup: 3 of 60 rows NULL (5.0%, max 0%)"
    scenario.raw_rows[GAMEBOOK] = []
    _, report = run(tmp_path, scenario, EVENING, freshness={"tables": []})
    assert keys(report) == {volume_key("low_rows", "critical")}


def test_a_check_is_not_judged_before_it_is_due_nor_on_rows_loaded_later(tmp_path: Path) -> None:
    scenario = healthy()
    scenario.raw_rows[GAMEBOOK] = []
    _, report = run(tmp_path, scenario, local(DAY, "08:59"), freshness={"tables": []})
    assert report.findings == [] and report.monitors[1].judged.targets == []
    # Loaded at 06:10: a judge at 06:00 (a replay) does not count them.
    healthy_rows = volume.fetch(volume.Config.model_validate({"checks": [GAMEBOOK_VOLUME]}),
                                _sources(tmp_path, healthy()), Window(YESTERDAY, DAY, EVENING))
    config = volume.Config.model_validate({"checks": [{**GAMEBOOK_VOLUME, "due_local": "00:00"}]})
    early = volume.judge(config, healthy_rows, _ctx(local(DAY, "06:00")))
    assert [f.key["problem"] for f in early.findings] == ["low_rows"]
    assert volume.judge(config, healthy_rows, _ctx(EVENING)).findings == []


def test_fetch_reads_a_range_of_game_dates_in_one_query_and_judge_ignores_later_loads(tmp_path: Path) -> None:
    scenario = healthy()
    scenario.raw(PLAYER_PROPS, *props_rows(YESTERDAY, OLD_GAMES[0], local(YESTERDAY, "14:00")))
    sources = _sources(tmp_path, scenario)
    config = freshness.Config.model_validate({"tables": [PROPS_FRESH]})
    rows = freshness.fetch(config, sources, Window(YESTERDAY, DAY, EVENING))
    assert sources.warehouse.jobs == 1
    assert {r["game_date"] for r in rows if r["check_name"] == PLAYER_PROPS} == {YESTERDAY, DAY}
    # Judged for yesterday: its props loaded at 14:00 count from 14:00, not before.
    assert freshness.judge(config, rows, _ctx(local(YESTERDAY, "15:00"), today=YESTERDAY)).findings == []
    earlier = freshness.judge(config, rows, _ctx(local(YESTERDAY, "13:30"), today=YESTERDAY))
    assert [f.severity.value for f in earlier.findings] == ["warning"]


def _ctx(now: datetime, *, today: date = DAY) -> CheckContext:
    _, config = load_all()
    return CheckContext(now=now, today=today, zone=NEW_YORK, pipeline=config.pipeline)


def _sources(tmp_path: Path, scenario: Scenario) -> Any:
    stack = local_stack(tmp_path / "sources", default_config())
    stack.load(scenario)
    return stack.canary.sources


# --- a missing table or column is that check's error ----------------------------------------


def test_a_missing_table_or_column_is_that_checks_degraded_finding_and_the_others_are_judged(tmp_path: Path) -> None:
    scenario = healthy()
    scenario.raw_rows[PLAYER_PROPS] = []
    stack, report = run(
        tmp_path, scenario, EVENING,
        freshness={"tables": [PROPS_FRESH, {**GAMEBOOK_FRESH, "table": "nba_raw.nbac_play_by_play"}]},
        volume={"checks": [GAMEBOOK_VOLUME, {**GAMEBOOK_VOLUME, "name": "gamebook_minutes", "max_null_percent": {"mins": 5}}]},
    )
    # The monitor's outcome is its own checks' (volume's judged check is fine); the failed ones are degraded findings.
    assert {m.name: m.outcome.value for m in report.monitors} == {"freshness": "firing", "volume": "ok"}
    degraded = {(f.key["monitor"], f.key["check"]): f for f in report.findings if f.monitor == "canary"}
    assert set(degraded) == {("freshness", "nba_raw.nbac_play_by_play"), ("volume", "gamebook_minutes")}
    assert "nba_raw.nbac_play_by_play" in degraded[("freshness", "nba_raw.nbac_play_by_play")].details["error"]
    assert GAMEBOOK in degraded[("volume", "gamebook_minutes")].details["error"]
    assert all(f.key["problem"] == "error" for f in degraded.values())
    # The other checks were judged: the empty props table is stale, the gamebook volume is fine.
    assert {k for k in keys(report) if k[0] != "canary"} == {stale(PLAYER_PROPS, "critical")}
    assert report.monitors[1].judged.targets == [YESTERDAY.isoformat()]


def test_every_check_failing_is_the_monitors_error(tmp_path: Path) -> None:
    stack, _ = run(tmp_path, healthy(), EVENING)
    (tmp_path / "local" / "warehouse.duckdb").unlink()
    duckdb.connect(str(tmp_path / "local" / "warehouse.duckdb")).close()
    report = stack.run(EVENING, monitors=("freshness", "volume"))
    assert {m.name: m.outcome.value for m in report.monitors} == {"freshness": "error", "volume": "error"}
    assert {f.key["monitor"] for f in report.findings} == {"freshness", "volume"}
    assert all("check" not in f.key for f in report.findings)


# --- configuration and staging ----------------------------------------------------------------


def test_shipped_off_and_validated_like_a_data_engineer_expects() -> None:
    _, config = load_all()
    assert not config.monitors["freshness"].enabled and not config.monitors["volume"].enabled
    assert freshness.Config.model_validate({"tables": [GAMEBOOK_FRESH]}).enabled
    for bad, message in [
        ({"tables": [{**GAMEBOOK_FRESH, "warn_after": None, "error_after": None}]}, "give warn_after, error_after"),
        ({"tables": [{**GAMEBOOK_FRESH, "warn_after": "40h"}]}, "warn_after must be shorter"),
        ({"tables": [{**GAMEBOOK_FRESH, "table": "nbac_gamebook"}]}, "expected dataset.table"),
        ({"tables": [{**GAMEBOOK_FRESH, "loaded_at_field": "x; DROP"}]}, "expected a column name"),
        ({"tables": [GAMEBOOK_FRESH, GAMEBOOK_FRESH]}, "listed twice"),
        ({"enabled": True}, "enabled with no tables"),
    ]:
        with pytest.raises(ValueError, match=message):
            freshness.Config.model_validate(bad)
    with pytest.raises(ValueError, match="give min_rows, min_rows_per_game or max_null_percent"):
        volume.Config.model_validate({"checks": [{"name": "x", "table": GAMEBOOK}]})
    with pytest.raises(ValueError, match="expected a percent"):
        volume.Config.model_validate({"checks": [{"name": "x", "table": GAMEBOOK, "max_null_percent": {"a": 150}}]})


def test_the_environment_prefix_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_DATASET_PREFIX", "test_")
    _, config = load_all()
    assert config.dataset_prefix == "test_"
    monkeypatch.setenv("CANARY_DATASET_PREFIX", "test-; DROP")
    from core.config import ConfigError
    from run.configure import load_settings

    with pytest.raises(ConfigError, match="CANARY_DATASET_PREFIX: expected letters, digits and underscores only"):
        load_settings()


def test_a_prefixed_canary_reads_only_the_prefixed_datasets(tmp_path: Path) -> None:
    scenario = healthy()
    scenario.raw_rows[PLAYER_PROPS] = []
    _, report = run(tmp_path, scenario, EVENING, prefix="test_")
    assert keys(report) == {stale(PLAYER_PROPS, "critical")}
    schemas = {r[0] for r in duckdb.connect(str(tmp_path / "local" / "warehouse.duckdb"), read_only=True).execute(
        "SELECT schema_name FROM information_schema.schemata").fetchall()}
    assert {"test_nba_raw", "test_nba_reference", "test_nba_orchestration"} <= schemas and "nba_raw" not in schemas
    # Unprefixed data with a prefixed canary: every query misses, nothing is judged on the wrong tables.
    config = default_config(monitors=checks(), dataset_prefix="test_")
    stack = local_stack(tmp_path / "other", config)
    healthy().write_local(tmp_path / "other")
    report = stack.run(EVENING)
    errors = {m.name: m.error for m in report.monitors if m.outcome.value == "error"}
    assert set(errors) == {"phase_stalls", "missing_predictions", "freshness", "volume"}
    assert all("test_" in e or "does not exist" in e for e in errors.values()), errors


# --- the same on the production client: google-cloud-bigquery -> bqemulator ------------------

from tests.servers.bqemulator import BqEmulator, bqemulator  # noqa: E402,F401  (session fixture)


@pytest.fixture
def bq_stack(bqemulator: BqEmulator, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    def make(config: Any) -> Stack:
        prefix = config.dataset_prefix
        return gcp_stack(
            tmp_path / "gcp", bigquery_endpoint=bqemulator.endpoint, run_endpoint="http://127.0.0.1:9",
            load_warehouse=lambda project, s: bqemulator.load(project, s.rows_by_table, dataset_prefix=prefix),
            set_policies=lambda policies: None, project=bqemulator.new_project(), config=config,
            monitoring_endpoint="127.0.0.1:9", load_push=lambda scenario: None,
        )

    yield make


@pytest.mark.servers
def test_bigquery_prefixed_decisive_cases_agree_with_duckdb(bq_stack: Any, tmp_path: Path) -> None:
    """Stale, low rows, nulls and a missing table's degraded finding, staged under test_, on both backends."""
    scenario = healthy()
    scenario.raw_rows[PLAYER_PROPS] = props_rows(DAY, GAMES[0], local(DAY, "20:00"))  # after the run: 6.5 h late
    scenario.raw_rows[GAMEBOOK] = gamebook_rows(YESTERDAY, OLD_GAMES[0], local(DAY, "06:10"), players=30, nameless=2)
    scenario.raw(TEAM_BOXSCORE)
    config = default_config(
        dataset_prefix="test_",
        monitors=checks(freshness={"tables": [GAMEBOOK_FRESH, PROPS_FRESH,
                                              {**PROPS_FRESH, "table": "nba_raw.nbac_play_by_play"}]}),
    )
    views = []
    for stack in (local_stack(tmp_path / "local", config), bq_stack(config)):
        stack.load(scenario)
        report = stack.run(EVENING, monitors=("freshness", "volume"))
        assert {k for k in keys(report) if k[0] != "canary"} == {
            stale(PLAYER_PROPS, "critical"), volume_key("low_rows", "warning"), volume_key("nulls", "warning"),
        }, stack.backend
        assert [(f.key["monitor"], f.key["check"]) for f in report.findings if f.monitor == "canary"] == [
            ("freshness", "nba_raw.nbac_play_by_play")
        ], stack.backend
        views.append(comparable(report))
    assert views[0] == views[1]


def test_canary_toml_ships_the_demos_checks_as_commented_examples() -> None:
    """Uncommented, the block in canary.toml is exactly what the demo turns on (one set of values)."""
    import tomllib

    from core.config import DEFAULT_CONFIG_PATH

    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    block = text.split("# BEGIN raw-table checks\n")[1].split("# END raw-table checks")[0]
    shipped = tomllib.loads("\n".join(line.removeprefix("#").removeprefix(" ") for line in block.splitlines()))
    for name, module in (("freshness", freshness), ("volume", volume)):
        assert module.Config.model_validate(shipped["monitors"][name]) == module.Config.model_validate(DEMO_MONITORS[name])


def test_the_prefix_reaches_the_production_bigquery_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """CANARY_DATASET_PREFIX -> Settings -> the configuration -> BigQueryWarehouse, as main builds it (no call made)."""
    import main

    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    monkeypatch.setenv("CANARY_DATASET_PREFIX", "test_")
    settings, config = load_all()
    canary = main.build_canary(settings, config, console=None)
    assert type(canary.sources.warehouse).__name__ == "BigQueryWarehouse"
    assert canary.sources.warehouse.dataset_prefix == "test_"


def test_the_demo_staged_under_a_prefix_tells_the_same_story(local_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import run_cli

    monkeypatch.setenv("CANARY_DATASET_PREFIX", "test_")
    result = run_cli("demo", "--json")
    assert result.code == 0, result.stderr
    assert sorted((f["monitor"], f["key"]["problem"]) for f in result.report["findings"]) == [
        ("missing_predictions", "none"), ("orchestrator_iam", "missing_invoker"), ("orchestrator_iam", "missing_invoker"),
        ("phase_stalls", "incomplete"), ("phase_stalls", "stalled"), ("push_delivery", "backlog"),
        ("push_delivery", "push_account_cannot_invoke"), ("push_delivery", "push_account_cannot_invoke"),
        ("scheduler_jobs", "failing"), ("scheduler_jobs", "paused")]
    assert {m["name"]: m["outcome"] for m in result.report["monitors"]}["freshness"] == "ok"
    with duckdb.connect(str(local_dir / "warehouse.duckdb"), read_only=True) as db:
        schemas = {r[0] for r in db.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    assert {s for s in schemas if "nba" in s} == {"test_nba_orchestration", "test_nba_reference", "test_nba_predictions",
                                                  "test_nba_raw"}


def test_a_check_that_cannot_be_read_does_not_resolve_its_open_alert(tmp_path: Path) -> None:
    stack, first = run(tmp_path, healthy(props_at="20:00"), local(DAY, "13:30"), volume={"checks": []})
    assert keys(first) == {stale(PLAYER_PROPS, "warning")}
    with duckdb.connect(str(tmp_path / "local" / "warehouse.duckdb")) as db:
        db.execute(f"DROP TABLE {PLAYER_PROPS}")
    blind = stack.run(local(DAY, "14:00"), monitors=("freshness",))
    assert [(f.monitor, f.key.get("check")) for f in blind.findings] == [("canary", PLAYER_PROPS)]
    assert [n.reason for n in blind.notifications] == [Reason.FIRST]  # the degraded notice only: no "resolved"
    stack.load(healthy(props_at="14:00"))
    seen = stack.run(local(DAY, "14:30"), monitors=("freshness",))
    assert sorted(n.reason.value for n in seen.notifications) == ["resolved", "resolved"]  # the stale alert and the degraded one


# --- replay: the same fetch/judge as a scheduled run ------------------------------------------


def test_a_replay_of_the_data_checks_sends_what_each_tick_s_run_would_have_sent(tmp_path: Path) -> None:
    """Props due 12:00 load at 16:00: the stale alert opens at 13:30, escalates at 15:30, resolves at 16:00, the same in
    a replay (one query per monitor for the day) as in a run at every 30-minute tick."""
    from run.replay import ReplayRequest, replay, tick_times

    config = default_config(monitors=checks())
    stack = local_stack(tmp_path / "local", config)
    stack.load(healthy(props_at="16:00"))
    request = ReplayRequest(first=DAY, last=DAY, every=timedelta(minutes=30), monitors=("freshness", "volume"))
    replayed = replay(config, stack.canary.sources, request)
    assert replayed.replayed == ["freshness", "volume"] and replayed.not_replayed == []
    expected = []
    for tick in tick_times(request, config):
        report = stack.run(tick, monitors=("freshness", "volume"))
        expected += [(tick, n.reason, n.fingerprint) for n in report.notifications if n.delivered]
    assert [(n.at, n.reason, n.fingerprint) for n in replayed.notices] == expected
    assert {n.reason for n in replayed.notices} >= {Reason.FIRST, Reason.RESOLVED}
    # The warning that became critical shows as an escalation, in the notice and in its incident.
    assert [(n.at, n.escalated) for n in replayed.notices if n.reason is Reason.REPEAT] == [(local(DAY, "15:30"), True)]
    assert [i.escalations for i in replayed.incidents] == [1]
    assert [(m.monitor, m.escalations) for m in replayed.monitors] == [("freshness", 1), ("volume", 0)]
