"""phase_stalls' partial phases: `complete_by` per transition (incomplete) and `retry_grace` (failed), judged
as pure functions of the rows at a moment, and the configuration checks that keep them from being silent."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from pathlib import Path

from core.config import DEFAULT_CONFIG_PATH, Pipeline
from core.model import CheckResult
from monitors.base import CheckContext
from monitors.phase_stalls import Config, judge
from tests.conftest import run_cli
from tests.production import PIPELINE, production_toml
from tests.scenario import NEW_YORK, Scenario, local

D = date(2026, 11, 20)
NEXT = D + timedelta(days=1)
P3 = "phase_3_analytics"


def required_pipeline(**transition: Any) -> Pipeline:
    """canary.toml's pipeline with 3->4 judged by two required processors (and the given keys)."""
    data = PIPELINE.model_dump(by_alias=True)
    data["transitions"][1] |= {"min_processors": None, "required_processors": ["PlayerGameSummaryProcessor",
                                                                                "TeamDefenseGameSummaryProcessor"], **transition}
    return Pipeline.model_validate(data)


def judged(scenario: Scenario, now_local: tuple[date, str], *, pipeline: Pipeline = PIPELINE, config: Config | None = None) -> CheckResult:
    day, hh_mm = now_local
    rows = [
        {**row, "success": row["status"] == "success"} for row in scenario.phase_rows
    ]
    ctx = CheckContext(now=local(day, hh_mm), today=day, zone=NEW_YORK, pipeline=pipeline)
    return judge(config or Config(), rows, ctx)


def test_with_required_processors_the_incomplete_phase_names_those_that_have_not_succeeded() -> None:
    s = Scenario()
    s.completion(D, P3, "UpcomingPlayerGameContextProcessor", local(D, "10:30"))
    s.completion(D, P3, "PlayerGameSummaryProcessor", local(NEXT, "06:10"))
    [found] = judged(s, (NEXT, "12:01"), pipeline=required_pipeline()).findings
    assert found.key == {"phase": P3, "game_date": D.isoformat(), "problem": "incomplete"}
    assert found.details["processors_succeeded"] == ["PlayerGameSummaryProcessor", "UpcomingPlayerGameContextProcessor"]
    assert found.details["processors_not_succeeded"] == ["TeamDefenseGameSummaryProcessor"]
    assert found.summary == f"{P3} is incomplete for {D}: 1 of the 2 required processors succeeded"


def test_the_incomplete_phase_says_whether_the_next_phase_ran_on_partial_input_or_has_not_run() -> None:
    """Session 207: the 3->4 orchestrator started phase 4 on 3 of 5 processors. Saying 'phase 4 waits for it'
    then sends the on-call looking for a stall that is not there."""
    s = Scenario()
    s.completion(D, P3, "UpcomingPlayerGameContextProcessor", local(D, "10:30"))
    s.completion(D, P3, "PlayerGameSummaryProcessor", local(NEXT, "06:10"))
    [waiting] = judged(s, (NEXT, "12:01"), pipeline=required_pipeline()).findings
    assert waiting.details["evidence"].endswith(": phase_4_precompute has not run for it")
    s.completion(D, "phase_4_precompute", "PlayerDailyCacheProcessor", local(NEXT, "07:05"))
    [ran] = judged(s, (NEXT, "12:01"), pipeline=required_pipeline()).findings
    assert ran.details["evidence"].endswith(
        ": phase_4_precompute ran for it anyway (first success 2026-11-21 07:05 EST (12:05 UTC)), on partial input")
    assert ran.fingerprint == waiting.fingerprint  # the same incident, told more exactly


def test_not_started_is_not_incomplete_and_unset_complete_by_is_not_judged() -> None:
    s = Scenario().completion(D, "phase_2_raw", "NbacScheduleProcessor", local(D, "06:00"))
    assert judged(s, (NEXT, "18:00")).findings == []  # phase 3 never started: a stall's business, not this
    s.completion(D, P3, "UpcomingPlayerGameContextProcessor", local(D, "10:30"))
    assert [f.key["problem"] for f in judged(s, (NEXT, "18:00")).findings] == ["incomplete"]
    no_deadline = required_pipeline(complete_by=None)
    assert judged(s, (NEXT, "18:00"), pipeline=no_deadline).findings == []


def test_a_failure_retried_later_is_quiet_and_a_longer_retry_grace_waits() -> None:
    s = Scenario()
    s.completion(D, P3, "UpcomingPlayerGameContextProcessor", local(D, "10:30"), status="failed")
    assert [f.key["problem"] for f in judged(s, (D, "11:31")).findings] == ["failed"]
    assert judged(s, (D, "11:31"), config=Config(retry_grace=timedelta(hours=2))).findings == []
    s.completion(D, P3, "UpcomingPlayerGameContextProcessor", local(D, "11:00"))
    assert judged(s, (D, "11:31")).findings == []
    s.completion(D, P3, "UpcomingPlayerGameContextProcessor", local(D, "12:00"), status="running")  # neither
    assert judged(s, (D, "14:00")).findings == []


def test_a_complete_by_past_the_judged_window_is_a_configuration_error() -> None:
    late = required_pipeline(complete_by="50h")  # lookback_days = 1 judges a game date until 48 h after its 00:00
    with pytest.raises(ValueError, match=r"pipeline.transitions\[phase_3_analytics->phase_4_precompute\].complete_by: 50h is after the last moment"):
        Config().check_against(late)
    Config(lookback_days=2).check_against(late)  # judged until 72 h: fine


@pytest.mark.parametrize("old, new, message", [
    ('complete_by = "36h"', 'complete_by = "50h"', "pipeline.transitions[phase_3_analytics->phase_4_precompute].complete_by: 50h is after the last moment a game date is judged"),
    ('services = ["phase3-to-phase4-orchestrator", { service = "nba-phase4-precompute-processors", topic = "nba-phase4-trigger" }]',
     "services = []", "pipeline.transitions[phase_3_analytics->phase_4_precompute]: services: empty, so no hop of its push path would be checked"),
    ('services = ["phase3-to-phase4-orchestrator", {', 'service = "x"\nservices = ["phase3-to-phase4-orchestrator", {',
     "pipeline.transitions[phase_3_analytics->phase_4_precompute]: give `service` (one hop) or `services` (every hop, in order), not both"),
])
def test_check_config_refuses_a_push_path_or_a_deadline_that_would_check_nothing(
    local_dir: Path, tmp_path: Path, old: str, new: str, message: str,
) -> None:
    path = tmp_path / "canary.toml"
    path.write_text(production_toml(old, new), encoding="utf-8")
    result = run_cli("check-config", str(path))
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert run_cli("check-config", str(DEFAULT_CONFIG_PATH)).code == 0


def test_transition_services_are_checked_against_themselves() -> None:
    base = PIPELINE.model_dump(by_alias=True)
    cases = [
        ({"services": []}, "services: empty"),
        ({"service": "phase3-to-phase4-orchestrator"}, "give `service` (one hop) or `services`"),
        ({"services": ["a", {"service": "a", "topic": "nba-topic"}]}, "a service is listed twice"),
        ({"services": ["a", {"service": "b", "topic": "goog-x"}]}, "not a Pub/Sub topic id"),
    ]
    for change, message in cases:
        data = {**base, "transitions": [dict(t) for t in base["transitions"]]}
        data["transitions"][1] |= change
        with pytest.raises(ValidationError, match=re.escape(message)):
            Pipeline.model_validate(data)


# --- quiet on the demo's season, and able to fire there -------------------------------------------------


def demo_replay(tmp_path: Path, *, history_days: int, change: Any = None) -> list[tuple[str, str, str, str | None]]:
    """Replay phase_stalls over the demo's history with canary.toml (complete_by = 36h on 3->4, retry_grace 1h)."""
    from datetime import datetime, timezone

    from demo.pipeline import build_demo, write_demo
    from monitors.base import Sources
    from run.configure import load_config
    from run.replay import ReplayRequest, replay
    from sources.duckdb_warehouse import DuckDbWarehouse
    from sources.iam_file import IamPolicyFile
    from sources.push_files import PushChainFiles
    from tests.production import PUSH_MEMBER, SERVICES

    config = load_config(DEFAULT_CONFIG_PATH)
    demo = build_demo(
        now=datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc), zone=config.zone, services=list(SERVICES),
        push_member=PUSH_MEMBER, history_days=history_days, project=config.pipeline.project, region=config.pipeline.region,
    )
    if change:
        change(demo)
    write_demo(demo, tmp_path)
    sources = Sources(warehouse=DuckDbWarehouse(path=tmp_path / "warehouse.duckdb"),
                      iam=IamPolicyFile(path=tmp_path / "iam_policies.json"), push=PushChainFiles(folder=tmp_path))
    report = replay(config, sources, ReplayRequest(first=demo.today - timedelta(days=history_days), last=demo.today,
                                                   every=timedelta(minutes=30), monitors=("phase_stalls",)))
    return sorted((i.key.get("game_date", ""), i.key["problem"], i.key.get("processor") or i.key.get("phase") or i.key.get("transition", ""),
                   i.opened_at.astimezone(NEW_YORK).strftime("%m-%d %H:%M")) for i in report.incidents)


def test_partial_phases_are_quiet_on_the_demos_healthy_days_and_fire_on_an_injected_one(tmp_path: Path) -> None:
    # The demo's season: phase 3 runs several times a day and one processor fails then succeeds 10 min later. Its
    # own partial day (the day before the broken one: 3 of 5 processors, none failed) is judged at noon of the broken
    # day, its complete_by, and not before: the day itself is quiet.
    demo_own = [
        ("2026-11-20", "incomplete", P3, "11-21 12:30"),  # noon of the next day, at the next tick
        ("2026-11-21", "stalled", "phase_3_analytics->phase_4_precompute", "11-21 08:30"),  # the broken day
    ]
    assert demo_replay(tmp_path / "healthy", history_days=6) == demo_own

    def partial_phase_3(demo: Any) -> None:
        """Three days back: two of phase 3's morning-after processors never succeed, one of them failed."""
        from sources.tables import PHASE_COMPLETIONS

        rows = demo.rows[PHASE_COMPLETIONS]
        day = demo.today - timedelta(days=3)
        gone = {"PlayerGameSummaryProcessor", "TeamDefenseGameSummaryProcessor"}
        rows[:] = [r for r in rows if not (r["game_date"] == day and r["phase"] == P3 and r["processor_name"] in gone)]
        rows.append({"game_date": day, "phase": P3, "processor_name": "PlayerGameSummaryProcessor", "status": "failed",
                     "completed_at": local(day + timedelta(days=1), "06:10"), "record_count": None, "execution_id": "x"})

    injected = demo_replay(tmp_path / "partial", history_days=6, change=partial_phase_3)
    assert injected == [
        ("2026-11-18", "failed", "PlayerGameSummaryProcessor", "11-19 07:30"),  # 06:10 + 1 h, at the next tick
        ("2026-11-18", "incomplete", P3, "11-19 12:30"),  # noon of the next day, at the next tick
        *demo_own,
    ]
