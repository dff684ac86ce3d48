"""Issue 20, Why 6: a monitor that could judge none of its targets is blind, never `ok`.

Every service's policy lacks the push member, so each needs the project's IAM policy to be judged; that
policy is unreadable. Before the fix orchestrator_iam and push_delivery answered `ok` (every target
"unread", none judged): the heartbeat pinged success and the digest said all clear. The outcome is
ERROR: its one "canary degraded" alert, a /fail ping, and a digest that is not all clear.
"""

from __future__ import annotations

import json

from core.model import CheckResult, Judged, UnreadTarget
from tests.conftest import run_cli
from tests.production import PIPELINE
from tests.scenario import Scenario

T0 = "2026-11-21T23:30:00Z"


def blind_scenario() -> Scenario:
    scenario = Scenario()
    for service in PIPELINE.services:
        scenario.policy(service, {"bindings": []})
    return scenario


def test_a_monitor_that_judged_no_service_is_an_error_with_its_canary_degraded_not_ok(local_dir):
    blind_scenario().write_local(local_dir)
    (local_dir / "project_iam_policy.json").write_text("[1, 2", encoding="utf-8")  # unreadable
    result = run_cli("run", "--json", "--now", T0, "--monitors", "orchestrator_iam,push_delivery")
    assert result.code == 0, result.stderr
    monitors = {m["name"]: m for m in result.report["monitors"]}
    for name in ("orchestrator_iam", "push_delivery"):
        assert monitors[name]["outcome"] == "error" and "judged no service" in monitors[name]["error"], monitors[name]
    degraded = sorted(f["key"]["monitor"] for f in result.report["findings"] if f["monitor"] == "canary")
    assert degraded == ["orchestrator_iam", "push_delivery"]  # one each, not one per service
    [log] = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert log["errored_monitors"] == ["orchestrator_iam", "push_delivery"]  # the heartbeat pings /fail on this


def test_one_service_judged_is_enough_to_keep_the_monitors_outcome():
    some = CheckResult(judged=Judged(label="service", targets=["a"], unread=[UnreadTarget(target="b", source="s", error="e")]))
    none = CheckResult(judged=Judged(label="service", targets=[], unread=[UnreadTarget(target="b", source="s", error="e")]))
    assert some.judged_nothing() is None and none.judged_nothing() is not None
    assert CheckResult(judged=Judged(label="service", targets=[])).judged_nothing() is None  # nothing to judge: not blind
