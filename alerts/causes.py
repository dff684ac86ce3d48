"""Which finding explains which, derived from the pipeline's topology ([pipeline]); pure: no I/O, no clock.

The rules (no hand-written pairs: each follows from the phases, the transitions and their services):
- an invoker/push problem of service S (orchestrator_iam, push_delivery) explains the stall of every
  transition S starts, for any game date, and S's push_delivery findings (an IAM problem of S explains them;
  so does S's push_account_cannot_invoke, whose account may not be orchestrator_iam's member: PUSH_CHAIN);
- a stall of transition X->Y for game date D explains missing_predictions of D when Y is at or before
  the predictions phase.
A finding's cause is its root: the stall explained by an IAM finding passes that IAM finding on to the
missing predictions it explains, so one broken binding is one incident with one thread.

`thread_by_cause` then turns decide()'s answer into threads: an explained first notice joins its
cause's thread; while the cause fires the effect does not repeat on its own: the cause's repeat names
it, and a silenced cause mutes its effects' repeats too (a rise in the severity of an effect whose cause is
acknowledged is a reply of its own in that thread: the acknowledgement stops the cause's repeats). When the cause ends and the effect still fires,
it stays in the cause's thread for a grace, then gets a new parent saying so (several together: one new
incident). An effect's first notice follows the effect's silences, never the cause's.
It decides threading only: which findings are silenced and which effects are due again are judged in
the decide stage (alerts/pipeline.py) and passed in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import AbstractSet, Mapping, Sequence

from alerts.decide import Decisions
from alerts.group import member_line
from alerts.message import AlertMessage, where_of
from core import monitor_names
from core.config import Pipeline
from core.league_time import clock
from core.model import AlertState, Decision, Finding, Reason

IAM = monitor_names.ORCHESTRATOR_IAM
PUSH = monitor_names.PUSH_DELIVERY
STALLS = monitor_names.PHASE_STALLS
PREDICTIONS = monitor_names.MISSING_PREDICTIONS
RULE_MONITORS = (IAM, PUSH, STALLS, PREDICTIONS)
"""Every monitor the rules name: each must be registered (monitors/registry.py), or threading silently stops."""
SERVICE_MONITORS = (IAM, PUSH)
"""Monitors whose findings are about the service (key `service`) that starts a downstream phase."""
GRANTS_ACCESS = frozenset({"public_invoker"})
"""IAM problems that let too many callers in: they never stop a push, so they explain nothing."""
PUSH_CHAIN = ("push_account_cannot_invoke", "pushes_failing", "backlog")
"""push_delivery's problems of one service, each explaining those after it: the subscription's account cannot
invoke -> its pushes fail -> the backlog grows (the push account may differ from orchestrator_iam's member, so
this holds when orchestrator_iam is silent)."""


def _service_problem(finding: Finding) -> str | None:
    """The service whose invoker/push problem this finding is, or None."""
    if finding.monitor not in SERVICE_MONITORS or finding.key.get("problem") in GRANTS_ACCESS:
        return None
    return finding.key.get("service")


def explains(pipeline: Pipeline, cause: Finding, effect: Finding) -> bool:
    """Whether `cause` firing explains `effect` firing, by the pipeline's topology."""
    if cause.fingerprint == effect.fingerprint:
        return False
    service = _service_problem(cause)
    if service is not None:
        if effect.monitor == STALLS:  # its transitions' stalls, and the partial runs of the phases they start
            started = pipeline.transitions_started_by(service)
            return effect.key.get("transition") in {t.label for t in started} or effect.key.get("phase") in {t.to_phase for t in started}
        if effect.monitor == PUSH and effect.key.get("service") == service:
            if cause.monitor == IAM:
                return True
            problems = (cause.key.get("problem"), effect.key.get("problem"))
            return all(p in PUSH_CHAIN for p in problems) and PUSH_CHAIN.index(problems[0]) < PUSH_CHAIN.index(problems[1])
        return False
    if cause.monitor == STALLS and effect.monitor == STALLS and "phase" in effect.key:  # a stall explains its phase's partial runs
        into = {t.label for t in pipeline.transitions_into(effect.key["phase"])}
        return cause.key.get("transition") in into and cause.key.get("game_date") == effect.key.get("game_date")
    if cause.monitor == STALLS and effect.monitor == PREDICTIONS:
        transition = next((t for t in pipeline.transitions if t.label == cause.key.get("transition")), None)
        return (
            transition is not None
            and cause.key.get("game_date") is not None
            and cause.key.get("game_date") == effect.key.get("game_date")
            and pipeline.position(transition.to_phase) <= pipeline.position(pipeline.predictions_phase)
        )
    return False


def _rank(pipeline: Pipeline, finding: Finding) -> tuple[int, int, str]:
    """Which of several explaining findings is the cause: IAM before push, the most upstream stall."""
    kind = (IAM, PUSH, STALLS).index(finding.monitor) if finding.monitor in (IAM, PUSH, STALLS) else 3
    transition = next((t for t in pipeline.transitions if t.label == finding.key.get("transition")), None)
    position = pipeline.position(transition.from_phase) if transition else 0
    if finding.monitor == PUSH:
        problem = finding.key.get("problem")
        position = PUSH_CHAIN.index(problem) if problem in PUSH_CHAIN else len(PUSH_CHAIN)
    return (kind, position, finding.fingerprint)


def causes_of(pipeline: Pipeline, findings: Sequence[Finding]) -> dict[str, str]:
    """effect fingerprint -> the fingerprint of its root cause among these (firing) findings."""
    unique = list({f.fingerprint: f for f in findings}.values())
    direct: dict[str, str] = {}
    for effect in unique:
        candidates = [c for c in unique if explains(pipeline, c, effect)]
        if candidates:
            direct[effect.fingerprint] = min(candidates, key=lambda c: _rank(pipeline, c)).fingerprint
    roots: dict[str, str] = {}
    for effect, cause in direct.items():
        seen = {effect}
        while cause in direct and cause not in seen:  # the rules cannot loop; `seen` makes sure
            seen.add(cause)
            cause = direct[cause]
        roots[effect] = cause
    return roots


def thread_by_cause(
    decisions: Decisions,
    *,
    previous: Mapping[str, AlertState],
    findings: Sequence[Finding],
    causes: Mapping[str, str],
    muted: Mapping[str, str] | None = None,
    due_in_cause_thread: AbstractSet[str] = frozenset(),
    grace_over: AbstractSet[str] | None = None,
) -> Decisions:
    """decide()'s notices rearranged by cause (see the module docstring); `causes` from causes_of().

    `muted`: the firing findings an active silence matches -> that silence's id. `due_in_cause_thread`: the effects living in
    their cause's thread whose own interval has passed since the cause's last notice (which named them):
    the cause's repeat goes out for them, even before the cause's own interval. `grace_over`: the effects
    living in the thread of a cause that ended whose grace has passed (alerts/pipeline.grace_over); the others
    stay quiet in that thread (None: every such effect's grace has passed).
    """
    firing = {f.fingerprint: f for f in findings}
    muted = muted or {}
    # Acknowledging a cause covers its effects (decide() says which): they repeat neither on their own nor through
    # the cause; a rise in an effect's own severity is still sent (`covered_by`), as a reply where it lives.
    acknowledged = decisions.acknowledged
    resolving = {d.fingerprint for d in decisions.notify if d.reason is Reason.RESOLVED}

    def cause_open(fingerprint: str) -> bool:
        """Still firing: seen in this run, or not seen by an errored monitor (its record stays firing)."""
        if fingerprint in firing:
            return True
        state = previous.get(fingerprint)
        return state is not None and state.firing and fingerprint not in resolving

    affects: dict[str, list[Finding]] = {}
    for finding in firing.values():
        cause = causes.get(finding.fingerprint)
        if cause is not None and finding.fingerprint not in muted:
            affects.setdefault(cause, []).append(finding)

    # Effects in a cause's thread that this run did not see and did not resolve (no data for them): the cause's
    # notices still name them.
    without_data: dict[str, list[AlertState]] = {}
    for fingerprint, state in sorted(previous.items()):
        if state.firing and state.caused_by and fingerprint not in firing and fingerprint not in resolving:
            without_data.setdefault(state.caused_by, []).append(state)

    notify: list[Decision] = []
    silenced = dict(decisions.silenced)
    decided = {d.fingerprint for d in decisions.notify}
    new_in_thread: set[str] = set()
    named_by: set[str] = set()
    """Causes whose repeat must go out now because an effect in their thread is due."""
    for decision in decisions.notify:
        if decision.reason is Reason.RESOLVED:
            notify.append(decision)  # an effect's resolution is a reply where it lives (its record's thread)
            continue
        fingerprint = decision.fingerprint
        cause = causes.get(fingerprint)
        state = decision.previous
        lives_in = state.caused_by if state is not None and state.firing else None
        update: dict[str, object] = {
            "caused_by": cause, "affects": affects.get(fingerprint, []), "affects_without_data": without_data.get(fingerprint, []),
        }
        if decision.reason is Reason.REPEAT and fingerprint in acknowledged:
            continue
        if decision.reason is Reason.REPEAT and lives_in is not None:
            if not cause_open(lives_in):
                if grace_over is not None and fingerprint not in grace_over:
                    continue  # within its grace: it stays quiet in the ended cause's thread
                update |= {"detached": True, "cause": previous.get(lives_in)}
            elif lives_in in firing and lives_in not in muted and decision.covered_by is not None:
                update |= {"cause": previous.get(lives_in)}  # its rise, a reply in the acknowledged cause's thread
            elif lives_in in firing and lives_in not in muted:
                if fingerprint in due_in_cause_thread and lives_in not in acknowledged:
                    named_by.add(lives_in)
                continue  # the cause's repeat names it (sent now if it was not due yet)
            elif lives_in in firing:
                silenced[fingerprint] = muted[lives_in]
                continue  # a silenced cause mutes the repeats of what lives in its thread
            else:
                # A cause its errored monitor did not see: it repeats on its own, in its thread.
                update |= {"cause": previous.get(lives_in)}
        elif cause is not None and cause not in muted and decision.reason is Reason.FIRST:
            update |= {"in_cause_thread": True, "cause": previous.get(cause), "cause_finding": firing.get(cause)}
            new_in_thread.add(cause)
        if cause is not None and "cause_finding" not in update:
            update["cause_finding"] = firing.get(cause)
        notify.append(decision.model_copy(update=update))

    # An effect due to repeat is named by its cause's repeat, sent now even when the cause's own interval has not passed.
    for cause in sorted(named_by - decided):
        state = previous.get(cause)
        if state is not None and state.firing:
            notify.append(Decision(
                fingerprint=cause, reason=Reason.REPEAT, finding=firing[cause], previous=state,
                caused_by=causes.get(cause), affects=affects.get(cause, []), affects_without_data=without_data.get(cause, []),
            ))

    # An effect living in a cause's thread whose cause ended: its own new parent, even before its repeat is due.
    for fingerprint, finding in firing.items():
        state = previous.get(fingerprint)
        if fingerprint in decided or state is None or not state.firing or state.caused_by is None:
            continue
        if cause_open(state.caused_by) or fingerprint in muted:
            continue
        if grace_over is not None and fingerprint not in grace_over:
            continue
        notify.append(Decision(
            fingerprint=fingerprint, reason=Reason.REPEAT, finding=finding, previous=state, detached=True,
            caused_by=causes.get(fingerprint), cause=previous.get(state.caused_by), affects=affects.get(fingerprint, []),
            cause_finding=firing.get(causes.get(fingerprint, "")),
        ))

    # A cause already notified whose thread gains a new effect: its parent is edited to list what it affects.
    refresh = []
    for cause in sorted(new_in_thread - {d.fingerprint for d in notify if d.reason is Reason.FIRST}):
        state = previous.get(cause)
        if cause in firing and state is not None and state.firing and state.thread_ts and not state.group:
            refresh.append(Decision(
                fingerprint=cause, reason=Reason.FIRST, finding=firing[cause], previous=state, affects=affects.get(cause, []),
            ))
    # What leaves an ended cause's thread is one new incident: the most upstream of it is the parent, the rest
    # (which it explains) reply in that parent's thread.
    leaving = {d.fingerprint for d in notify if d.detached}
    notify = [
        d.model_copy(update={"in_cause_thread": True, "cause_finding": firing.get(causes[d.fingerprint])})
        if d.detached and causes.get(d.fingerprint) in leaving else d
        for d in notify
    ]
    # The cause's resolution is read before the new parents of what it leaves behind.
    notify = [d for d in notify if not d.detached] + [d for d in notify if d.detached]
    return Decisions(notify=notify, silenced=silenced, refresh=refresh, acknowledged=acknowledged, no_data=decisions.no_data)


def annotate(message: AlertMessage, decision: Decision, *, now: datetime) -> AlertMessage:
    """The message with what explains it and what it explains (pure); `now`: the run's, the "no data since" of an
    effect this run is the first to find without data (the moment its record is marked)."""
    if decision.reason is Reason.RESOLVED:
        return message
    cause_line = None
    if decision.cause_finding is not None:
        cause_line = f"{decision.cause_finding.monitor}: {decision.cause_finding.summary}"
    elif decision.cause is not None:
        cause_line = f"{decision.cause.monitor}: {decision.cause.summary}"
    why_now, facts = message.why_now, message.facts
    if decision.detached and decision.previous is not None and decision.cause is not None:
        ended = f"{decision.cause.monitor}: {decision.cause.summary}"
        moved = (
            f"now in the thread of {decision.cause_finding.monitor}'s alert, which explains it"
            if decision.in_cause_thread and decision.cause_finding is not None else "now in its own thread"
        )
        why_now = (
            f"its cause resolved and it did not: \"{ended}\" resolved, this is still firing after its grace "
            f"(first sent {decision.previous.first_seen:%Y-%m-%d %H:%M} UTC in that incident's thread; "
            f"notice {decision.previous.notify_count + 1}, {moved})"
        )
        facts = [(name, left_to_check(text, resolved=decision.cause.monitor)) if name == "check first" else (name, text)
                 for name, text in facts]
    return replace(
        message,
        why_now=why_now,
        facts=facts,
        caused_by=decision.caused_by,
        cause=cause_line if decision.caused_by else None,
        affects=[member_line_of(f) for f in decision.affects] + [
            f"{member_line_of(s)} (no data since {clock(s.no_data_since or now, message.zone)})"
            for s in decision.affects_without_data
        ],
    )


def left_to_check(check_first: str, *, resolved: str) -> str:
    """A "check first" that names the alert of a resolved monitor, with that step dropped: what is left to check."""
    if resolved not in check_first:
        return check_first
    _, then, rest = check_first.rpartition("then ")
    left = rest if then else "the evidence and the links below"
    return f"{left} (the {resolved} alert it would name has resolved)"


def member_line_of(finding: Finding | AlertState) -> str:
    """An affected finding (or an open incident's record) as one line: severity, monitor, title and where (as its
    own message shows them)."""
    stub = AlertMessage(
        fingerprint=finding.fingerprint, reason=Reason.FIRST, severity=finding.severity, monitor=finding.monitor,
        title=finding.summary, where=where_of(finding.key), why_now="",
    )
    return member_line(stub)

