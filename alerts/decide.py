"""The dedup decision: a pure function of (notification records, this run's findings, who ran, now)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import AbstractSet, Mapping, Sequence

from alerts.acks import in_force
from alerts.silences import silence_for
from core.config import RepeatIntervals
from core.model import Acknowledgement, AlertState, CheckError, Decision, Finding, Judged, Reason, Severity, Silence


ESCALATED = "escalated"
"""The note of a repeat sent because the finding's severity rose (not because its interval passed)."""


def escalated(before: Severity, now: Severity) -> bool:
    return now.rank < before.rank


@dataclass(frozen=True)
class Decisions:
    notify: list[Decision]
    silenced: dict[str, str] = field(default_factory=dict)
    """fingerprint -> silence id, for findings whose first/repeat notice a silence muted."""
    refresh: list[Decision] = field(default_factory=list)
    """Parents to edit in place (alerts/causes.py: a cause's parent listing what it now affects)."""
    acknowledged: dict[str, str] = field(default_factory=dict)
    """fingerprint -> who acknowledged it (or its cause), for every firing finding an acknowledgement in force
    covers (its repeats are not sent; alerts/acks.py)."""
    no_data: dict[str, datetime | None] = field(default_factory=dict)
    """fingerprint -> its record's new `no_data_since` (None: clear it), for each open incident whose mark
    changes in this run: kept open only for lack of data (set), or seen again (cleared). Only changes."""


def decide(
    *,
    previous: Mapping[str, AlertState],
    findings: Sequence[Finding],
    succeeded: set[str],
    repeat_after: RepeatIntervals,
    now: datetime,
    silences: Sequence[Silence] = (),
    coverage: Mapping[str, Judged] | None = None,
    retire_uncovered: bool = True,
    acknowledgements: Mapping[str, Acknowledgement] | None = None,
    causes: Mapping[str, str] | None = None,
    errored: AbstractSet[str] = frozenset(),
    unread: Mapping[str, Sequence[CheckError]] | None = None,
) -> Decisions:
    """Give each fingerprint its reason to notify now, or none.

    - first: firing and not currently notified (new, or fired again after it resolved);
    - repeat: still firing and its severity's repeat interval has passed since the last notice, or at once
      when its severity rose since the last notice (warning -> critical; note ESCALATED);
    - resolved: notified and firing before, absent now, and the monitor that owns it ran cleanly;
    - nothing: an errored or unselected monitor neither repeats nor resolves what it owns.

    `coverage` maps a monitor to the targets (game dates, services) it judged in this run. An incident of
    a target it could not read is left alone (that target has its own "canary degraded" finding), and so
    is one it had no data for (no push traffic is not health). An
    incident of another target was not looked at: in a scheduled run (`retire_uncovered`) the target has
    left what the monitor checks (a game date out of its window), so it closes with a note saying so; in
    an operator's run for one date it is left alone.

    `acknowledgements` (fingerprint -> record): an acknowledged incident sends no repeat while its
    acknowledgement is in force (alerts/acks.py: until it resolves, its severity rises, or it expires);
    its resolution is always sent. Acknowledging a cause covers its effects (`causes`: effect -> the firing
    finding that explains it, alerts/causes.py; or the cause whose thread its record lives in): their repeats
    are not sent either, but a rise in an effect's own severity is (an escalation, `covered_by` its cause's
    acknowledger), in the thread it lives in.

    An incident left open without being seen because its monitor had no data for it, errored (`errored`: the
    monitors that ran and could not judge), or could not read its check (`unread`: monitor -> the checks it
    could not read) is open only for lack of data: `no_data` marks its record from now, and clears the
    mark when a run sees it again. An unselected monitor's incidents, or targets an operator's run did not
    look at, are not marked: nobody looked.
    """
    notify: list[Decision] = []
    silenced: dict[str, str] = {}
    acknowledged: dict[str, str] = {}
    no_data: dict[str, datetime | None] = {}
    acks = acknowledgements or {}
    for finding in findings:
        ack = acks.get(finding.fingerprint)
        if in_force(ack, state=previous.get(finding.fingerprint), severity=finding.severity, now=now):
            assert ack is not None
            acknowledged[finding.fingerprint] = ack.by
    direct = dict(acknowledged)
    firing_now: set[str] = set()
    for finding in findings:
        fingerprint = finding.fingerprint
        if fingerprint in firing_now:
            continue  # the same finding twice in one run notifies once
        firing_now.add(fingerprint)
        state = previous.get(fingerprint)
        if state is not None and state.firing and state.no_data_since is not None:
            no_data[fingerprint] = None  # seen again
        note = None
        cover = _covering(fingerprint, state, causes=causes or {}, acknowledged=direct)
        if fingerprint not in acknowledged and cover is not None:
            acknowledged[fingerprint] = cover
        if state is None or not state.firing:
            reason: Reason | None = Reason.FIRST
        elif escalated(state.severity, finding.severity):
            # A rise in severity is news: it goes out now, in the incident's thread, whatever the interval.
            reason, note = Reason.REPEAT, ESCALATED
        elif now - state.last_notified >= repeat_after.for_severity(finding.severity):
            reason = Reason.REPEAT
        else:
            reason = None
        covered_by = None
        if note == ESCALATED and fingerprint not in direct and cover is not None:
            # Its cause's acknowledgement covers its repeats, not a rise in its own severity: that is news.
            covered_by = acknowledged.pop(fingerprint)
        if reason is None or (reason is Reason.REPEAT and fingerprint in acknowledged):
            continue
        silence = silence_for(finding, silences, now=now)
        if silence is not None:
            silenced[fingerprint] = silence.id
            continue
        notify.append(Decision(
            fingerprint=fingerprint, reason=reason, finding=finding, previous=state, note=note, covered_by=covered_by,
        ))
    for fingerprint, state in previous.items():
        if fingerprint in firing_now or not state.firing:
            continue
        owner = state.resolves_with
        if owner not in succeeded:
            if owner in errored:
                _mark(no_data, state, now=now)  # its monitor could not judge it
            continue
        note = None
        judged = (coverage or {}).get(owner)
        if judged is not None and judged.leaves_alone(state.key):
            _mark(no_data, state, now=now)  # an unread target, or no data for it
            continue
        if any(check.holds(state) for check in (unread or {}).get(state.monitor, ())):
            _mark(no_data, state, now=now)  # a check its monitor could not read neither fires nor resolves
            continue
        target = state.key.get(judged.label) if judged is not None else None
        if judged is not None and target is not None and target not in judged.targets:
            if not retire_uncovered:
                continue
            note = f"{judged.label.replace('_', ' ')} {target} is no longer checked by {owner} (outside what it checks)"
        # Sent even when silenced: whoever saw the alert must see it end.
        notify.append(Decision(fingerprint=fingerprint, reason=Reason.RESOLVED, previous=state, note=note))
    return Decisions(notify=notify, silenced=silenced, acknowledged=acknowledged, no_data=no_data)


def _covering(
    fingerprint: str, state: AlertState | None, *, causes: Mapping[str, str], acknowledged: Mapping[str, str]
) -> str | None:
    """Who acknowledged the cause of this finding (this run's cause, or the one whose thread it lives in), if anyone."""
    lives_in = state.caused_by if state is not None and state.firing else None
    for cause in (causes.get(fingerprint), lives_in):
        if cause is not None and cause != fingerprint and cause in acknowledged:
            return acknowledged[cause]
    return None


def _mark(no_data: dict[str, datetime | None], state: AlertState, *, now: datetime) -> None:
    """Mark `state` open for lack of data from now, unless it is marked already (written only on change)."""
    if state.no_data_since is None:
        no_data[state.fingerprint] = now
