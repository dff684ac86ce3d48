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
    with pytest.raises(ValueError, match=r"pipeline.transitions\[1\].complete_by: 50h is after the last moment"):
        Config().check_against(late)
    Config(lookback_days=2).check_against(late)  # judged until 72 h: fine


@pytest.mark.parametrize("old, new, message", [
    ('complete_by = "36h"', 'complete_by = "50h"', "pipeline.transitions[1].complete_by: 50h is after the last moment a game date is judged"),
    ('services = ["phase3-to-phase4-orchestrator", { service = "nba-phase4-precompute-processors", topic = "nba-phase4-trigger" }]',
     "services = []", "pipeline.transitions[1]: services: empty, so no hop of its push path would be checked"),
    ('services = ["phase3-to-phase4-orchestrator", {', 'service = "x"\nservices = ["phase3-to-phase4-orchestrator", {',
     "pipeline.transitions[1]: give `service` (one hop) or `services` (every hop, in order), not both"),
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
        ({"services": ["a", {"service": "a", "topic": "t"}]}, "a service is listed twice"),
    ]
    for change, message in cases:
        data = {**base, "transitions": [dict(t) for t in base["transitions"]]}
        data["transitions"][1] |= change
        with pytest.raises(ValidationError, match=re.escape(message)):
            Pipeline.model_validate(data)
