"""The dedup decision: a pure function of (notification records, this run's findings, who ran, now)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Sequence

from alerts.acks import in_force
from alerts.silences import silence_for
from core.config import RepeatIntervals
from core.model import Acknowledgement, AlertState, Decision, Finding, Judged, Reason, Severity, Silence


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
    """fingerprint -> who acknowledged it, for every firing finding whose acknowledgement is in force
    (its repeats are not sent; alerts/acks.py)."""


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
    its resolution is always sent.
    """
    notify: list[Decision] = []
    silenced: dict[str, str] = {}
    acknowledged: dict[str, str] = {}
    firing_now: set[str] = set()
    for finding in findings:
        fingerprint = finding.fingerprint
        if fingerprint in firing_now:
            continue  # the same finding twice in one run notifies once
        firing_now.add(fingerprint)
        state = previous.get(fingerprint)
        note = None
        ack = (acknowledgements or {}).get(fingerprint)
        if in_force(ack, state=state, severity=finding.severity, now=now):
            assert ack is not None
            acknowledged[fingerprint] = ack.by
        if state is None or not state.firing:
            reason: Reason | None = Reason.FIRST
        elif escalated(state.severity, finding.severity):
            # A rise in severity is news: it goes out now, in the incident's thread, whatever the interval.
            reason, note = Reason.REPEAT, ESCALATED
        elif now - state.last_notified >= repeat_after.for_severity(finding.severity):
            reason = Reason.REPEAT
        else:
            reason = None
        if reason is None or (reason is Reason.REPEAT and fingerprint in acknowledged):
            continue
        silence = silence_for(finding, silences, now=now)
        if silence is not None:
            silenced[fingerprint] = silence.id
            continue
        notify.append(Decision(fingerprint=fingerprint, reason=reason, finding=finding, previous=state, note=note))
    for fingerprint, state in previous.items():
        if fingerprint in firing_now or not state.firing:
            continue
        owner = state.resolves_with
        if owner not in succeeded:
            continue
        note = None
        judged = (coverage or {}).get(owner)
        if judged is not None and judged.leaves_alone(state.key):
            continue
        target = state.key.get(judged.label) if judged is not None else None
        if judged is not None and target is not None and target not in judged.targets:
            if not retire_uncovered:
                continue
            note = f"{judged.label.replace('_', ' ')} {target} is no longer checked by {owner} (outside what it checks)"
        # Sent even when silenced: whoever saw the alert must see it end.
        notify.append(Decision(fingerprint=fingerprint, reason=Reason.RESOLVED, previous=state, note=note))
    return Decisions(notify=notify, silenced=silenced, acknowledged=acknowledged)
