"""Causes from the pipeline's topology (alerts/causes.py): which finding explains which, and the threads
that follow, on both state stores (SQLite and Firestore on its emulator).

The notifier here is a recording stand-in shaped like Slack (every post has its own ts, a reply names its
parent); tests/alerts/test_slack.py drives the same rules through the real Slack client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import pytest
from pydantic import SecretStr

from alerts.causes import causes_of, explains
from alerts.pipeline import Judgement, NoticeRun, decide_all
from alerts.decide import decide
from alerts.deliver import deliver, plan
from alerts.firestore_state import FirestoreStateStore
from alerts.message import AlertMessage
from alerts.notifier import DeliveryError, Receipt, ThreadRef
from alerts.render_slack import render_alert
from alerts.slack import SlackNotifier
from alerts.sqlite_state import SqliteStateStore
from alerts.state import StateStore, records_for_decide
from core.config import AlertsConfig, FirestoreConfig, Pipeline, SlackConfig
from core.model import Finding, NotificationReport, Reason, Severity, Silence
from tests.production import PIPELINE
from tests.servers.fake_slack import TOKEN, FakeSlack, fake_slack  # noqa: F401  (fixture)
from tests.servers.firestore_emulator import firestore_emulator, firestore_env  # noqa: F401  (fixtures)
from tests.alerts.test_render_slack import check_golden
from tests.slack_cases import NOW, TODAY, iam_findings, prediction_findings, stall_finding

ALERTS = AlertsConfig()
SLACK = SlackConfig(channel="#nba-pipeline-alerts")
EVERY_MONITOR = frozenset({"orchestrator_iam", "phase_stalls", "missing_predictions", "push_delivery"})

IAM = iam_findings()["missing_invoker"]  # phase4-to-phase5-orchestrator
STALL = stall_finding()  # phase_4_precompute->phase_5_predictions, TODAY
PREDICTIONS = prediction_findings()["none"]  # TODAY
DEMO = [IAM, STALL, PREDICTIONS]


def finding(monitor: str, **key: str) -> Finding:
    return Finding(monitor=monitor, severity=Severity.CRITICAL, key=key, summary=f"{monitor} {key}")


def stall(transition: str, game_date: date = TODAY) -> Finding:
    return finding("phase_stalls", transition=transition, game_date=game_date.isoformat(), problem="stalled")


# --- the rules, derived from [pipeline] --------------------------------------------------------------


def test_an_iam_problem_explains_the_stall_of_the_transition_its_service_starts_for_any_game_date() -> None:
    for transition in PIPELINE.transitions:
        assert transition.hops
        for hop in transition.hops:  # every hop of its push path: 3->4's second hop too
            problem = finding("orchestrator_iam", service=hop.service, problem="missing_invoker")
            for other in PIPELINE.transitions:
                for day in (TODAY, TODAY - timedelta(days=1)):
                    assert explains(PIPELINE, problem, stall(other.label, day)) is (other is transition)


def test_a_broken_second_hop_is_the_root_of_its_transitions_stall_not_the_healthy_orchestrator() -> None:
    second = finding("orchestrator_iam", service="nba-phase4-precompute-processors", problem="missing_invoker")
    push = finding("push_delivery", service="nba-phase4-precompute-processors", problem="pushes_failing")
    late = stall("phase_3_analytics->phase_4_precompute")
    later = stall("phase_4_precompute->phase_5_predictions")
    assert causes_of(PIPELINE, [late, push, second, PREDICTIONS]) == {
        late.fingerprint: second.fingerprint, push.fingerprint: second.fingerprint, PREDICTIONS.fingerprint: second.fingerprint,
    }
    assert not explains(PIPELINE, second, later)


def partial(problem: str, phase: str, game_date: date = TODAY, **more: str) -> Finding:
    return finding("phase_stalls", phase=phase, game_date=game_date.isoformat(), problem=problem, **more)


def test_a_partial_phase_is_explained_by_the_stall_into_it_or_a_broken_hop_that_starts_it() -> None:
    incomplete = partial("incomplete", "phase_3_analytics")
    failed = partial("failed", "phase_4_precompute", processor="MlFeatureStoreProcessor")
    trigger = finding("orchestrator_iam", service="nba-phase3-analytics-processors", problem="missing_invoker")
    second = finding("push_delivery", service="nba-phase4-precompute-processors", problem="push_account_cannot_invoke")
    assert explains(PIPELINE, trigger, incomplete) and not explains(PIPELINE, trigger, failed)
    assert explains(PIPELINE, second, failed) and not explains(PIPELINE, second, incomplete)
    into4 = stall("phase_3_analytics->phase_4_precompute")
    assert explains(PIPELINE, into4, failed)
    assert not explains(PIPELINE, into4, incomplete)  # the stall out of phase 3 is not the stall into it
    assert not explains(PIPELINE, stall("phase_3_analytics->phase_4_precompute", TODAY - timedelta(days=1)), failed)
    assert not explains(PIPELINE, failed, into4) and not explains(PIPELINE, incomplete, PREDICTIONS)
    assert causes_of(PIPELINE, [failed, into4, second]) == {failed.fingerprint: second.fingerprint, into4.fingerprint: second.fingerprint}


def test_a_push_problem_explains_the_stall_and_an_iam_problem_explains_the_push_problem_of_its_service() -> None:
    push = finding("push_delivery", service="phase4-to-phase5-orchestrator", problem="push_failing")
    other_push = finding("push_delivery", service="phase3-to-phase4-orchestrator", problem="push_failing")
    assert explains(PIPELINE, push, STALL)
    assert explains(PIPELINE, IAM, push) and not explains(PIPELINE, IAM, other_push)
    assert not explains(PIPELINE, push, IAM)
    assert causes_of(PIPELINE, [STALL, push, IAM]) == {STALL.fingerprint: IAM.fingerprint, push.fingerprint: IAM.fingerprint}


S45, S34 = "phase4-to-phase5-orchestrator", "phase3-to-phase4-orchestrator"


@pytest.mark.parametrize(
    ("cause", "effect", "expected"),
    [
        ((S45, "push_account_cannot_invoke"), (S45, "pushes_failing"), True),
        ((S45, "push_account_cannot_invoke"), (S45, "backlog"), True),
        ((S45, "pushes_failing"), (S45, "backlog"), True),
        ((S45, "pushes_failing"), (S45, "push_account_cannot_invoke"), False),
        ((S45, "backlog"), (S45, "pushes_failing"), False),
        ((S34, "push_account_cannot_invoke"), (S45, "pushes_failing"), False),
        ((S45, "unauthenticated_push"), (S45, "pushes_failing"), False),
    ],
)
def test_a_push_account_that_cannot_invoke_explains_its_services_failing_pushes_and_backlog(
    cause: tuple[str, str], effect: tuple[str, str], expected: bool
) -> None:
    """Issue 20 item 3: the subscription's account may not be orchestrator_iam's member (orchestrator_iam silent)."""
    assert explains(PIPELINE, finding("push_delivery", service=cause[0], problem=cause[1]),
                    finding("push_delivery", service=effect[0], problem=effect[1])) is expected


def test_one_broken_subscription_account_is_one_thread_when_orchestrator_iam_is_silent() -> None:
    account, failing, backlog = (finding("push_delivery", service=S45, problem=p) for p in
                                 ("push_account_cannot_invoke", "pushes_failing", "backlog"))
    roots = causes_of(PIPELINE, [backlog, STALL, failing, PREDICTIONS, account])
    assert roots == {f.fingerprint: account.fingerprint for f in (backlog, failing, STALL, PREDICTIONS)}
    # With the binding's own finding firing too, that one is the root of all.
    assert set(causes_of(PIPELINE, [backlog, failing, account, IAM]).values()) == {IAM.fingerprint}


def test_a_stall_explains_missing_predictions_of_its_date_when_its_downstream_phase_is_at_or_before_predictions() -> None:
    labels = [t.label for t in PIPELINE.transitions]  # 2->3, 3->4, 4->5, 5->6
    explaining = [label for label in labels if explains(PIPELINE, stall(label), PREDICTIONS)]
    assert explaining == labels[:3]
    assert not explains(PIPELINE, stall(labels[2], TODAY - timedelta(days=1)), PREDICTIONS)


def test_a_public_invoker_explains_nothing_it_does_not_stop_a_push() -> None:
    public = iam_findings()["public_invoker"]
    assert not explains(PIPELINE, public, STALL)
    assert causes_of(PIPELINE, [public, STALL, PREDICTIONS]) == {PREDICTIONS.fingerprint: STALL.fingerprint}


def test_the_root_cause_is_passed_down_the_chain_and_the_most_upstream_stall_wins() -> None:
    assert causes_of(PIPELINE, DEMO) == {STALL.fingerprint: IAM.fingerprint, PREDICTIONS.fingerprint: IAM.fingerprint}
    early, late = stall("phase_2_raw->phase_3_analytics"), stall("phase_3_analytics->phase_4_precompute")
    assert causes_of(PIPELINE, [late, PREDICTIONS, early]) == {PREDICTIONS.fingerprint: early.fingerprint}


def test_the_rules_follow_the_configuration_not_a_list_of_pairs() -> None:
    # Move the orchestrator to another hand-off and make phase 6 the predictions phase: the rules follow.
    data: dict[str, Any] = PIPELINE.model_dump(by_alias=True)
    data["transitions"][1]["services"] = None
    data["transitions"][1]["service"] = "phase4-to-phase5-orchestrator"
    data["transitions"][2]["service"] = "something-else"
    data["predictions_phase"] = "phase_6_publishing"
    moved = Pipeline.model_validate(data)
    assert explains(moved, IAM, stall("phase_3_analytics->phase_4_precompute"))
    assert not explains(moved, IAM, STALL)
    assert explains(moved, stall("phase_5_predictions->phase_6_publishing"), PREDICTIONS)


# --- threads, on both stores ------------------------------------------------------------------------------


@dataclass
class Post:
    kind: str
    """post (chat.postMessage), edit (a parent rewritten) or resolved-parent (a parent marked resolved)."""
    message: AlertMessage
    thread: str | None
    ts: str


@dataclass
class Recorder:
    """A Notifier shaped like Slack: each post gets its own ts; a reply carries its parent's ts."""

    posts: list[Post] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    """Fingerprints whose notices are refused (a failed delivery)."""

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        if message.fingerprint in self.refuse:
            raise DeliveryError("Slack chat.postMessage refused: channel_not_found")
        ts = f"{1700000000 + len(self.posts)}.000100"
        self.posts.append(Post("post", message, thread.ts if thread else None, ts))
        return Receipt(channel="C0ALERTS", ts=ts)

    def mark_resolved(self, message: AlertMessage, *, thread: ThreadRef) -> None:
        self.posts.append(Post("resolved-parent", message, thread.ts, thread.ts))

    def edit_parent(self, parent: Any) -> None:
        assert parent.message is not None, "a single incident's parent"
        self.posts.append(Post("edit", parent.message, parent.thread.ts, parent.thread.ts))

    def since(self, mark: int) -> list[Post]:
        return self.posts[mark:]

    def parent_of(self, fingerprint: str) -> Post:
        return next(p for p in self.posts if p.kind == "post" and p.thread is None and p.message.fingerprint == fingerprint)


@dataclass
class Canary:
    store: StateStore
    notifier: Recorder = field(default_factory=Recorder)
    silences: list[Silence] = field(default_factory=list)

    def run(self, findings: Iterable[Finding], *, at: datetime, succeeded: Iterable[str] = EVERY_MONITOR) -> list[NotificationReport]:
        """One run as the notice pipeline does it: decide, thread by cause, deliver."""
        findings = list(findings)
        previous = records_for_decide(self.store, fingerprints=[f.fingerprint for f in findings])
        run = NoticeRun(store=self.store, notifier=self.notifier, owner=f"run-{at:%H%M}", now=at, alerts=ALERTS,
                        pipeline=PIPELINE, channel_for=SLACK.channel_for)
        decided, _ = decide_all(run, findings=findings, previous=previous, silences=self.silences,
                                judgement=Judgement(succeeded=frozenset(succeeded)))
        return deliver(
            plan(decided.notify, now=at), store=self.store, notifier=self.notifier, owner=f"run-{at:%H%M}", now=at,
            alerts=ALERTS, channel_for=SLACK.channel_for, refresh=plan(decided.refresh, now=at),
        )

    def record(self, finding: Finding):  # type: ignore[no-untyped-def]
        return self.store.load(fingerprints=[finding.fingerprint])[finding.fingerprint]

    def silence(self, finding: Finding, *, at: datetime) -> None:
        self.silences.append(Silence(
            id=f"s{len(self.silences) + 1}", matchers={"monitor": finding.monitor, **finding.key}, author="oncall",
            reason="known", created_at=at, expires_at=at + timedelta(days=1),
        ))


@pytest.fixture(params=["sqlite", "firestore"])
def canary(request: pytest.FixtureRequest, tmp_path: Path) -> Canary:
    if request.param == "sqlite":
        return Canary(store=SqliteStateStore(path=tmp_path / "state.sqlite3"))
    emulator = request.getfixturevalue("firestore_env")
    return Canary(store=FirestoreStateStore(project=emulator.project, config=FirestoreConfig()))


def reasons(reports: list[NotificationReport]) -> dict[str, Reason]:
    return {r.fingerprint: r.reason for r in reports if r.delivered}


def test_the_demo_is_one_parent_with_its_effects_in_its_thread_and_one_repeat_naming_all_three(canary: Canary) -> None:
    sent = canary.run(DEMO, at=NOW)
    assert all(r.delivered and r.reason is Reason.FIRST for r in sent)
    parent, *replies = canary.notifier.posts
    assert (parent.message.fingerprint, parent.thread) == (IAM.fingerprint, None)
    assert [(r.message.fingerprint, r.thread) for r in replies] == [(STALL.fingerprint, parent.ts), (PREDICTIONS.fingerprint, parent.ts)]
    assert [line.split(":")[0] for line in parent.message.affects] == ["[CRITICAL] phase_stalls", "[CRITICAL] missing_predictions"]
    assert all(r.message.caused_by == IAM.fingerprint and r.message.cause.startswith("orchestrator_iam: ") for r in replies)
    for effect in (STALL, PREDICTIONS):
        stored = canary.record(effect)
        assert (stored.thread_ts, stored.caused_by) == (parent.ts, IAM.fingerprint)
    assert canary.record(IAM).caused_by is None

    assert canary.run(DEMO, at=NOW + timedelta(minutes=30)) == []
    mark = len(canary.notifier.posts)
    repeat = canary.run(DEMO, at=NOW + timedelta(hours=2))
    assert reasons(repeat) == {IAM.fingerprint: Reason.REPEAT}
    [reply] = canary.notifier.since(mark)
    assert reply.thread == parent.ts and len(reply.message.affects) == 2  # one reply naming all three
    # Every run after it is quiet until the next repeat is due, which again names all three.
    for minutes in (30, 60, 90):
        assert canary.run(DEMO, at=NOW + timedelta(hours=2, minutes=minutes)) == []
    assert reasons(canary.run(DEMO, at=NOW + timedelta(hours=4))) == {IAM.fingerprint: Reason.REPEAT}


def test_an_effect_new_in_a_later_run_joins_the_thread_and_the_parent_is_edited_to_list_it(canary: Canary) -> None:
    canary.run([IAM], at=NOW)
    parent = canary.notifier.parent_of(IAM.fingerprint)
    assert parent.message.affects == []
    mark = len(canary.notifier.posts)
    assert reasons(canary.run([IAM, STALL], at=NOW + timedelta(minutes=30))) == {STALL.fingerprint: Reason.FIRST}
    reply, edit = canary.notifier.since(mark)
    assert (reply.kind, reply.thread, reply.message.fingerprint) == ("post", parent.ts, STALL.fingerprint)
    assert (edit.kind, edit.thread, edit.message.fingerprint) == ("edit", parent.ts, IAM.fingerprint)
    assert len(edit.message.affects) == 1 and "phase_stalls" in edit.message.affects[0]


def test_effects_that_clear_within_the_grace_resolve_in_the_resolved_cause_thread(canary: Canary) -> None:
    canary.run(DEMO, at=NOW)
    parent = canary.notifier.parent_of(IAM.fingerprint)
    mark = len(canary.notifier.posts)
    # The binding is restored; the stall and the missing predictions still fire, about to clear by themselves.
    sent = canary.run([STALL, PREDICTIONS], at=NOW + timedelta(minutes=30))
    assert reasons(sent) == {IAM.fingerprint: Reason.RESOLVED}
    [resolved] = canary.notifier.since(mark)  # no parent shown resolved: its thread still has firing effects
    assert (resolved.kind, resolved.thread) == ("post", parent.ts)
    assert canary.run([STALL, PREDICTIONS], at=NOW + timedelta(hours=1)) == []  # still within the grace
    mark = len(canary.notifier.posts)
    sent = canary.run([], at=NOW + timedelta(hours=1, minutes=30))
    assert reasons(sent) == {STALL.fingerprint: Reason.RESOLVED, PREDICTIONS.fingerprint: Reason.RESOLVED}
    posts = canary.notifier.since(mark)
    assert all(p.thread == parent.ts for p in posts)
    assert not [p for p in canary.notifier.posts if p.kind == "post" and p.thread is None and p is not parent]
    [edit] = [p for p in posts if p.kind == "resolved-parent"]
    assert edit.message.fingerprint == IAM.fingerprint  # the parent shows the cause resolved, not an effect


def test_effects_still_firing_after_the_grace_become_one_new_incident_led_by_the_most_upstream(canary: Canary) -> None:
    canary.run(DEMO, at=NOW)
    parent = canary.notifier.parent_of(IAM.fingerprint)
    canary.run([STALL, PREDICTIONS], at=NOW + timedelta(minutes=30))  # the cause resolves; the grace runs to +2h30
    assert canary.run([STALL, PREDICTIONS], at=NOW + timedelta(hours=2)) == []
    mark = len(canary.notifier.posts)
    sent = canary.run([STALL, PREDICTIONS], at=NOW + timedelta(hours=2, minutes=30))
    assert reasons(sent) == {STALL.fingerprint: Reason.REPEAT, PREDICTIONS.fingerprint: Reason.REPEAT}
    posts = [p for p in canary.notifier.since(mark) if p.kind == "post"]
    [new_parent] = [p for p in posts if p.thread is None]
    assert new_parent.message.fingerprint == STALL.fingerprint  # the most upstream is the parent
    [reply] = [p for p in posts if p.thread is not None]
    assert (reply.message.fingerprint, reply.thread) == (PREDICTIONS.fingerprint, new_parent.ts)
    assert reply.message.cause.startswith("phase_stalls: ")
    assert new_parent.message.why_now.startswith('its cause resolved and it did not: "orchestrator_iam: ')
    assert "missing_predictions" in new_parent.message.affects[0]
    # "check first" names what is left to check, never the resolved orchestrator_iam alert as a step.
    check = dict(new_parent.message.facts)["check first"]
    assert check.startswith("its logs (linked below)") and "has resolved" in check
    assert (canary.record(STALL).thread_ts, canary.record(STALL).caused_by) == (new_parent.ts, None)
    assert (canary.record(PREDICTIONS).thread_ts, canary.record(PREDICTIONS).caused_by) == (new_parent.ts, STALL.fingerprint)
    assert parent.ts not in {p.thread for p in posts}
    # The new incident lives on as one: its repeat names the predictions, then both resolve in its thread.
    assert reasons(canary.run([STALL, PREDICTIONS], at=NOW + timedelta(hours=4, minutes=30))) == {STALL.fingerprint: Reason.REPEAT}
    mark = len(canary.notifier.posts)
    canary.run([], at=NOW + timedelta(hours=5))
    assert {p.thread for p in canary.notifier.since(mark)} == {new_parent.ts}


def test_the_effect_resolving_first_is_a_reply_in_the_cause_thread_which_stays_open(canary: Canary) -> None:
    canary.run(DEMO, at=NOW)
    parent = canary.notifier.parent_of(IAM.fingerprint)
    mark = len(canary.notifier.posts)
    sent = canary.run([IAM, STALL], at=NOW + timedelta(minutes=30))
    assert reasons(sent) == {PREDICTIONS.fingerprint: Reason.RESOLVED}
    [reply] = canary.notifier.since(mark)
    assert (reply.thread, reply.message.reason) == (parent.ts, Reason.RESOLVED)  # no parent edit: the cause still fires
    mark = len(canary.notifier.posts)
    sent = canary.run([], at=NOW + timedelta(hours=1))
    assert reasons(sent) == {IAM.fingerprint: Reason.RESOLVED, STALL.fingerprint: Reason.RESOLVED}
    posts = canary.notifier.since(mark)
    assert all(p.thread == parent.ts for p in posts)
    [edit] = [p for p in posts if p.kind == "resolved-parent"]
    assert edit.message.fingerprint == IAM.fingerprint  # the parent shows the cause resolved, not an effect


def test_a_failed_delivery_of_the_cause_posts_the_effects_as_usual(canary: Canary) -> None:
    canary.notifier.refuse.add(IAM.fingerprint)
    sent = canary.run(DEMO, at=NOW)
    assert [r.delivered for r in sent] == [False, True, True]
    assert all(p.thread is None for p in canary.notifier.posts)  # explaining never hides an alert
    assert canary.record(STALL).caused_by is None
    assert [p.message.caused_by for p in canary.notifier.posts] == [IAM.fingerprint, IAM.fingerprint]
    # The next run delivers the cause; the effects keep their own threads and lifecycle.
    canary.notifier.refuse.clear()
    mark = len(canary.notifier.posts)
    assert reasons(canary.run(DEMO, at=NOW + timedelta(minutes=30))) == {IAM.fingerprint: Reason.FIRST}
    [parent] = canary.notifier.since(mark)
    assert parent.thread is None and len(parent.message.affects) == 2
    assert set(reasons(canary.run(DEMO, at=NOW + timedelta(hours=2, minutes=30)))) == {IAM.fingerprint, STALL.fingerprint, PREDICTIONS.fingerprint}


def test_a_silenced_cause_does_not_silence_its_effects(canary: Canary) -> None:
    canary.silence(IAM, at=NOW)
    sent = canary.run(DEMO, at=NOW)
    assert reasons(sent) == {STALL.fingerprint: Reason.FIRST, PREDICTIONS.fingerprint: Reason.FIRST}
    assert all(p.thread is None for p in canary.notifier.posts)  # no thread to join: their own parents


def test_a_cause_silenced_after_its_thread_opened_mutes_its_effects_repeats_too(canary: Canary) -> None:
    """Issue 20 item 3: silencing a cause left its effects repeating, with no word."""
    canary.run(DEMO, at=NOW)
    canary.silence(IAM, at=NOW + timedelta(minutes=30))
    assert canary.run(DEMO, at=NOW + timedelta(hours=2)) == []
    previous = records_for_decide(canary.store, fingerprints=[f.fingerprint for f in DEMO])
    run = NoticeRun(store=canary.store, notifier=canary.notifier, owner="r", now=NOW + timedelta(hours=2), alerts=ALERTS,
                    pipeline=PIPELINE, channel_for=SLACK.channel_for)
    decided, _ = decide_all(run, findings=DEMO, previous=previous, silences=canary.silences,
                            judgement=Judgement(succeeded=frozenset(EVERY_MONITOR)))
    assert decided.silenced == {f.fingerprint: "s1" for f in DEMO}  # the run report says which silence muted each


def test_a_silenced_effect_stays_silent_when_its_cause_resolves(canary: Canary) -> None:
    canary.run(DEMO, at=NOW)
    canary.silence(STALL, at=NOW)
    sent = canary.run([STALL, PREDICTIONS], at=NOW + timedelta(minutes=30))
    assert reasons(sent) == {IAM.fingerprint: Reason.RESOLVED}  # the effects' grace runs
    sent = canary.run([STALL, PREDICTIONS], at=NOW + timedelta(hours=2, minutes=30))
    assert reasons(sent) == {PREDICTIONS.fingerprint: Reason.REPEAT}
    assert canary.notifier.posts[-1].thread is None  # its own parent: the stall that explains it is silenced


def test_an_effect_of_an_errored_cause_monitor_stays_in_the_thread_and_repeats_there_on_its_own(canary: Canary) -> None:
    canary.run(DEMO, at=NOW)
    parent = canary.notifier.parent_of(IAM.fingerprint)
    # orchestrator_iam errored: its incident neither resolves nor ends, so the effects do not move...
    blind = EVERY_MONITOR - {"orchestrator_iam"}
    assert canary.run([STALL, PREDICTIONS], at=NOW + timedelta(minutes=30), succeeded=blind) == []
    # ...and with no repeat of the cause to name them, they repeat on their own, in its thread.
    mark = len(canary.notifier.posts)
    sent = canary.run([STALL, PREDICTIONS], at=NOW + timedelta(hours=2), succeeded=blind)
    assert reasons(sent) == {STALL.fingerprint: Reason.REPEAT, PREDICTIONS.fingerprint: Reason.REPEAT}
    assert {p.thread for p in canary.notifier.since(mark)} == {parent.ts}


def test_an_effect_due_before_its_warning_cause_is_named_by_the_cause_repeat_sent_then(canary: Canary) -> None:
    conditional = iam_findings()["conditional_invoker"]  # a warning: it repeats every 12 h on its own
    canary.run([conditional, STALL], at=NOW)
    parent = canary.notifier.parent_of(conditional.fingerprint)
    mark = len(canary.notifier.posts)
    sent = canary.run([conditional, STALL], at=NOW + timedelta(hours=2))  # the critical stall is due
    assert reasons(sent) == {conditional.fingerprint: Reason.REPEAT}
    [reply] = canary.notifier.since(mark)
    assert reply.thread == parent.ts and "phase_stalls" in reply.message.affects[0]
    # That repeat named the stall: it is not due again until 2 h after it, and then the same way.
    assert canary.run([conditional, STALL], at=NOW + timedelta(hours=2, minutes=30)) == []
    assert canary.run([conditional, STALL], at=NOW + timedelta(hours=3, minutes=30)) == []
    assert reasons(canary.run([conditional, STALL], at=NOW + timedelta(hours=4))) == {conditional.fingerprint: Reason.REPEAT}


# --- the demo end to end: run report, notifications.jsonl, and Slack -------------------------------------


def test_the_demo_reports_caused_by_and_its_notifications_jsonl_shows_one_thread(local_dir: Path) -> None:
    from tests.conftest import run_cli

    result = run_cli("demo", "--json")
    assert result.code == 0, result.stderr
    findings = result.report["findings"]
    iam_of = {f["key"]["service"]: f["fingerprint"] for f in findings if f["monitor"] == "orchestrator_iam"}
    hop, orchestrator = iam_of["nba-phase4-precompute-processors"], iam_of["phase4-to-phase5-orchestrator"]
    # The second hop's binding explains its push chain, the 3->4 stall and the missing predictions; the phase-5
    # orchestrator's binding explains its push account's finding. The backup jobs (paused, refused) and yesterday's
    # partial phase 3 are incidents of their own.
    roots = {f["fingerprint"] for f in findings if f["caused_by"] is None}
    assert {(f["monitor"], f["key"]["problem"]) for f in findings if f["fingerprint"] in roots} == {
        ("orchestrator_iam", "missing_invoker"), ("scheduler_jobs", "paused"), ("scheduler_jobs", "failing"),
        ("phase_stalls", "incomplete")}
    assert len(roots) == 5
    assert sorted((f["monitor"], f["key"]["problem"]) for f in findings if f["caused_by"] == hop) == [
        ("missing_predictions", "none"), ("phase_stalls", "stalled"), ("push_delivery", "backlog"),
        ("push_delivery", "push_account_cannot_invoke")]
    assert [(f["monitor"], f["key"]["problem"]) for f in findings if f["caused_by"] == orchestrator] == [
        ("push_delivery", "push_account_cannot_invoke")]
    lines = [json.loads(line) for line in (local_dir / "notifications.jsonl").read_text().splitlines()]
    [parent] = [line for line in lines if line["fingerprint"] == hop]
    assert (parent["thread"], parent["caused_by"]) == (None, None)
    replies = [line for line in lines if line["caused_by"] == hop]
    assert sorted(r["monitor"] for r in replies) == ["missing_predictions", "phase_stalls", "push_delivery", "push_delivery"]
    offsets, offset = {}, 0
    for raw in (local_dir / "notifications.jsonl").read_bytes().splitlines(keepends=True):
        offsets[json.loads(raw)["fingerprint"]] = str(offset)
        offset += len(raw)
    assert {r["thread"] for r in replies} == {offsets[hop]}  # the parent's line (its byte offset stands in for Slack's ts)

    later = (datetime.fromisoformat(result.report["now"].replace("Z", "+00:00")) + timedelta(hours=2)).isoformat()
    again = run_cli("run", "--json", "--now", later, "--date", result.report["today"])
    assert again.code == 0, again.stderr
    # Two hours on, nothing ran the canary in between: its own job (every 30 minutes) is late; every critical
    # incident repeats once (an effect through its cause's repeat, never on its own).
    [late] = [f["fingerprint"] for f in again.report["findings"] if f["key"] == {"job": "pipeline-canary", "problem": "late"}]
    assert sorted((n["fingerprint"], n["reason"]) for n in again.report["notifications"]) == sorted(
        [(root, "repeat") for root in roots] + [(late, "first")])
    [repeat] = [json.loads(line) for line in (local_dir / "notifications.jsonl").read_text().splitlines()[len(lines):]
                if json.loads(line)["fingerprint"] == hop]
    assert repeat["thread"] == offsets[hop] and "phase_stalls" in repeat["text"] and "missing_predictions" in repeat["text"]


def test_over_slack_the_demo_is_one_parent_two_replies_then_one_repeat_and_a_new_effect_edits_the_parent(fake_slack: FakeSlack, tmp_path: Path) -> None:
    notifier = SlackNotifier(token=SecretStr(TOKEN), base_url=fake_slack.base_url, channel_for=SLACK.channel_for, sleep=lambda _: None)
    canary = Canary(store=SqliteStateStore(path=tmp_path / "state.sqlite3"), notifier=notifier)  # type: ignore[arg-type]
    canary.run([IAM, STALL], at=NOW)
    [parent] = fake_slack.parents()
    assert parent.text.startswith("FIRING [CRITICAL] orchestrator_iam") and "also affected" in parent.text
    [stall_reply] = fake_slack.replies(parent.ts)
    assert "caused by: orchestrator_iam" in stall_reply.text
    assert "Also affected" in json.dumps(parent.blocks) and "Caused by" in json.dumps(stall_reply.blocks)

    canary.run(DEMO, at=NOW + timedelta(minutes=30))  # the predictions go missing later: they join the thread
    assert len(fake_slack.parents()) == 1
    assert [m.text.split(":")[0] for m in fake_slack.replies(parent.ts)] == ["FIRING [CRITICAL] phase_stalls", "FIRING [CRITICAL] missing_predictions"]
    [update] = fake_slack.calls("chat.update")
    assert update.body["ts"] == parent.ts and "missing_predictions" in update.body["text"]
    assert fake_slack.parents()[0].edits == 1

    canary.run(DEMO, at=NOW + timedelta(hours=2))
    replies = fake_slack.replies(parent.ts)
    assert len(fake_slack.parents()) == 1 and len(replies) == 3
    assert replies[-1].text.startswith("STILL FIRING [CRITICAL] orchestrator_iam")
    assert "phase_stalls" in replies[-1].text and "missing_predictions" in replies[-1].text


def test_the_demo_thread_matches_its_golden_file(tmp_path: Path) -> None:
    """A demo-like incident as Slack shows it (the seeds' outage on phase4-to-phase5-orchestrator, from synthetic findings:
    the demo itself now breaks the second hop of 3->4 first): the parent, the two replies, and the repeat two hours later."""
    canary = Canary(store=SqliteStateStore(path=tmp_path / "state.sqlite3"))
    canary.run(DEMO, at=NOW)
    canary.run(DEMO, at=NOW + timedelta(hours=2))
    parent = canary.notifier.posts[0].ts
    thread = [
        {"kind": p.kind, "reply_in": "parent" if p.thread == parent else p.thread, **render_alert(p.message).to_dict()}
        for p in canary.notifier.posts
    ]
    assert [t["reply_in"] for t in thread] == [None, "parent", "parent", "parent"]
    check_golden("demo-thread", {"posts": thread})


def test_a_cause_repeat_names_an_effect_its_check_had_no_data_for(canary: Canary) -> None:
    """Issue 19 item 6: an effect kept open only because its check has no data dropped out of the repeat with no word."""
    canary.run(DEMO, at=NOW)
    mark = len(canary.notifier.posts)
    without_predictions = EVERY_MONITOR - {"missing_predictions"}  # it could not judge: the incident stays open
    sent = canary.run([IAM, STALL], at=NOW + timedelta(hours=2), succeeded=without_predictions)
    assert reasons(sent) == {IAM.fingerprint: Reason.REPEAT}
    [repeat] = canary.notifier.since(mark)
    stall_line, predictions_line = repeat.message.affects
    assert "phase_stalls" in stall_line and "no data" not in stall_line
    # No data since this run: the first to find it without data (its record's mark, once its monitor errored).
    later = NOW + timedelta(hours=2)
    assert "missing_predictions" in predictions_line and predictions_line.endswith(f"(no data since {later:%H:%M} UTC)")
