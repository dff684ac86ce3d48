"""The links an alert carries: which services, which windows."""

from __future__ import annotations

from datetime import date, timedelta

from alerts.links import LinkContext, alert_links
from alerts.render_text import render_text
from core.model import Reason
from monitors.base import CheckContext
from monitors.phase_stalls import Config, judge
from tests.production import CONFIG, PIPELINE
from tests.scenario import NEW_YORK, Scenario, local
from tests.slack_cases import message

D = date(2026, 11, 20)
P3_PROCESSORS = ("PlayerGameSummaryProcessor", "TeamOffenseGameSummaryProcessor", "TeamDefenseGameSummaryProcessor",
                 "UpcomingPlayerGameContextProcessor", "UpcomingTeamGameContextProcessor")


def test_a_stall_of_a_two_hop_transition_links_every_hop_service() -> None:
    """canary.toml's 3->4 has two hops; the demo's break is on the second, so links to the first alone send the
    on-call to a healthy orchestrator."""
    scenario = Scenario()
    for processor in P3_PROCESSORS:
        scenario.completion(D, "phase_3_analytics", processor, local(D, "07:00"))
    rows = [{**row, "success": row["status"] == "success"} for row in scenario.phase_rows]
    now = local(D, "12:00")
    result = judge(Config(), rows, CheckContext(now=now, today=D, zone=NEW_YORK, pipeline=PIPELINE))
    [stall] = [f for f in result.findings if f.key.get("transition") == "phase_3_analytics->phase_4_precompute"]
    links = alert_links(LinkContext(pipeline=PIPELINE, links=CONFIG.links), monitor=stall.monitor, key=stall.key,
                        details=stall.details, start=now - timedelta(hours=1), end=now)
    labels = [label for label, _ in links]
    assert labels[:4] == [
        "Cloud Run: phase3-to-phase4-orchestrator", "Logs: phase3-to-phase4-orchestrator",
        "Cloud Run: nba-phase4-precompute-processors", "Logs: nba-phase4-precompute-processors",
    ]
    text = render_text(message(stall, Reason.FIRST))
    assert "nba-phase4-precompute-processors?project=" in text  # the second hop's Cloud Run link is in the alert
    assert not any(line.strip().startswith("services:") for line in text.splitlines())  # a link's input, not a fact


def test_a_one_service_alert_links_that_service_once() -> None:
    ctx = LinkContext(pipeline=PIPELINE, links=CONFIG.links)
    now = local(D, "12:00")
    links = alert_links(ctx, monitor="orchestrator_iam", key={"service": "phase4-to-phase5-orchestrator", "problem": "missing_invoker"},
                        details={}, start=now, end=now)
    assert [label for label, _ in links if label.startswith(("Cloud Run", "Logs"))] == [
        "Cloud Run: phase4-to-phase5-orchestrator", "Logs: phase4-to-phase5-orchestrator"]
