"""`main.py replay`: the notices of a replay are exactly those of `main.py run --now T` at each tick."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.config import DEFAULT_CONFIG_PATH
from demo.pipeline import build_demo, write_demo
from monitors.base import Sources
from run.configure import load_config
from run.replay import ReplayRequest, replay
from sources.duckdb_warehouse import DuckDbWarehouse
from sources.iam_file import IamPolicyFile
from sources.push_files import PushChainFiles
from tests.conftest import run_cli
from tests.production import CONFIG, PUSH_MEMBER, SERVICES
from tests.scenario import Scenario, local
from tests.servers.bqemulator import BqEmulator, bqemulator  # noqa: F401  (session fixture)
from tests.servers.fake_cloud_run import FakeCloudRun, fake_cloud_run  # noqa: F401  (fixture)
from tests.servers.stacks import gcp_stack, local_stack

CONFIG_ZONE = CONFIG.zone
D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
P2, P3, P4, P5, P6 = "phase_2_raw", "phase_3_analytics", "phase_4_precompute", "phase_5_predictions", "phase_6_publishing"


def history() -> Scenario:
    """Three league-local days with everything a replay must reproduce tick for tick.

    D1: phase 3 starts late (a stall that opens and closes); phase 6 never starts (a stall that repeats
        and closes as "no longer checked" when D1 leaves the window); predictions for one game arrive
        after they were due (partial, then resolved); a postponed game owes none.
    D2: the games are late and the work crosses midnight: phase 4 completes at 23:10, phase 5 starts
        at 00:40 the next day (a stall of game date D2 seen on D3's calendar); no start times are
        known, so predictions are due at 13:00 and arrive at 14:10 (none, then resolved).
    D3: a day without games and without pipeline work.
    """
    s = Scenario()
    s.phase_complete(D1, P2, local(D1, "06:30"))
    s.phase_complete(D1, P3, local(D1, "08:20"))  # phase 2 complete 06:28 (its 5th of 6 processors) + 30 min: stalled from the 07:00 tick
    s.phase_complete(D1, P4, local(D1, "09:00"))
    s.phase_complete(D1, P5, local(D1, "10:00"))  # and phase 6 never runs
    s.game(D1, "20261120_BOS_NYK", start=local(D1, "19:00"))
    s.game(D1, "20261120_LAL_DEN", start=local(D1, "19:30"))
    s.game(D1, "20261120_GSW_POR", start=local(D1, "19:00"), status="postponed")
    s.predictions(D1, "20261120_BOS_NYK", created_at=local(D1, "10:20"))
    s.predictions(D1, "20261120_LAL_DEN", created_at=local(D1, "17:10"))  # due 16:00
    s.predictions(D1, "20261120_LAL_DEN", system_id="ensemble_v1", created_at=local(D1, "10:20"))
    s.phase_complete(D2, P2, local(D2, "20:00"))
    s.phase_complete(D2, P3, local(D2, "20:20"))
    s.phase_complete(D2, P4, local(D2, "23:10"))
    s.phase_complete(D2, P5, local(D3, "00:40"))
    s.phase_complete(D2, P6, local(D3, "01:00"))
    s.game(D2, "20261121_MIA_ORL", start=None)
    s.game(D2, "20261121_PHX_SAC", start=None)
    s.predictions(D2, "20261121_MIA_ORL", created_at=local(D2, "14:10"))
    s.predictions(D2, "20261121_PHX_SAC", created_at=local(D2, "14:10"))
    return s


def ticks(first: date, last: date) -> list[datetime]:
    start, end = local(first, "00:00"), local(last + timedelta(days=1), "00:00")
    return [start + timedelta(minutes=30 * i) for i in range(int((end - start) / timedelta(minutes=30)))]


def replayed(*args: str) -> dict:
    result = run_cli("replay", "--json", *args)
    assert result.code == 0, result.stderr
    return result.report


def test_replay_sends_exactly_what_the_scheduled_runs_would_have_sent_in_order(local_dir: Path) -> None:
    history().write_local(local_dir)
    replay_report = replayed("--from", D1.isoformat(), "--to", D3.isoformat())
    assert replay_report["ticks"] == 144

    sent = []
    for tick in ticks(D1, D3):
        result = run_cli("run", "--json", "--now", tick.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert result.code == 0, result.stderr
        sent += [(result.report["now"], n["reason"], n["fingerprint"]) for n in result.report["notifications"] if n["delivered"]]
    lines = [json.loads(line) for line in (local_dir / "notifications.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all("group" not in line for line in lines)

    notices = replay_report["notices"]
    assert [(n["at"], n["reason"], n["fingerprint"]) for n in notices] == sent
    assert [n["summary"] for n in notices] == [line["title"] for line in lines]
    # The history exercised what it claims to: every reason, both monitors, a stall across midnight, a retirement.
    said = {(n["at"][:16], n["reason"], n["monitor"], n["key"].get("problem"), n["key"]["game_date"]) for n in notices}
    assert ("2026-11-20T12:00", "first", "phase_stalls", "stalled", "2026-11-20") in said  # 07:00 EST: phase 3 late
    assert ("2026-11-20T13:30", "resolved", "phase_stalls", "stalled", "2026-11-20") in said  # 08:30: it started
    assert ("2026-11-20T21:00", "first", "missing_predictions", "partial", "2026-11-20") in said  # 16:00: one game due
    assert ("2026-11-20T22:30", "resolved", "missing_predictions", "partial", "2026-11-20") in said  # 17:30: arrived
    assert ("2026-11-21T18:00", "first", "missing_predictions", "none", "2026-11-21") in said  # 13:00 fallback due
    assert ("2026-11-21T19:30", "resolved", "missing_predictions", "none", "2026-11-21") in said
    assert ("2026-11-22T05:30", "first", "phase_stalls", "stalled", "2026-11-21") in said  # 00:30 on D3, game date D2
    assert ("2026-11-22T06:00", "resolved", "phase_stalls", "stalled", "2026-11-21") in said
    assert any(n["reason"] == "repeat" for n in notices)
    assert any(n["summary"].startswith("No longer checked:") for n in notices)  # D1's phase-6 stall leaves the window
    assert [n["monitor"] for n in replay_report["not_replayed"]] == ["orchestrator_iam", "push_delivery", "scheduler_jobs"]
    assert all(n["why"] for n in replay_report["not_replayed"])


def test_the_json_object_and_its_incidents(local_dir: Path) -> None:
    history().write_local(local_dir)
    report = replayed("--from", D1.isoformat(), "--to", D3.isoformat(), "--monitors", "missing_predictions")
    assert list(report) == ["from", "to", "every", "ticks", "replayed", "not_replayed", "notices", "incidents", "monitors",
                            "days", "days_with_games", "future_ticks", "duration_ms"]
    # Per monitor, and how many days had data: D3 has no games, so an average over 3 days would be diluted.
    assert report["monitors"] == [{"monitor": "missing_predictions", "incidents": 2, "notices": 4, "escalations": 0,
                                   "days_with_rows": 2}]
    assert (report["days"], report["days_with_games"], report["future_ticks"]) == (3, 2, 0)
    assert (report["from"], report["to"], report["every"], report["replayed"]) == ("2026-11-20", "2026-11-22", "30m", ["missing_predictions"])
    assert report["not_replayed"] == []
    assert [set(n) for n in report["notices"]] == [{"at", "reason", "fingerprint", "monitor", "key", "summary", "escalated"}] * 4
    assert [(i["key"]["problem"], i["opened_at"], i["resolved_at"], i["notices"], i["escalations"]) for i in report["incidents"]] == [
        ("partial", "2026-11-20T21:00:00Z", "2026-11-20T22:30:00Z", 2, 0),
        ("none", "2026-11-21T18:00:00Z", "2026-11-21T19:30:00Z", 2, 0),
    ]


def test_another_configuration_against_the_same_history(local_dir: Path, tmp_path: Path) -> None:
    """--config: with predictions due 1 h before the first game instead of 3 h, the late game is on time."""
    history().write_local(local_dir)
    proposed = tmp_path / "proposed.toml"
    proposed.write_text(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace('lead_time = "3h"', 'lead_time = "1h"'), encoding="utf-8")
    args = ("--from", D1.isoformat(), "--to", D1.isoformat(), "--monitors", "missing_predictions")
    assert len(replayed(*args)["incidents"]) == 1
    assert replayed(*args, "--config", str(proposed))["incidents"] == []


def test_the_timeline_reads_as_incidents_then_totals(local_dir: Path) -> None:
    history().write_local(local_dir)
    result = run_cli("replay", "--from", D1.isoformat(), "--to", D3.isoformat())
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "not replayed: orchestrator_iam (" in out
    assert "incident 1: critical phase_stalls {transition=phase_2_raw->phase_3_analytics, game_date=2026-11-20, problem=stalled}" in out
    assert "  2026-11-20 07:00 EST  first      phase_3_analytics has not started for 2026-11-20" in out
    assert "  lasted 1 h 30 min\n" in out
    assert "\nper monitor:\n  phase_stalls: 4 incident(s), " in out and "; rows on 2 of 3 day(s)\n" in out
    totals = out.strip().splitlines()[-1]
    assert totals.startswith("totals: 6 incident(s), ") and "notices per day over 3 day(s), 2 of them with games (" in totals
    assert "4 incident(s) shorter than one repeat interval" in totals


def test_a_long_replay_prints_its_progress_on_stderr_and_today_stops_at_now(local_dir: Path) -> None:
    history().write_local(local_dir)
    result = run_cli("replay", "--json", "--from", (D1 - timedelta(days=45)).isoformat(), "--to", D3.isoformat())
    assert result.code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"replay: {D1 - timedelta(days=45)} (0/{result.report['ticks']:,} ticks)" and 5 <= len(lines) <= 11
    assert all(line.startswith("replay: ") and line.endswith(" ticks)") for line in lines)
    short = run_cli("replay", "--from", D1.isoformat(), "--to", D3.isoformat())
    assert short.code == 0 and short.stderr == ""  # a short replay says nothing on stderr
    # Today: the ticks after now have not happened; they are counted, not replayed.
    today = datetime.now(timezone.utc).astimezone(CONFIG_ZONE).date()
    report = replayed("--from", today.isoformat(), "--to", today.isoformat())
    assert report["ticks"] >= 1 and report["ticks"] + report["future_ticks"] in (46, 48, 50)  # 46/50: DST days
    assert all(n["at"] <= datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for n in report["notices"])


def test_bad_input_is_exit_2_with_one_line(local_dir: Path) -> None:
    history().write_local(local_dir)
    cases = [
        (["--from", "2026-11-22", "--to", "2026-11-20"], "before --from"),
        (["--from", "2026-11-32", "--to", "2026-11-20"], "--from:"),
        (["--from", "2026-11-20", "--to", "2026-11-20", "--every", "soon"], "--every:"),
        (["--from", "2026-11-20", "--to", "2026-11-20", "--monitors", "orchestrator_iam"], "nothing to replay: orchestrator_iam"),
        (["--from", "2026-11-20", "--to", "2026-11-20", "--monitors", "nope"], "unknown monitor 'nope'"),
        (["--from", "2026-11-20", "--to", "2026-11-20", "--config", "/nonexistent.toml"], "configuration file not found"),
        (["--from", "2026-11-20"], "--to"),
        (["--from", "2026-11-20", "--to", "2099-01-01"], "--to 2099-01-01 is in the future (today is "),
        (["--from", "2026-11-20", "--to", "2026-11-20", "--monitors", "freshness"],
         "freshness is off in this configuration (nothing listed to check): turn it on in canary.toml"),
    ]
    for args, expected in cases:
        result = run_cli("replay", *args)
        assert result.code == 2, (args, result.stderr)
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, result.stderr


def test_one_warehouse_query_per_monitor_for_the_whole_replay(tmp_path: Path) -> None:
    history().write_local(tmp_path)
    warehouse = DuckDbWarehouse(path=tmp_path / "warehouse.duckdb")
    config = load_config(DEFAULT_CONFIG_PATH)
    report = replay(config, Sources(warehouse=warehouse, iam=IamPolicyFile(path=tmp_path / "iam_policies.json"),
                                    push=PushChainFiles(folder=tmp_path)),
                    ReplayRequest(first=D1 - timedelta(days=30), last=D3, every=timedelta(minutes=30)))
    assert report.ticks > 1500 and warehouse.jobs == 2


def test_a_replay_of_the_demo_history_shows_only_the_broken_day(tmp_path: Path) -> None:
    config = load_config(DEFAULT_CONFIG_PATH)
    now = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
    demo = build_demo(
        now=now, zone=config.zone, services=SERVICES, push_member=PUSH_MEMBER, history_days=60,
        project=config.pipeline.project, region=config.pipeline.region,
    )
    write_demo(demo, tmp_path)
    sources = Sources(warehouse=DuckDbWarehouse(path=tmp_path / "warehouse.duckdb"), iam=IamPolicyFile(path=tmp_path / "x.json"),
                      push=PushChainFiles(folder=tmp_path))
    report = replay(config, sources, ReplayRequest(first=demo.today - timedelta(days=60), last=demo.today, every=timedelta(minutes=30)))
    # The broken day: phase 4 never started (the 3->4 stall), no predictions, and at noon the day before's phase 3
    # is judged incomplete (the demo's partial day: 3 of 5 processors). Nothing on the 60 days before it.
    assert {(i.monitor, i.key["game_date"], i.key["problem"], i.resolved_at) for i in report.incidents} == {
        ("phase_stalls", "2026-11-21", "stalled", None),
        ("missing_predictions", "2026-11-21", "none", None),
        ("phase_stalls", "2026-11-20", "incomplete", None),
    }
    assert {n.at.astimezone(config.zone).date() for n in report.notices} == {demo.today}


@pytest.mark.servers
def test_the_same_replay_on_bigquery(tmp_path: Path, bqemulator: BqEmulator, fake_cloud_run: FakeCloudRun) -> None:  # noqa: F811
    """google-cloud-bigquery against bqemulator: the same range queries give the same notices."""
    scenario = history()
    on_duckdb = local_stack(tmp_path / "local")
    on_duckdb.load(scenario)
    on_bigquery = gcp_stack(
        tmp_path / "gcp", bigquery_endpoint=bqemulator.endpoint, run_endpoint=fake_cloud_run.endpoint,
        load_warehouse=lambda project, s: bqemulator.load(project, s.rows_by_table),
        set_policies=fake_cloud_run.set_policies, project=bqemulator.new_project(),
        monitoring_endpoint="127.0.0.1:9", load_push=lambda scenario: None,
    )
    on_bigquery.load(scenario)
    request = ReplayRequest(first=D1, last=D3, every=timedelta(minutes=30))
    expected = replay(on_duckdb.config, on_duckdb.canary.sources, request)
    got = replay(on_bigquery.config, on_bigquery.canary.sources, request)
    assert len(expected.notices) > 10
    assert got.notices == expected.notices and got.incidents == expected.incidents
