"""People acting on an open incident: acknowledge, end the acknowledgement, silence, end the silence.

One implementation for the CLI (`main.py ack`, `unack`) and the Slack buttons (entry/slack_actions.py):
write the record (the store's compare-and-set), then say so where the incident is read (the parent
message shows who has it and the right buttons; a reply in its thread says what was done).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, Protocol, runtime_checkable

from alerts.acks import holds, new_ack
from alerts.links import LinkContext, runbook_url
from alerts.message import AlertMessage, when, where_of
from alerts.notifier import DeliveryError, ThreadRef
from alerts.silences import new_silence
from alerts.state import StateStore
from core.model import AlertState, Reason, Silence

Kind = Literal["ack", "unack", "silence", "unsilence"]

SILENCE_BUTTONS = {"silence_2h": "2h", "silence_8h": "8h"}
"""The Silence buttons' action_ids and how long each silences."""


@dataclass(frozen=True)
class Acted:
    """What one person did to one incident, as the thread reply and the parent say it."""

    kind: Kind
    fingerprint: str
    by: str
    """A name from the CLI, or `slack:<user id>` from a button."""
    at: datetime
    until: datetime | None = None
    """A silence's end, or an acknowledgement's expiry (None: until it resolves)."""

    def line(self, who: str, zone: tzinfo) -> str:
        """'Acknowledged by <who> at Sat 2026-11-21 23:04 EST (04:04 UTC)' and the like; `who` comes in inert."""
        if self.kind == "ack":
            until = f", until {when(self.until, zone)}" if self.until else ", until it resolves"
            return f"Acknowledged by {who} at {when(self.at, zone)}{until}: no repeats meanwhile"
        if self.kind == "unack":
            return f"Acknowledgement ended by {who} at {when(self.at, zone)}: repeats resume"
        if self.kind == "silence":
            assert self.until is not None
            return f"Silenced by {who} until {when(self.until, zone)}"
        return f"Silence ended by {who} at {when(self.at, zone)}"


@dataclass(frozen=True)
class Outcome:
    """What an action did: `acted` when it changed something; `said` is the one line for whoever asked."""

    acted: Acted | None
    said: str


def incident_matchers(state: AlertState) -> dict[str, str]:
    """A silence of exactly this incident: its monitor and every label of its key (as `main.py silence` takes them)."""
    return {"monitor": state.monitor, **dict(sorted(state.key.items()))}


def acknowledge(store: StateStore, *, state: AlertState, by: str, now: datetime, duration: str | None, zone: tzinfo) -> Outcome:
    ack = new_ack(state=state, by=by, now=now, duration=duration)
    stored, created = store.acknowledge(ack, state=state)
    if not created:
        return Outcome(None, f"{state.fingerprint} is already acknowledged by {stored.by} (since {when(stored.at, zone)}); nothing changed")
    return Outcome(Acted("ack", state.fingerprint, by, now, stored.expires_at), "")


def unacknowledge(store: StateStore, *, state: AlertState, by: str, now: datetime) -> Outcome:
    current = store.acknowledgements(fingerprints=[state.fingerprint]).get(state.fingerprint)
    if current is None or not holds(current, state=state, now=now):
        return Outcome(None, f"{state.fingerprint} is not acknowledged; nothing changed")
    store.unacknowledge(state.fingerprint, now=now, by=by)
    return Outcome(Acted("unack", state.fingerprint, by, now), "")


def silence(store: StateStore, *, state: AlertState, by: str, now: datetime, duration: str) -> Outcome:
    made = new_silence(
        matchers=incident_matchers(state), duration=duration, reason=f"silenced for {duration} from Slack", author=by, now=now,
    )
    store.add_silence(made)
    return Outcome(Acted("silence", state.fingerprint, by, now, made.expires_at), f"silence {made.id}")


def silences_of(store: StateStore, *, state: AlertState, now: datetime) -> list[Silence]:
    """The active silences made for exactly this incident (by a button or the same `main.py silence`)."""
    wanted = incident_matchers(state)
    return [s for s in store.silences(now=now) if s.matchers == wanted]


def unsilence(store: StateStore, *, state: AlertState, by: str, now: datetime) -> Outcome:
    active = silences_of(store, state=state, now=now)
    if not active:
        return Outcome(None, f"{state.fingerprint} has no silence of its own; nothing changed")
    for made in active:
        store.end_silence(made.id, now=now, by=by)
    return Outcome(Acted("unsilence", state.fingerprint, by, now), "")


@dataclass(frozen=True)
class Standing:
    """Where an incident stands after an action: what its parent's buttons offer."""

    acknowledged: bool
    silenced: bool


def standing(store: StateStore, *, state: AlertState, now: datetime) -> Standing:
    ack = store.acknowledgements(fingerprints=[state.fingerprint]).get(state.fingerprint)
    return Standing(
        acknowledged=ack is not None and holds(ack, state=state, now=now),
        silenced=bool(silences_of(store, state=state, now=now)),
    )


def parent_message(state: AlertState, *, acted: Acted, line: str, zone: tzinfo, links: LinkContext | None) -> AlertMessage:
    """The incident's parent as it reads after an action: what is open, since when, and who has it."""
    return AlertMessage(
        fingerprint=state.fingerprint, reason=Reason.FIRST, severity=state.severity, monitor=state.monitor,
        title=state.summary, where=where_of(state.key), why_now=line, since=state.first_seen, zone=zone,
        first_notified=state.first_seen,
        links=[("Runbook", runbook_url(links, state.monitor, state.key.get("problem")))] if links is not None else [],
    )


def thread_of(state: AlertState) -> ThreadRef | None:
    return ThreadRef(channel=state.channel, ts=state.thread_ts) if state.channel and state.thread_ts else None


ACTION_KEY_RETENTION = timedelta(days=1)
"""How long a handled click's key is kept: far past Slack's 5-minute signature window, so a replay is refused."""


@runtime_checkable
class Announcer(Protocol):
    def announce(self, message: AlertMessage, acted: Acted, *, standing: Standing, thread: ThreadRef) -> None: ...


def announce(
    notifier: Any, store: StateStore, *, state: AlertState, acted: Acted, zone: tzinfo, links: LinkContext | None
) -> str | None:
    """Say what was done where the incident is read; the record already stands, so a failure here is only
    reported (None: said)."""
    thread = thread_of(state)
    if thread is None or not isinstance(notifier, Announcer):
        return "the incident has no message to update"
    now = acted.at
    where = standing(store, state=state, now=now)
    message = parent_message(state, acted=acted, line=acted.line(acted.by, zone), zone=zone, links=links)
    try:
        notifier.announce(message, acted, standing=where, thread=thread)
    except DeliveryError as error:
        return str(error)
    return None
