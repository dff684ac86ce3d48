"""decide is a pure function: every branch, table-driven, one line per case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.decide import decide
from core.config import RepeatIntervals
from core.model import AlertState, CheckError, Decision, Finding, Judged, Reason, Severity, Silence, UnreadTarget
from tests.scenario import utc

NOW = utc("2026-11-21T23:30")
REPEATS = RepeatIntervals()


def finding(monitor: str = "phase_stalls", severity: Severity = Severity.CRITICAL, **key: str) -> Finding:
    return Finding(monitor=monitor, severity=severity, key=key or {"transition": "a->b", "game_date": "2026-11-21", "problem": "stalled"}, summary="s")


def state(f: Finding, *, status: str = "firing", notified_ago: timedelta = timedelta(minutes=30)) -> AlertState:
    return AlertState(
        fingerprint=f.fingerprint, monitor=f.monitor, key=f.key, severity=f.severity, summary=f.summary,
        status=status, first_seen=NOW - timedelta(hours=5), last_seen=NOW - notified_ago,
        last_notified=NOW - notified_ago, notify_count=2, version=3,
    )


CRIT = finding()
WARN = finding(monitor="orchestrator_iam", severity=Severity.WARNING, service="s1", problem="public_invoker")
DEGRADED = Finding(monitor="canary", severity=Severity.WARNING, key={"monitor": "phase_stalls", "problem": "error"}, summary="d")

CASES = [
    # (case, previous states, findings, succeeded monitors, expected {fingerprint: reason})
    ("new finding is first", [], [CRIT], {"phase_stalls"}, {CRIT.fingerprint: Reason.FIRST}),
    ("still firing inside the interval stays quiet", [state(CRIT)], [CRIT], {"phase_stalls"}, {}),
    ("critical repeats after 2 h", [state(CRIT, notified_ago=timedelta(hours=2))], [CRIT], {"phase_stalls"}, {CRIT.fingerprint: Reason.REPEAT}),
    ("critical at 1 h 59 min does not repeat", [state(CRIT, notified_ago=timedelta(hours=1, minutes=59))], [CRIT], {"phase_stalls"}, {}),
    ("warning does not repeat after 2 h", [state(WARN, notified_ago=timedelta(hours=2))], [WARN], {"orchestrator_iam"}, {}),
    ("warning repeats after 12 h", [state(WARN, notified_ago=timedelta(hours=12))], [WARN], {"orchestrator_iam"}, {WARN.fingerprint: Reason.REPEAT}),
    ("absent after a clean run resolves", [state(CRIT)], [], {"phase_stalls"}, {CRIT.fingerprint: Reason.RESOLVED}),
    ("absent while its monitor errored stays open", [state(CRIT)], [DEGRADED], set(), {DEGRADED.fingerprint: Reason.FIRST}),
    ("absent while its monitor was not selected stays open", [state(CRIT)], [], {"orchestrator_iam"}, {}),
    ("already resolved and still absent is quiet", [state(CRIT, status="resolved")], [], {"phase_stalls"}, {}),
    ("firing again after resolving is a new first", [state(CRIT, status="resolved", notified_ago=timedelta(minutes=1))], [CRIT], {"phase_stalls"}, {CRIT.fingerprint: Reason.FIRST}),
    ("degraded resolves when its monitor runs cleanly", [state(DEGRADED)], [], {"phase_stalls"}, {DEGRADED.fingerprint: Reason.RESOLVED}),
    ("degraded stays open when another monitor succeeds", [state(DEGRADED)], [], {"orchestrator_iam"}, {}),
    ("the same finding twice notifies once", [], [CRIT, CRIT], {"phase_stalls"}, {CRIT.fingerprint: Reason.FIRST}),
]


@pytest.mark.parametrize("case, previous, findings, succeeded, expected", CASES, ids=[c[0] for c in CASES])
def test_decide(case, previous, findings, succeeded, expected):
    decisions = decide(
        previous={s.fingerprint: s for s in previous}, findings=findings, succeeded=succeeded, repeat_after=REPEATS, now=NOW
    )
    assert {d.fingerprint: d.reason for d in decisions.notify} == expected


COVERED = {"phase_stalls": Judged(label="game_date", targets=["2026-11-20", "2026-11-21"])}
OLD_STALL = finding(transition="a->b", game_date="2026-11-19", problem="stalled")


@pytest.mark.parametrize(
    "case, retire, expected",
    [
        ("a scheduled run retires a date that left its window, with a note", True,
         [(OLD_STALL.fingerprint, Reason.RESOLVED, "game date 2026-11-19 is no longer checked by phase_stalls (outside what it checks)")]),
        ("an operator's one-date run leaves other dates alone", False, []),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_incidents_of_game_dates_the_run_did_not_judge(case, retire, expected):
    previous = {s.fingerprint: s for s in (state(OLD_STALL), state(CRIT))}
    decisions = decide(previous=previous, findings=[CRIT], succeeded={"phase_stalls"}, repeat_after=REPEATS, now=NOW,
                       coverage=COVERED, retire_uncovered=retire)
    assert [(d.fingerprint, d.reason, d.note) for d in decisions.notify] == expected


def test_a_covered_date_absent_from_findings_resolves_plainly():
    decisions = decide(previous={CRIT.fingerprint: state(CRIT)}, findings=[], succeeded={"phase_stalls"},
                       repeat_after=REPEATS, now=NOW, coverage=COVERED, retire_uncovered=False)
    assert [(d.reason, d.note) for d in decisions.notify] == [(Reason.RESOLVED, None)]


MISSING = {
    service: finding(monitor="orchestrator_iam", service=service, problem="missing_invoker") for service in ("s1", "s2", "s3")
}
S2_UNREAD = Finding(monitor="canary", severity=Severity.WARNING, key={"monitor": "orchestrator_iam", "service": "s2", "problem": "error"}, summary="d")
SERVICES_JUDGED = {"orchestrator_iam": Judged(
    label="service", targets=["s1"], unread=[UnreadTarget(target="s2", source="cloud_run", error="403")],
)}


@pytest.mark.parametrize("retire", [True, False], ids=["scheduled", "operator"])
def test_only_judged_services_resolve_and_an_unread_one_is_left_alone(retire):
    previous = {s.fingerprint: s for s in (state(MISSING["s1"]), state(MISSING["s2"]), state(S2_UNREAD))}
    decisions = decide(previous=previous, findings=[S2_UNREAD], succeeded={"orchestrator_iam"}, repeat_after=REPEATS,
                       now=NOW, coverage=SERVICES_JUDGED, retire_uncovered=retire)
    # s1 was read and is healthy: resolved; s2 could not be read: its incident stays open, its degraded stays quiet.
    assert [(d.fingerprint, d.reason) for d in decisions.notify] == [(MISSING["s1"].fingerprint, Reason.RESOLVED)]


def test_a_service_dropped_from_the_checked_list_closes_as_no_longer_checked():
    previous = {MISSING["s3"].fingerprint: state(MISSING["s3"])}
    decisions = decide(previous=previous, findings=[], succeeded={"orchestrator_iam"}, repeat_after=REPEATS,
                       now=NOW, coverage=SERVICES_JUDGED)
    assert [(d.reason, d.note) for d in decisions.notify] == [
        (Reason.RESOLVED, "service s3 is no longer checked by orchestrator_iam (outside what it checks)")
    ]


def test_a_target_degraded_resolves_once_its_target_is_read_again():
    judged_again = {"orchestrator_iam": Judged(label="service", targets=["s1", "s2"])}
    decisions = decide(previous={S2_UNREAD.fingerprint: state(S2_UNREAD)}, findings=[], succeeded={"orchestrator_iam"},
                       repeat_after=REPEATS, now=NOW, coverage=judged_again)
    assert [(d.fingerprint, d.reason) for d in decisions.notify] == [(S2_UNREAD.fingerprint, Reason.RESOLVED)]


def _silence(**matchers: str) -> Silence:
    return Silence(id="s1", matchers=matchers, author="ops", reason="deploy", created_at=NOW - timedelta(hours=1), expires_at=NOW + timedelta(hours=1))


def test_silence_mutes_first_and_repeat_but_not_resolved():
    other = finding(transition="c->d", game_date="2026-11-21", problem="stalled")
    previous = {CRIT.fingerprint: state(CRIT, notified_ago=timedelta(hours=3))}
    silences = [_silence(monitor="phase_stalls")]
    muted = decide(previous=previous, findings=[CRIT, other], succeeded={"phase_stalls"}, repeat_after=REPEATS, now=NOW, silences=silences)
    assert muted.notify == []
    assert muted.silenced == {CRIT.fingerprint: "s1", other.fingerprint: "s1"}
    resolved = decide(previous=previous, findings=[], succeeded={"phase_stalls"}, repeat_after=REPEATS, now=NOW, silences=silences)
    assert [(d.fingerprint, d.reason) for d in resolved.notify] == [(CRIT.fingerprint, Reason.RESOLVED)]


def test_silence_matches_only_equal_labels_and_expires():
    silence = _silence(service="s1")
    assert silence.matches(monitor="orchestrator_iam", key={"service": "s1", "problem": "x"}, now=NOW)
    assert not silence.matches(monitor="orchestrator_iam", key={"service": "s2", "problem": "x"}, now=NOW)
    assert not silence.matches(monitor="orchestrator_iam", key={"service": "s1"}, now=NOW + timedelta(hours=1))


def test_next_state_counts_and_keeps_the_thread():
    first = Decision(fingerprint=CRIT.fingerprint, reason=Reason.FIRST, finding=CRIT).next_record(now=NOW, retention=timedelta(days=30), channel="#c", thread_ts="1.0")
    assert (first.status, first.notify_count, first.first_seen, first.thread_ts) == ("firing", 1, NOW, "1.0")
    later = NOW + timedelta(hours=2)
    repeat = Decision(fingerprint=CRIT.fingerprint, reason=Reason.REPEAT, finding=CRIT, previous=first).next_record(now=later, retention=timedelta(days=30), channel="#c", thread_ts="2.0")
    assert (repeat.notify_count, repeat.first_seen, repeat.last_notified, repeat.thread_ts) == (2, NOW, later, "1.0")
    resolved = Decision(fingerprint=CRIT.fingerprint, reason=Reason.RESOLVED, previous=repeat).next_record(now=later, retention=timedelta(days=30), channel="#c", thread_ts="3.0")
    assert (resolved.status, resolved.resolved_at, resolved.expire_at) == ("resolved", later, later + timedelta(days=30))


STALE_WARN = finding(monitor="freshness", severity=Severity.WARNING, table="nba_raw.t", problem="stale")
STALE_CRIT = STALE_WARN.model_copy(update={"severity": Severity.CRITICAL})


@pytest.mark.parametrize(
    "case, before, now_severity, notified_ago, expected",
    [
        ("warning -> critical notifies at once as an escalation", Severity.WARNING, Severity.CRITICAL,
         timedelta(minutes=30), (Reason.REPEAT, "escalated")),
        ("info -> warning is an escalation too", Severity.INFO, Severity.WARNING, timedelta(minutes=30),
         (Reason.REPEAT, "escalated")),
        ("critical -> warning waits for the warning's interval", Severity.CRITICAL, Severity.WARNING,
         timedelta(hours=3), None),
        ("critical -> warning repeats plainly after 12 h", Severity.CRITICAL, Severity.WARNING,
         timedelta(hours=12), (Reason.REPEAT, None)),
        ("unchanged warning inside its interval stays quiet", Severity.WARNING, Severity.WARNING,
         timedelta(hours=11), None),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_rise_in_severity_is_an_escalation_sent_at_once(case, before, now_severity, notified_ago, expected):
    previous_finding = STALE_WARN.model_copy(update={"severity": before})
    current = STALE_WARN.model_copy(update={"severity": now_severity})
    decisions = decide(previous={current.fingerprint: state(previous_finding, notified_ago=notified_ago)},
                       findings=[current], succeeded={"freshness"}, repeat_after=REPEATS, now=NOW)
    got = [(d.reason, d.note) for d in decisions.notify]
    assert got == ([expected] if expected else [])


def test_an_escalation_is_silenced_like_any_repeat():
    decisions = decide(previous={STALE_CRIT.fingerprint: state(STALE_WARN)}, findings=[STALE_CRIT],
                       succeeded={"freshness"}, repeat_after=REPEATS, now=NOW, silences=[_silence(monitor="freshness")])
    assert decisions.notify == [] and decisions.silenced == {STALE_CRIT.fingerprint: "s1"}


def test_an_escalation_replies_in_the_thread_and_says_so():
    from alerts.message import build_message

    opened = Decision(fingerprint=STALE_WARN.fingerprint, reason=Reason.FIRST, finding=STALE_WARN).next_record(
        now=NOW, retention=timedelta(days=30), channel="#c", thread_ts="1.0")
    later = NOW + timedelta(minutes=30)
    decision = decide(previous={opened.fingerprint: opened}, findings=[STALE_CRIT], succeeded={"freshness"},
                      repeat_after=REPEATS, now=later).notify[0]
    message = build_message(decision, now=later)
    assert message.why_now.startswith("escalated from warning to critical")
    record = decision.next_record(now=later, retention=timedelta(days=30), channel="#c", thread_ts="2.0")
    assert (record.severity, record.thread_ts, record.notify_count) == (Severity.CRITICAL, "1.0", 2)


def test_an_incident_without_data_this_run_is_left_alone_and_its_judged_siblings_resolve():
    failing = finding(monitor="push_delivery", service="s1", problem="pushes_failing")
    no_sub = finding(monitor="push_delivery", service="s1", problem="no_subscription")
    coverage = {"push_delivery": Judged(label="service", targets=["s1"], without_data=[{"service": "s1", "problem": "pushes_failing"}])}
    previous = {f.fingerprint: state(f) for f in (failing, no_sub)}
    decisions = decide(previous=previous, findings=[], succeeded={"push_delivery"}, repeat_after=REPEATS, now=NOW, coverage=coverage)
    assert [(d.fingerprint, d.reason) for d in decisions.notify] == [(no_sub.fingerprint, Reason.RESOLVED)]


# --- acknowledgements (issue 22): an input of decide, one line per case --------------------------

from core.model import Acknowledgement  # noqa: E402


def ack(s: AlertState, *, by: str = "ana", severity: Severity | None = None, expires_in: timedelta | None = None,
        ended: bool = False, since: timedelta = timedelta(0)) -> Acknowledgement:
    """An acknowledgement of the incident recorded as `s`, made an hour before NOW (or of an earlier one: `since`)."""
    at = NOW - timedelta(hours=1)
    return Acknowledgement(
        fingerprint=s.fingerprint, by=by, at=at, incident_since=s.first_seen - since, severity=severity or s.severity,
        expires_at=NOW + expires_in if expires_in is not None else None,
        ended_by="ben" if ended else None, ended_at=at + timedelta(minutes=5) if ended else None,
    )


DUE = state(CRIT, notified_ago=timedelta(hours=2))
WARN_DUE = state(finding(severity=Severity.WARNING), notified_ago=timedelta(hours=12))
ACK_CASES = [
    # (case, previous, findings, acknowledgements, expected {fingerprint: reason}, expected acknowledged)
    ("an acknowledged incident's due repeat is not sent", [DUE], [CRIT], [ack(DUE)], {}, {CRIT.fingerprint: "ana"}),
    ("without an acknowledgement it repeats", [DUE], [CRIT], [], {CRIT.fingerprint: Reason.REPEAT}, {}),
    ("its resolution is always sent", [DUE], [], [ack(DUE)], {CRIT.fingerprint: Reason.RESOLVED}, {}),
    ("an expired acknowledgement no longer holds", [DUE], [CRIT], [ack(DUE, expires_in=timedelta(0))], {CRIT.fingerprint: Reason.REPEAT}, {}),
    ("an unexpired one with an expiry holds", [DUE], [CRIT], [ack(DUE, expires_in=timedelta(minutes=1))], {}, {CRIT.fingerprint: "ana"}),
    ("an ended acknowledgement no longer holds", [DUE], [CRIT], [ack(DUE, ended=True)], {CRIT.fingerprint: Reason.REPEAT}, {}),
    ("a rise in severity is sent at once", [WARN_DUE], [CRIT], [ack(WARN_DUE)], {CRIT.fingerprint: Reason.REPEAT}, {}),
    ("the same severity stays quiet", [WARN_DUE], [finding(severity=Severity.WARNING)], [ack(WARN_DUE)], {}, {CRIT.fingerprint: "ana"}),
    ("an acknowledgement of an earlier incident does not hold", [DUE], [CRIT], [ack(DUE, since=timedelta(days=1))], {CRIT.fingerprint: Reason.REPEAT}, {}),
    ("a new incident after one resolved is sent as a first", [state(CRIT, status="resolved")], [CRIT], [ack(DUE)], {CRIT.fingerprint: Reason.FIRST}, {}),
    ("acknowledged and not yet due: quiet, and said so", [state(CRIT)], [CRIT], [ack(state(CRIT))], {}, {CRIT.fingerprint: "ana"}),
]


@pytest.mark.parametrize("case, previous, findings, acks, expected, acknowledged", ACK_CASES, ids=[c[0] for c in ACK_CASES])
def test_decide_with_acknowledgements(case, previous, findings, acks, expected, acknowledged):
    decisions = decide(
        previous={s.fingerprint: s for s in previous}, findings=findings, succeeded={"phase_stalls"}, repeat_after=REPEATS,
        now=NOW, acknowledgements={a.fingerprint: a for a in acks},
    )
    assert {d.fingerprint: d.reason for d in decisions.notify} == expected
    assert decisions.acknowledged == acknowledged


# --- an effect covered by its acknowledged cause: a rise in its own severity is still sent (issue 22) -----------

CAUSE = finding(monitor="orchestrator_iam", service="s1", problem="missing_invoker")
EFFECT_WARN = finding(monitor="push_delivery", severity=Severity.WARNING, service="s1", problem="backlog")
EFFECT_CRIT = EFFECT_WARN.model_copy(update={"severity": Severity.CRITICAL})
CAUSE_STATE = state(CAUSE)
EFFECT_STATE = state(EFFECT_WARN).model_copy(update={"caused_by": CAUSE.fingerprint, "thread_ts": "1.0", "channel": "C1"})
IN_ITS_THREAD = {EFFECT_STATE.fingerprint: EFFECT_STATE}
OWN_THREAD = {EFFECT_STATE.fingerprint: EFFECT_STATE.model_copy(update={"caused_by": None})}
OWN_THREAD_DUE = {fp: s.model_copy(update={"last_notified": NOW - timedelta(hours=12)}) for fp, s in OWN_THREAD.items()}
EXPLAINED = {EFFECT_WARN.fingerprint: CAUSE.fingerprint}
COVER_CASES = [
    # (case, effect record, causes this run, findings, acks, expected {fp: (reason, note, covered_by)}, acknowledged)
    ("a covered effect's rise in severity is sent, saying whose cover it passes", IN_ITS_THREAD, {}, [CAUSE, EFFECT_CRIT],
     [ack(CAUSE_STATE)], {EFFECT_WARN.fingerprint: (Reason.REPEAT, "escalated", "ana")}, {CAUSE.fingerprint: "ana"}),
    ("so is one the cause explains in this run (its own thread)", OWN_THREAD, EXPLAINED, [CAUSE, EFFECT_CRIT],
     [ack(CAUSE_STATE)], {EFFECT_WARN.fingerprint: (Reason.REPEAT, "escalated", "ana")}, {CAUSE.fingerprint: "ana"}),
    ("a covered effect at its severity stays quiet, covered", IN_ITS_THREAD, {}, [CAUSE, EFFECT_WARN],
     [ack(CAUSE_STATE)], {}, {CAUSE.fingerprint: "ana", EFFECT_WARN.fingerprint: "ana"}),
    ("a covered effect's due repeat is not sent", OWN_THREAD_DUE, EXPLAINED, [CAUSE, EFFECT_WARN],
     [ack(CAUSE_STATE)], {}, {CAUSE.fingerprint: "ana", EFFECT_WARN.fingerprint: "ana"}),
    ("without the cause's acknowledgement the rise is a plain escalation", IN_ITS_THREAD, {}, [CAUSE, EFFECT_CRIT],
     [], {EFFECT_WARN.fingerprint: (Reason.REPEAT, "escalated", None)}, {}),
    ("the effect's own acknowledgement ends with a rise too", IN_ITS_THREAD, {}, [CAUSE, EFFECT_CRIT],
     [ack(EFFECT_STATE, by="ben")], {EFFECT_WARN.fingerprint: (Reason.REPEAT, "escalated", None)}, {}),
    ("a cause not seen this run covers nothing", IN_ITS_THREAD, {}, [EFFECT_WARN],
     [ack(CAUSE_STATE)], {}, {}),
]


@pytest.mark.parametrize("case, effect, causes, findings, acks, expected, acknowledged", COVER_CASES,
                         ids=[c[0] for c in COVER_CASES])
def test_an_acknowledged_cause_covers_its_effects_but_not_a_rise_in_their_severity(
    case, effect, causes, findings, acks, expected, acknowledged
):
    previous = {CAUSE_STATE.fingerprint: CAUSE_STATE, **effect}
    seen = CAUSE in findings  # else its monitor errored: the cause's record stays open, unseen
    decisions = decide(
        previous=previous, findings=findings, succeeded={"push_delivery"} | ({"orchestrator_iam"} if seen else set()),
        repeat_after=REPEATS, now=NOW, acknowledgements={a.fingerprint: a for a in acks}, causes=causes,
        errored=set() if seen else {"orchestrator_iam"},
    )
    assert {d.fingerprint: (d.reason, d.note, d.covered_by) for d in decisions.notify} == expected
    assert decisions.acknowledged == acknowledged


def test_the_rise_of_a_covered_effect_says_why_it_was_sent():
    [decision] = decide(
        previous={CAUSE_STATE.fingerprint: CAUSE_STATE, **IN_ITS_THREAD}, findings=[CAUSE, EFFECT_CRIT],
        succeeded={"orchestrator_iam", "push_delivery"}, repeat_after=REPEATS, now=NOW,
        acknowledgements={CAUSE.fingerprint: ack(CAUSE_STATE)},
    ).notify
    from alerts.message import build_message

    message = build_message(decision, now=NOW)
    assert message.why_now.startswith("escalated from warning to critical")
    assert "its cause is acknowledged by ana" in message.why_now
    record = decision.next_record(now=NOW, retention=timedelta(days=30), channel="C1", thread_ts="9.0")
    # Recorded at its new severity, still in the cause's thread: the next run is quiet again under the cover.
    assert (record.severity, record.thread_ts, record.caused_by) == (Severity.CRITICAL, "1.0", CAUSE.fingerprint)
    again = decide(
        previous={CAUSE_STATE.fingerprint: CAUSE_STATE, EFFECT_CRIT.fingerprint: record}, findings=[CAUSE, EFFECT_CRIT],
        succeeded={"orchestrator_iam", "push_delivery"}, repeat_after=REPEATS, now=NOW + timedelta(minutes=30),
        acknowledgements={CAUSE.fingerprint: ack(CAUSE_STATE)},
    )
    assert again.notify == [] and again.acknowledged == {CAUSE.fingerprint: "ana", EFFECT_CRIT.fingerprint: "ana"}


# --- open only for lack of data: the record's no_data_since, written only on change (issue 22) -------------------

PUSH_FAILING = finding(monitor="push_delivery", service="s1", problem="pushes_failing")
NO_PUSHES = {"push_delivery": Judged(label="service", targets=["s1"], without_data=[{"service": "s1", "problem": "pushes_failing"}])}
PUSHES_SEEN = {"push_delivery": Judged(label="service", targets=["s1"])}
S1_UNREAD = {"push_delivery": Judged(label="service", targets=[], unread=[UnreadTarget(target="s1", source="iam", error="403")])}
MARKED = state(PUSH_FAILING).model_copy(update={"no_data_since": NOW - timedelta(hours=1)})
CHECK_UNREAD = {"push_delivery": [CheckError(target="t", error="gone", labels={"service": "s1"})]}
NO_DATA_CASES = [
    # (case, record, findings, succeeded, errored, coverage, unread, retire, expected no_data, expected reasons)
    ("no data for it: marked from now", state(PUSH_FAILING), [], {"push_delivery"}, set(), NO_PUSHES, {}, True,
     {PUSH_FAILING.fingerprint: NOW}, {}),
    ("still no data: already marked, nothing to write", MARKED, [], {"push_delivery"}, set(), NO_PUSHES, {}, True, {}, {}),
    ("seen again: the mark is cleared", MARKED, [PUSH_FAILING], {"push_delivery"}, set(), PUSHES_SEEN, {}, True,
     {PUSH_FAILING.fingerprint: None}, {}),
    ("seen and never marked: nothing to write", state(PUSH_FAILING), [PUSH_FAILING], {"push_delivery"}, set(), PUSHES_SEEN,
     {}, True, {}, {}),
    ("its monitor errored: marked", state(PUSH_FAILING), [], set(), {"push_delivery"}, {}, {}, True,
     {PUSH_FAILING.fingerprint: NOW}, {}),
    ("its target unread: marked", state(PUSH_FAILING), [], {"push_delivery"}, set(), S1_UNREAD, {}, True,
     {PUSH_FAILING.fingerprint: NOW}, {}),
    ("its check unread: marked, not resolved", state(PUSH_FAILING), [], {"push_delivery"}, set(), PUSHES_SEEN, CHECK_UNREAD,
     True, {PUSH_FAILING.fingerprint: NOW}, {}),
    ("its monitor not selected: nobody looked, no mark", state(PUSH_FAILING), [], {"orchestrator_iam"}, set(), {}, {}, True,
     {}, {}),
    ("an operator's run that did not look at its target: no mark", state(PUSH_FAILING), [], {"push_delivery"}, set(),
     {"push_delivery": Judged(label="service", targets=["s2"])}, {}, False, {}, {}),
    ("seen healthy: resolved, no mark", MARKED, [], {"push_delivery"}, set(), PUSHES_SEEN, {}, True, {},
     {PUSH_FAILING.fingerprint: Reason.RESOLVED}),
]


@pytest.mark.parametrize("case, record, findings, succeeded, errored, coverage, unread, retire, expected, reasons",
                         NO_DATA_CASES, ids=[c[0] for c in NO_DATA_CASES])
def test_an_incident_kept_open_only_for_lack_of_data_is_marked_on_change(
    case, record, findings, succeeded, errored, coverage, unread, retire, expected, reasons
):
    decisions = decide(
        previous={record.fingerprint: record}, findings=findings, succeeded=succeeded, repeat_after=REPEATS, now=NOW,
        coverage=coverage, errored=errored, unread=unread, retire_uncovered=retire,
    )
    assert decisions.no_data == expected
    assert {d.fingerprint: d.reason for d in decisions.notify} == reasons


def test_a_repeat_or_resolution_clears_the_mark_in_the_record_it_writes():
    repeat = Decision(fingerprint=MARKED.fingerprint, reason=Reason.REPEAT, finding=PUSH_FAILING, previous=MARKED)
    assert repeat.next_record(now=NOW, retention=timedelta(days=1), channel="C1", thread_ts="1.0").no_data_since is None
    resolved = Decision(fingerprint=MARKED.fingerprint, reason=Reason.RESOLVED, previous=MARKED)
    assert resolved.next_record(now=NOW, retention=timedelta(days=1), channel="C1", thread_ts="1.0").no_data_since is None
