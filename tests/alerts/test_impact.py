"""A parent's first line (alerts/impact.py): the impact and the time left when the chain reaches tonight's predictions."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.digest import Slate
from alerts.impact import impact_line, reaches_predictions
from core.model import Decision, Finding, Reason, Severity
from tests.conftest import PROJECT_ROOT, run_cli
from tests.production import PIPELINE
from tests.slack_cases import iam_findings, prediction_findings, stall_finding

NEW_YORK = ZoneInfo("America/New_York")
TONIGHT = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)  # 18:30 EST
TIP_OFF = datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc)  # 19:00 EST
IAM = iam_findings()["missing_invoker"]  # phase4-to-phase5-orchestrator
STALL = stall_finding()  # 4->5, TONIGHT
NONE = prediction_findings()["none"]
PARTIAL = prediction_findings()["partial"]


def first(finding: Finding, *affects: Finding, **extra: object) -> Decision:
    return Decision(fingerprint=finding.fingerprint, reason=Reason.FIRST, finding=finding, affects=list(affects), **extra)


def upstream_iam() -> Finding:
    return Finding(monitor="orchestrator_iam", severity=Severity.CRITICAL, summary="x",
                   key={"service": PIPELINE.transitions[0].service or "", "problem": "missing_invoker"})


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (first(IAM, STALL, NONE), True),  # the demo's chain
        (first(IAM), True),  # its service starts the predictions phase: tonight's predictions at risk
        (first(STALL), True),
        (first(NONE), True),
        (first(stall_finding().model_copy(update={"key": {**STALL.key, "game_date": "2026-11-20"}})), False),  # not tonight
        (first(iam_findings()["public_invoker"]), False),  # lets too many in: stops nothing
        (first(STALL, in_cause_thread=True), False),  # a reply: the parent carries the line
        (Decision(fingerprint=IAM.fingerprint, reason=Reason.REPEAT, finding=IAM, affects=[STALL]), True),  # a cause's repeat
    ],
)
def test_which_parents_reach_tonights_predictions(decision: Decision, expected: bool) -> None:
    assert reaches_predictions(PIPELINE, decision, TONIGHT) is expected


@pytest.mark.parametrize(
    ("decision", "slate", "expected"),
    [
        (first(IAM, STALL, NONE), Slate(8, TIP_OFF, None), "no predictions for tonight's 8 games; first tip-off 19:00 EST, in 30 min"),
        (first(IAM), Slate(1, TIP_OFF, None), "predictions for tonight's game at risk; first tip-off 19:00 EST, in 30 min"),
        (first(PARTIAL), Slate(3, TIP_OFF - timedelta(hours=1), None),
         "predictions missing for some of tonight's 3 games; first tip-off 18:00 EST, started 30 min ago"),
        (first(IAM, NONE), Slate(8, None, None), "no predictions for tonight's 8 games"),
        (first(IAM, NONE), Slate(0, None, None), None),  # no games tonight: no impact to state
    ],
)
def test_the_impact_line_says_what_tonight_loses_and_the_time_left(decision: Decision, slate: Slate, expected: str | None) -> None:
    assert impact_line(decision, slate=slate, now=NOW, zone=NEW_YORK, tonight=TONIGHT) == expected


@pytest.mark.parametrize("digest", [False, True], ids=["no-digest", "with-digest"])
def test_the_demo_parent_opens_with_the_impact_and_the_slate_is_read_once(
    digest: bool, local_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `main.py demo`: the parent's first line, the replies without it, one slate query for the run (the
    digest, when it is due, shares it)."""
    import run.digest as digest_module

    if digest:
        monkeypatch.setenv("CANARY_CONFIG", str(PROJECT_ROOT / "canary.toml"))
    reads: list[int] = []
    real = digest_module.read_slate
    monkeypatch.setattr(digest_module, "read_slate", lambda *a, **k: reads.append(1) or real(*a, **k))
    assert run_cli("demo").code == 0
    entries = [json.loads(line) for line in (local_dir / "notifications.jsonl").read_text(encoding="utf-8").splitlines()]
    # Two broken bindings, two parents: the second hop's chain stops tonight's predictions (its stall and the missing
    # predictions are in its thread); the phase-5 orchestrator's puts them at risk (nothing reached it yet). The
    # demo's other incidents (backup jobs, yesterday's partial phase 3) say nothing of tonight.
    parents = {e["where"]["service"]: e for e in entries
               if e.get("thread") is None and e["reason"] == "first" and e.get("monitor") == "orchestrator_iam"}
    headline = parents["nba-phase4-precompute-processors"]["text"].splitlines()[0]
    assert headline.startswith("FIRING [CRITICAL] no predictions for tonight's ")
    assert "; first tip-off 19:00 EST, in 30 min: orchestrator_iam: " in headline
    assert parents["phase4-to-phase5-orchestrator"]["text"].startswith("FIRING [CRITICAL] predictions for tonight's ")
    assert all("tip-off" not in e["text"].splitlines()[0] for e in entries
               if e.get("thread") is None and e.get("monitor") in ("scheduler_jobs", "phase_stalls"))
    assert all("tip-off" not in e["text"].splitlines()[0] for e in entries if e.get("thread") is not None)
    assert [e["reason"] for e in entries if e["reason"] == "digest"] == (["digest"] if digest else [])
    assert len(reads) == 1
