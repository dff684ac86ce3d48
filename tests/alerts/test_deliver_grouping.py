"""deliver() on its own: batches by reason and place, summaries of many notices, and parent edits.

The notifier here is an in-memory Notifier that hands out Slack-like timestamps and keeps what it was
given; the tests read deliver's effects (messages, threads, records), never that a call happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count

from alerts.decide import decide
from alerts.deliver import batches, deliver, plan
from alerts.group import AlertGroup
from alerts.message import AlertMessage
from alerts.notifier import Receipt, ThreadRef
from alerts.sqlite_state import SqliteStateStore
from alerts.state import records_for_decide
from core.config import AlertsConfig, SlackConfig
from core.model import Finding, Reason, Severity
from tests.scenario import utc

NOW = utc("2026-11-21T23:30")
ALERTS = AlertsConfig(group_after=2)
SLACK = SlackConfig(channel="#alerts", channels={Severity.CRITICAL: "#oncall"})


def finding(service: str, severity: Severity = Severity.CRITICAL) -> Finding:
    return Finding(monitor="orchestrator_iam", severity=severity, key={"service": service, "problem": "missing_invoker"},
                   summary=f"{service} cannot be invoked")


@dataclass
class InMemoryNotifier:
    """A Notifier and GroupNotifier: posts get increasing ts; parents' edits are kept by ts."""

    posts: list[dict] = field(default_factory=list)
    edits: dict[str, list[str]] = field(default_factory=dict)
    _ts: count = field(default_factory=lambda: count(1))

    def _post(self, kind: str, title: str, channel: str | None, thread: ThreadRef | None) -> Receipt:
        ts = f"{next(self._ts)}.000"
        where = thread.channel if thread else channel
        self.posts.append({"kind": kind, "title": title, "channel": where, "thread": thread.ts if thread else None, "ts": ts})
        return Receipt(channel=where, ts=ts)

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        return self._post(message.reason.value, message.title, SLACK.channel_for(message.severity), thread)

    def send_group(self, group: AlertGroup, *, thread: ThreadRef | None) -> Receipt:
        return self._post(f"group-{group.reason.value}", f"{len(group.members)} alerts", SLACK.channel_for(group.severity), thread)

    def mark_resolved(self, message: AlertMessage, *, thread: ThreadRef) -> None:
        self.edits.setdefault(thread.ts, []).append(message.title)

    def mark_group_resolved(self, group: AlertGroup, *, thread: ThreadRef) -> None:
        self.edits.setdefault(thread.ts, []).append(f"group of {len(group.members)}")


def run(store: SqliteStateStore, notifier: InMemoryNotifier, findings: list[Finding], *, at, succeeded=("orchestrator_iam",)):  # type: ignore[no-untyped-def]
    previous = records_for_decide(store, fingerprints=[f.fingerprint for f in findings])
    decisions = decide(previous=previous, findings=findings, succeeded=set(succeeded), repeat_after=ALERTS.repeat_after, now=at)
    return deliver(plan(decisions.notify, now=at), store=store, notifier=notifier, owner=f"run-{at:%H%M}", now=at,
                   alerts=ALERTS, channel_for=SLACK.channel_for)


def test_batches_split_by_reason_and_destination_in_first_appearance_order(tmp_path):
    store, notifier = SqliteStateStore(path=tmp_path / "s.sqlite3"), InMemoryNotifier()
    run(store, notifier, [finding("a")], at=NOW)
    previous = records_for_decide(store, fingerprints=[])
    decisions = decide(previous=previous, findings=[finding("a"), finding("b"), finding("w", Severity.WARNING)],
                       succeeded={"orchestrator_iam"}, repeat_after=ALERTS.repeat_after, now=NOW + timedelta(hours=2))
    found = batches(plan(decisions.notify, now=NOW + timedelta(hours=2)), channel_for=SLACK.channel_for)
    places = [(b.reason, b.thread.ts if b.thread else None, [p.message.title for p in b.plans]) for b in found]
    assert places == [
        (Reason.REPEAT, "1.000", ["a cannot be invoked"]),
        (Reason.FIRST, None, ["b cannot be invoked"]),
        (Reason.FIRST, None, ["w cannot be invoked"]),
    ]
    assert [SLACK.channel_for(b.plans[0].message.severity) for b in found[1:]] == ["#oncall", "#alerts"]


def test_more_than_group_after_new_incidents_share_one_summary_thread_with_each_ones_details(tmp_path):
    store, notifier = SqliteStateStore(path=tmp_path / "s.sqlite3"), InMemoryNotifier()
    findings = [finding(name) for name in ("a", "b", "c")]
    reports = run(store, notifier, findings, at=NOW)
    assert all(r.delivered for r in reports)
    [summary, *details] = notifier.posts
    assert (summary["kind"], summary["channel"], summary["thread"]) == ("group-first", "#oncall", None)
    assert sorted(d["title"] for d in details) == ["a cannot be invoked", "b cannot be invoked", "c cannot be invoked"]
    assert {d["thread"] for d in details} == {summary["ts"]}
    records = store.load(fingerprints=[f.fingerprint for f in findings])
    assert {(r.channel, r.thread_ts) for r in records.values()} == {("#oncall", summary["ts"])}
    assert all(sorted(r.group) == sorted(f.fingerprint for f in findings) for r in records.values())


def test_at_or_below_group_after_each_incident_is_its_own_parent(tmp_path):
    store, notifier = SqliteStateStore(path=tmp_path / "s.sqlite3"), InMemoryNotifier()
    run(store, notifier, [finding("a"), finding("b")], at=NOW)
    assert [(p["kind"], p["thread"]) for p in notifier.posts] == [("first", None), ("first", None)]


def test_a_summary_parent_is_edited_only_when_its_last_member_resolves_and_lists_the_whole_group(tmp_path):
    store, notifier = SqliteStateStore(path=tmp_path / "s.sqlite3"), InMemoryNotifier()
    run(store, notifier, [finding("a"), finding("b"), finding("c")], at=NOW)
    summary_ts = notifier.posts[0]["ts"]
    run(store, notifier, [finding("b"), finding("c")], at=NOW + timedelta(minutes=30))
    assert notifier.edits == {}  # a member still fires: the parent stays as it is
    assert [p["kind"] for p in notifier.posts[-1:]] == ["resolved"] and notifier.posts[-1]["thread"] == summary_ts
    run(store, notifier, [], at=NOW + timedelta(hours=1))
    assert notifier.edits == {summary_ts: ["group of 3"]}


def test_a_single_incident_parent_is_edited_when_it_resolves(tmp_path):
    store, notifier = SqliteStateStore(path=tmp_path / "s.sqlite3"), InMemoryNotifier()
    run(store, notifier, [finding("a")], at=NOW)
    run(store, notifier, [], at=NOW + timedelta(minutes=30))
    assert notifier.edits == {"1.000": ["Resolved: a cannot be invoked"]}
    assert notifier.posts[-1]["thread"] == "1.000"
