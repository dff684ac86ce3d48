"""People acting on an open incident: acknowledge, end the acknowledgement, silence, end the silence.

One implementation for the CLI (`main.py ack`, `unack`) and the Slack buttons (entry/slack_actions.py):
write the record (the store's compare-and-set), then say so where the incident is read (the parent
message shows who has it and the right buttons; a reply in its thread says what was done).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Callable, Literal, Mapping, Protocol, Sequence, runtime_checkable

from alerts.acks import holds, new_ack
from alerts.group import AlertGroup
from alerts.links import RUNBOOK_LABEL, LinkContext, runbook_url
from alerts.message import AlertMessage, when, where_of
from alerts.notifier import DeliveryError, ThreadRef
from alerts.silences import new_silence
from alerts.state import StateStore
from core.model import Acknowledgement, AlertState, Reason, Silence

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


def click_silence_id(click: str) -> str:
    """The id of the silence one click makes: the same for every delivery of that click, so a retried click
    finds the silence its first delivery made instead of making a second one."""
    return "s" + hashlib.sha256(f"silence|{click}".encode()).hexdigest()[:15]


def silence(store: StateStore, *, state: AlertState, by: str, now: datetime, duration: str, click: str | None = None) -> Outcome:
    """`click`: the click's key (a button): its silence has an id made from it and is made once."""
    made = new_silence(
        matchers=incident_matchers(state), duration=duration, reason=f"silenced for {duration} from Slack", author=by, now=now,
    )
    if click is not None:
        made = made.model_copy(update={"id": click_silence_id(click)})
        earlier = next((s for s in store.silences(now=now, include_expired=True) if s.id == made.id), None)
        if earlier is not None:
            return Outcome(None, f"{state.fingerprint} was silenced by this click already (silence {earlier.id}); nothing changed")
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
    """Where an incident stands now (its acknowledgement in force, its own silence): what its parent shows
    (the line saying who has it, and the buttons that apply)."""

    acknowledged: bool
    silenced: bool
    ack: Acknowledgement | None = None
    silence: Silence | None = None
    """The incident's own silence that ends last (several: the latest end is what the reader needs)."""

    def lines(self, who: Callable[[str], str], zone: tzinfo) -> list[str]:
        """'Acknowledged by <who> at ...', 'Silenced by <who> until ...': `who` makes each author inert."""
        said = []
        if self.ack is not None:
            said.append(Acted("ack", self.ack.fingerprint, self.ack.by, self.ack.at, self.ack.expires_at).line(who(self.ack.by), zone))
        if self.silence is not None:
            made = self.silence
            said.append(Acted("silence", "", made.author, made.created_at, made.expires_at).line(who(made.author), zone))
        return said


NOT_ACTED_ON = Standing(acknowledged=False, silenced=False)


def standing_of(
    state: AlertState, *, acknowledgements: Mapping[str, Acknowledgement], silences: Sequence[Silence], now: datetime
) -> Standing:
    """The standing of one open incident from the stored acknowledgements and silences (pure)."""
    ack = acknowledgements.get(state.fingerprint)
    in_force = ack if ack is not None and holds(ack, state=state, now=now) else None
    wanted = incident_matchers(state)
    own = [s for s in silences if s.matchers == wanted and s.expires_at > now]
    latest = max(own, key=lambda s: s.expires_at, default=None)
    return Standing(acknowledged=in_force is not None, silenced=latest is not None, ack=in_force, silence=latest)


def standings(store: StateStore, *, states: Sequence[AlertState], now: datetime) -> dict[str, Standing]:
    """Each open incident's standing, read from the store now (one read of acknowledgements, one of silences)."""
    open_ = [s for s in states if s.firing]
    if not open_:
        return {}
    acks = store.acknowledgements(fingerprints=[s.fingerprint for s in open_])
    silences = store.silences(now=now)
    return {s.fingerprint: standing_of(s, acknowledgements=acks, silences=silences, now=now) for s in open_}


def standing(store: StateStore, *, state: AlertState, now: datetime) -> Standing:
    return standings(store, states=[state], now=now).get(state.fingerprint, NOT_ACTED_ON)


def parent_message(state: AlertState, *, zone: tzinfo, links: LinkContext | None) -> AlertMessage:
    """An incident's parent as its record tells it (a click has no finding): what is open, since when, and what the
    record kept of its latest notice (evidence, details, fix, links; none in a record from before they were kept)."""
    shown = state.shown
    found = [(link.label, link.url) for link in shown.links] if shown is not None else []
    if links is not None and not any(label == RUNBOOK_LABEL for label, _ in found):
        found.append((RUNBOOK_LABEL, runbook_url(links, state.monitor, state.key.get("problem"))))
    return AlertMessage(
        fingerprint=state.fingerprint, reason=Reason.FIRST if state.firing else Reason.RESOLVED, severity=state.severity,
        monitor=state.monitor, title=state.summary, where=where_of(state.key), why_now="", since=state.first_seen,
        zone=zone, first_notified=state.first_seen, links=found,
        evidence=shown.evidence if shown is not None else None, fix=shown.fix if shown is not None else None,
        facts=[(fact.name, fact.value) for fact in shown.facts] if shown is not None else [],
    )


def thread_of(state: AlertState) -> ThreadRef | None:
    return ThreadRef(channel=state.channel, ts=state.thread_ts) if state.channel and state.thread_ts else None


@dataclass(frozen=True)
class ParentView:
    """What a parent message shows now: one incident (`message`), or the summary of several (`group`), with
    the standing of each open incident shown (its line and buttons). Every parent edit is rendered from one."""

    thread: ThreadRef
    message: AlertMessage | None = None
    group: AlertGroup | None = None
    standings: Mapping[str, Standing] = field(default_factory=dict)
    brief: bool = False
    """Built from records only (a click, `main.py ack`): the finding's evidence and fix are not at hand."""


def parent_view(
    store: StateStore, *, state: AlertState, now: datetime, zone: tzinfo, links: LinkContext | None,
    message: AlertMessage | None = None, group_after: int = 1,
) -> ParentView | None:
    """The parent of the thread `state` lives in, as it should read now (None: it has no message).

    A summary's member: the whole summary, each member as its record says, with the open ones' standing.
    An effect in its cause's thread: the cause's parent. Otherwise the incident's own parent, from `message`
    when given (a run's full message), else from its record (brief)."""
    thread = thread_of(state)
    if thread is None:
        return None
    if state.group:
        loaded = store.load(fingerprints=state.group)
        members = [loaded[fp] for fp in state.group if fp in loaded]
        messages = [parent_message(m, zone=zone, links=links) for m in members]
        if not messages:
            return None
        group = AlertGroup(reason=Reason.FIRST, members=tuple(messages), limit=group_after)
        return ParentView(thread=thread, group=group, standings=standings(store, states=members, now=now), brief=True)
    if state.caused_by and message is None:
        cause = store.load(fingerprints=[state.caused_by]).get(state.caused_by)
        if cause is not None and thread_of(cause) == thread:
            return parent_view(store, state=cause, now=now, zone=zone, links=links, group_after=group_after)
    shown = message or parent_message(state, zone=zone, links=links)
    return ParentView(thread=thread, message=shown, standings=standings(store, states=[state], now=now), brief=message is None)


ACTION_KEY_RETENTION = timedelta(days=1)
"""How long a handled click's key is kept: far past Slack's 5-minute signature window, so a replay is refused."""


@runtime_checkable
class Announcer(Protocol):
    def announce(self, parent: ParentView, acted: Acted | None, *, about: AlertMessage) -> None: ...


def announce(
    notifier: Any, store: StateStore, *, state: AlertState, acted: Acted | None, now: datetime, zone: tzinfo,
    links: LinkContext | None, group_after: int = 1,
) -> str | None:
    """Say what was done where the incident is read: its parent re-rendered with every incident's current
    standing and, when something changed (`acted`), a reply in its thread. The record already stands, so a
    delivery failure here is only reported (None: said); a store that cannot be read raises StateError."""
    if not isinstance(notifier, Announcer):
        return "the incident has no message to update"
    parent = parent_view(store, state=state, now=now, zone=zone, links=links, group_after=group_after)
    if parent is None:
        return "the incident has no message to update"
    try:
        notifier.announce(parent, acted, about=parent_message(state, zone=zone, links=links))
    except DeliveryError as error:
        return str(error)
    return None
