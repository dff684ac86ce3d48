"""Deliver each due notice: claim (compare-and-set) -> send -> record; a failure leaves it due.

Notices of one reason bound for one place (a channel for new incidents, a thread for replies) that
number more than `alerts.group_after` go out as one summary: each is claimed first, and only those this
run claimed are listed. A summary of new incidents becomes their shared thread; each one's details
follow there as a reply, and its later repeats and resolution land in that thread too.

An explained first notice (alerts/causes.py) goes out after the others, as a reply in its cause's
thread when the cause has one (delivered earlier in this run, or before); a cause whose delivery failed
has no thread, and the effect is posted as its own parent: explaining never hides an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

from alerts.acted import ParentView, parent_view
from alerts.causes import annotate
from alerts.group import AlertGroup
from alerts.links import LinkContext
from alerts.message import AlertMessage, build_message
from alerts.notifier import DeliveryError, Notifier, Receipt, ThreadRef
from alerts.state import CorruptRecord, StateError, StateStore
from core.config import AlertsConfig
from core.model import AlertState, Decision, NotificationReport, Reason, Severity

ANOTHER_RUN = "another run claimed it first"
CAUSE_ELSEWHERE = "another run is sending its cause; that run posts it in the cause's thread (or the next run does)"


@dataclass(frozen=True)
class Presentation:
    """How every message of a run is shown: times in the league's zone (UTC beside), links built from the
    configuration. Every message (a plan's, a corrupt record's re-send, a summary's earlier member) uses it."""

    zone: tzinfo = timezone.utc
    links: LinkContext | None = None
    synthetic: bool = False
    """Every message marked [TEST] (the test alert: its resolved notice is built from a record that does not say so)."""
    impacts: Mapping[str, str] = field(default_factory=dict)
    """fingerprint -> its parent's first line (the impact and the time left, alerts/impact.py), for this run."""

    def message(self, decision: Decision, *, now: datetime) -> AlertMessage:
        message = annotate(build_message(decision, now=now, zone=self.zone, links=self.links), decision, now=now)
        if decision.reason is not Reason.RESOLVED and decision.fingerprint in self.impacts:
            message = replace(message, impact=self.impacts[decision.fingerprint])
        return replace(message, synthetic=True) if self.synthetic else message


@dataclass(frozen=True)
class DeliveryPlan:
    decision: Decision
    message: AlertMessage


@runtime_checkable
class GroupNotifier(Protocol):
    """A Notifier that can also send one summary of many notices (Slack, the local file)."""

    def send_group(self, group: AlertGroup, *, thread: ThreadRef | None) -> Receipt: ...

    def mark_group_resolved(self, group: AlertGroup, *, thread: ThreadRef) -> None: ...


@runtime_checkable
class ParentEditor(Protocol):
    """A Notifier that can rewrite an open parent in place (Slack's chat.update): one incident or a summary,
    each open incident with its current standing (alerts/acted.py parent_view)."""

    def edit_parent(self, parent: ParentView) -> None: ...


@dataclass
class Batch:
    """Due notices of one reason bound for one place: a channel (new incidents) or a thread (replies)."""

    reason: Reason
    thread: ThreadRef | None
    plans: list[DeliveryPlan] = field(default_factory=list)


def plan(decisions: list[Decision], *, now: datetime, presentation: Presentation = Presentation()) -> list[DeliveryPlan]:
    """Each decision with its message, as `presentation` shows it."""
    return [DeliveryPlan(decision=d, message=presentation.message(d, now=now)) for d in decisions]


def _thread_of(decision: Decision) -> ThreadRef | None:
    previous = decision.previous
    if decision.reason is Reason.FIRST or previous is None or not previous.thread_ts or not previous.channel:
        return None
    return ThreadRef(channel=previous.channel, ts=previous.thread_ts)


def batches(
    plans: list[DeliveryPlan], *, channel_for: Callable[[Severity], str | None],
    thread_of: Callable[[Decision], ThreadRef | None] = _thread_of,
) -> list[Batch]:
    """The plans split by reason and destination, in the order they first appear."""
    found: dict[tuple[Reason, str | None, str | None], Batch] = {}
    for item in plans:
        thread = thread_of(item.decision)
        place = (thread.channel, thread.ts) if thread else (channel_for(item.message.severity), None)
        found.setdefault((item.decision.reason, *place), Batch(reason=item.decision.reason, thread=thread)).plans.append(item)
    return list(found.values())


def as_delivery_error(error: Exception) -> DeliveryError:
    """A notifier's unexpected exception still releases the claims and fails only those notices."""
    if isinstance(error, DeliveryError):
        return error
    return DeliveryError(f"notifier failed unexpectedly: {type(error).__name__}: {error}")


_NOT_SKIPPED = NotificationReport(fingerprint="", reason=Reason.FIRST, delivered=False)


@dataclass
class _Delivery:
    """One deliver() call's collaborators and what it has learned so far."""

    store: StateStore
    notifier: Notifier
    owner: str
    now: datetime
    alerts: AlertsConfig
    channel_for: Callable[[Severity], str | None]
    presentation: Presentation = Presentation()
    reports: dict[str, NotificationReport] = field(default_factory=dict)
    unreadable: Mapping[str, str] = field(default_factory=dict)
    """Records that load() could not read (fingerprint -> why): replaced before their notice is sent."""
    corrupt: dict[str, str] = field(default_factory=dict)
    """fingerprint -> why its record was replaced: said in that notice's report, whatever else happens."""
    resolved: dict[tuple[str, str], list[DeliveryPlan]] = field(default_factory=dict)
    """Delivered resolved notices by the thread whose parent may now be edited."""
    threads: dict[str, ThreadRef] = field(default_factory=dict)
    """The thread of each incident recorded firing in this run (where its effects' replies go)."""
    joined: set[str] = field(default_factory=set)
    """Causes whose thread an effect's first notice joined in this run."""
    read_again: dict[str, AlertState | None] = field(default_factory=dict)

    def thread_of(self, decision: Decision) -> ThreadRef | None:
        """Where a notice goes: its incident's thread, its cause's thread, or None (a new parent)."""
        if decision.detached:
            # Its cause resolved: a parent of its own, or a reply to the new parent that explains it (opened in
            # this run; if that one failed, its own parent: explaining never hides an alert).
            return self.threads.get(decision.caused_by or "") if decision.in_cause_thread else None
        if decision.reason is Reason.FIRST and decision.in_cause_thread and decision.caused_by:
            if decision.caused_by in self.threads:
                return self.threads[decision.caused_by]
            cause = decision.cause
            if cause is None or not cause.thread_ts:
                cause = self.cause_now(decision.caused_by)
            if cause is not None and cause.firing and cause.thread_ts and cause.channel:
                return ThreadRef(channel=cause.channel, ts=cause.thread_ts)
            return None  # the cause has no thread (its delivery failed): posted as usual
        return _thread_of(decision)

    def cause_now(self, fingerprint: str) -> AlertState | None:
        """The cause's record as stored now: a concurrent run that won its claim may have opened its thread."""
        if fingerprint not in self.read_again:
            try:
                self.read_again[fingerprint] = self.store.load(fingerprints=[fingerprint]).get(fingerprint)
            except StateError:
                self.read_again[fingerprint] = None
        return self.read_again[fingerprint]

    def left_to_the_cause_sender(self, item: DeliveryPlan) -> bool:
        """An effect whose cause another run claimed in this round and has not yet recorded with a thread: left to
        that run, which posts it in the thread it opens, so that overlapping runs thread as sequential runs do.
        Not claimed here, so the other run (or the next, should that one die) sends it: delayed, never lost."""
        decision = item.decision
        cause = decision.caused_by
        if cause is None or cause in self.threads or self.reports.get(cause, _NOT_SKIPPED).skipped != ANOTHER_RUN:
            return False
        if not decision.detached:
            now = self.cause_now(cause)
            if now is not None and now.firing and now.thread_ts and now.channel:
                return False  # the other run has opened the cause's thread: reply there
        self.report(decision, delivered=False, skipped=CAUSE_ELSEWHERE)
        return True

    def claim(self, item: DeliveryPlan) -> DeliveryPlan | None:
        """The plan to send once claimed (a corrupt record's notice becomes a first), or None."""
        decision = item.decision
        if decision.fingerprint in self.unreadable:  # its record could not even be loaded
            return self.replace_corrupt(item, self.unreadable[decision.fingerprint])
        expected = decision.previous.version if decision.previous else 0
        try:
            claimed = self.store.claim(
                fingerprint=decision.fingerprint, expected_version=expected, owner=self.owner, now=self.now, lease=self.alerts.claim_lease
            )
        except CorruptRecord as error:
            return self.replace_corrupt(item, str(error))
        except StateError as error:
            self.report(decision, delivered=False, error=f"state store: {error}")
            return None
        if not claimed:
            self.report(decision, delivered=False, skipped=ANOTHER_RUN)
            return None
        return item

    def replace_corrupt(self, item: DeliveryPlan, error: str) -> DeliveryPlan | None:
        """A record no run can compare is replaced, and its notice sent as a first: a duplicate at worst,
        never a notice skipped on every run as if another run had sent it."""
        decision = item.decision
        self.corrupt[decision.fingerprint] = f"corrupt record replaced, notice sent as a first: {error}"
        try:
            self.store.replace_corrupt(fingerprint=decision.fingerprint, owner=self.owner, now=self.now, lease=self.alerts.claim_lease)
        except StateError as failure:
            self.report(decision, delivered=False, error=f"state store: {error}; cannot replace it: {failure}")
            return None
        if decision.finding is None:
            return item  # a resolution: nothing to open again; it is sent and recorded as resolved
        first = Decision(fingerprint=decision.fingerprint, reason=Reason.FIRST, finding=decision.finding)
        return DeliveryPlan(decision=first, message=self.presentation.message(first, now=self.now))

    def failed(self, decisions: list[Decision], error: DeliveryError) -> None:
        for decision in decisions:
            try:
                self.store.release(fingerprint=decision.fingerprint, owner=self.owner)
            except StateError:
                pass  # the claim's lease expires on its own
            self.report(decision, delivered=False, error=str(error))

    def record(self, item: DeliveryPlan, receipt: Receipt, *, thread: ThreadRef | None, group: list[str] | None = None) -> None:
        decision, message = item.decision, item.message
        # A first notice (or one leaving an ended cause's thread) that joined its cause's thread.
        joined = (decision.reason is Reason.FIRST or decision.detached) and thread is not None
        state = decision.next_record(
            now=self.now,
            retention=self.alerts.resolved_retention,
            channel=thread.channel if joined else receipt.channel or self.channel_for(message.severity),
            thread_ts=thread.ts if joined else receipt.ts,
            group=group,
            caused_by=decision.caused_by if joined else None,
        )
        if decision.reason is not Reason.RESOLVED:
            # Imported here: the renderer brings slack_sdk's block models, which a cold start must not load.
            from alerts.render_slack import shown_of

            # What this notice showed beyond the record (evidence, details, fix, links), for a parent rebuilt from it.
            state = state.model_copy(update={"shown": shown_of(message)})
        if decision.reason is Reason.RESOLVED and thread is not None:
            self.resolved.setdefault((thread.channel, thread.ts), []).append(item)
        if joined and decision.caused_by:
            self.joined.add(decision.caused_by)
        if state.firing and state.channel and state.thread_ts:
            self.threads[decision.fingerprint] = ThreadRef(channel=state.channel, ts=state.thread_ts)
        try:
            self.store.record(state=state, owner=self.owner)
        except StateError as error:
            # Sent but not recorded: the next run sends it again (a duplicate, never a lost alert).
            self.report(decision, delivered=True, error=f"sent, but not recorded: {error}")
            return
        self.report(decision, delivered=True)

    def report(self, decision: Decision, *, delivered: bool, error: str | None = None, skipped: str | None = None) -> None:
        corrupt = self.corrupt.get(decision.fingerprint)
        if corrupt:
            error = f"{corrupt}; {error}" if error else corrupt
        self.reports[decision.fingerprint] = NotificationReport(
            fingerprint=decision.fingerprint, reason=decision.reason, delivered=delivered, error=error, skipped=skipped
        )

    def one(self, item: DeliveryPlan) -> None:
        thread = self.thread_of(item.decision)
        try:
            receipt = self.notifier.send(item.message, thread=thread)
        except Exception as error:
            self.failed([item.decision], as_delivery_error(error))
            return
        self.record(item, receipt, thread=thread)

    def group(self, batch: Batch, claimed: list[DeliveryPlan], notifier: GroupNotifier) -> None:
        group = AlertGroup(reason=batch.reason, members=tuple(i.message for i in claimed), limit=self.alerts.group_after)
        try:
            receipt = notifier.send_group(group, thread=batch.thread)
        except Exception as error:
            self.failed([i.decision for i in claimed], as_delivery_error(error))
            return
        # A summary of new incidents is their thread, unless it is itself a reply (effects in a cause's thread).
        opens_thread = batch.reason is Reason.FIRST and batch.thread is None
        members = [i.decision.fingerprint for i in claimed] if opens_thread else None
        for item in claimed:
            self.record(item, receipt, thread=batch.thread, group=members)
        if opens_thread and receipt.ts:
            summary = ThreadRef(channel=receipt.channel or str(self.channel_for(group.severity)), ts=receipt.ts)
            for member in group.ordered:  # in the summary's order
                try:
                    self.notifier.send(member, thread=summary)
                except DeliveryError:
                    pass  # the summary (already recorded) names it; its details are a courtesy

    def edit_resolved_parents(self) -> None:
        """Show a parent as resolved once nothing in its thread is still firing (cosmetic: failures pass)."""
        if not self.resolved:
            return
        try:
            firing = self.store.load_firing()
        except StateError:
            return
        busy = {(s.channel, s.thread_ts): s for s in firing.values()}
        for (channel, ts), items in self.resolved.items():
            if (channel, ts) in busy:
                # A summary's thread with members still firing: its parent lists them, the resolved without buttons.
                self.edit_open_parent(busy[(channel, ts)], message=None, only_groups=True)
                continue
            thread = ThreadRef(channel=channel, ts=ts)
            members = next((i.decision.previous.group for i in items if i.decision.previous and i.decision.previous.group), [])
            # The parent is the cause's message, not an effect's that lived in its thread (the cause may have
            # resolved in an earlier run, its effects clearing within their grace).
            owner = next((i for i in items if i.decision.previous and not i.decision.previous.caused_by), None)
            try:
                if members and isinstance(self.notifier, GroupNotifier):
                    self.notifier.mark_group_resolved(self.whole_group(members, items), thread=thread)
                else:
                    self.notifier.mark_resolved(owner.message if owner else self.cause_resolved(items), thread=thread)
            except (DeliveryError, StateError):
                pass  # the resolved replies are in the thread; the parent's edit is cosmetic

    def cause_resolved(self, items: list[DeliveryPlan]) -> AlertMessage:
        """The resolved message of the cause whose thread these effects' resolutions were posted in."""
        cause = next((i.decision.previous.caused_by for i in items if i.decision.previous), None)
        state = self.store.load(fingerprints=[cause]).get(cause) if cause else None
        if state is None:
            return items[-1].message
        return self.presentation.message(
            Decision(fingerprint=state.fingerprint, reason=Reason.RESOLVED, previous=state), now=state.resolved_at or self.now,
        )

    def edit_parents(self, refresh: Sequence[DeliveryPlan]) -> None:
        """A cause's parent rewritten to list what it affects, once an effect joined its thread (cosmetic)."""
        for item in refresh:
            state = item.decision.previous
            if item.decision.fingerprint not in self.joined or state is None or not state.channel or not state.thread_ts:
                continue
            self.edit_open_parent(state, message=item.message)

    def edit_open_parent(self, state: AlertState, *, message: AlertMessage | None, only_groups: bool = False) -> None:
        """Re-render the parent `state`'s thread hangs from with every open incident's current standing, read from
        the store now (an acknowledged incident keeps its Unacknowledge button and its line); a summary stays a
        summary. Cosmetic: any failure passes (the replies are in the thread)."""
        if not isinstance(self.notifier, ParentEditor) or (only_groups and not state.group):
            return
        try:
            parent = parent_view(
                self.store, state=state, now=self.now, zone=self.presentation.zone, links=self.presentation.links,
                message=None if state.group else message, group_after=self.alerts.group_after,
            )
            if parent is not None:
                self.notifier.edit_parent(parent)
        except Exception:  # noqa: BLE001 - the parent's edit is cosmetic
            pass

    def whole_group(self, members: list[str], resolved_now: list[DeliveryPlan]) -> AlertGroup:
        """Every incident the summary listed, also those that resolved in earlier runs."""
        states = self.store.load(fingerprints=members)
        messages = {i.decision.fingerprint: i.message for i in resolved_now}
        for fingerprint in members:
            if fingerprint not in messages and fingerprint in states:
                earlier = Decision(fingerprint=fingerprint, reason=Reason.RESOLVED, previous=states[fingerprint])
                messages[fingerprint] = self.presentation.message(earlier, now=self.now)
        return AlertGroup(reason=Reason.RESOLVED, members=tuple(messages.values()), limit=self.alerts.group_after)


def deliver(
    plans: list[DeliveryPlan],
    *,
    store: StateStore,
    notifier: Notifier,
    owner: str,
    now: datetime,
    alerts: AlertsConfig,
    channel_for: Callable[[Severity], str | None],
    refresh: Sequence[DeliveryPlan] = (),
    corrupt: Mapping[str, str] | None = None,
    presentation: Presentation = Presentation(),
) -> list[NotificationReport]:
    """One report per plan, in the plans' order. `refresh`: parents to edit once an effect joined their
    thread; `corrupt`: records load() could not read, replaced (their notices sent as firsts) rather than
    compared; `presentation`: how the messages deliver builds itself (a re-sent corrupt record's) are shown."""
    run = _Delivery(store=store, notifier=notifier, owner=owner, now=now, alerts=alerts, channel_for=channel_for,
                    presentation=presentation, unreadable=corrupt or {})
    # Causes first: an explained first notice needs its cause's thread, which may be opened in this run.
    causes_first = [item for item in plans if not item.decision.in_cause_thread]
    effects = [item for item in plans if item.decision.in_cause_thread]
    for wave in (causes_first, effects):
        wave = [item for item in wave if not run.left_to_the_cause_sender(item)]
        for batch in batches(wave, channel_for=channel_for, thread_of=run.thread_of):
            taken = [plan_ for item in batch.plans if (plan_ := run.claim(item)) is not None]
            claimed = [item for item in taken if item.decision.fingerprint not in run.corrupt]
            if len(batch.plans) > alerts.group_after and len(claimed) > 1 and isinstance(notifier, GroupNotifier):
                run.group(batch, claimed, notifier)
            else:
                for item in claimed:
                    run.one(item)
            for item in taken:
                if item.decision.fingerprint in run.corrupt:
                    run.one(item)  # on its own: its record (and thread) starts again
    run.edit_parents(refresh)
    run.edit_resolved_parents()
    return [run.reports[item.decision.fingerprint] for item in plans]


def send_without_state(item: DeliveryPlan, *, notifier: Notifier) -> NotificationReport:
    """Send with no claim and no record: only for when the state store cannot be read at all."""
    try:
        notifier.send(item.message, thread=None)
    except Exception as error:  # any notifier failure: this run is already reporting a broken store
        failure = as_delivery_error(error)
        return NotificationReport(fingerprint=item.decision.fingerprint, reason=item.decision.reason, delivered=False, error=str(failure))
    return NotificationReport(fingerprint=item.decision.fingerprint, reason=item.decision.reason, delivered=True)


def claim_send_record(
    *, fingerprint: str, reason: Reason, store: StateStore, owner: str, now: datetime, lease: timedelta,
    send: Callable[[], Receipt], record: Callable[[Receipt], AlertState],
) -> NotificationReport:
    """One notice that is not an incident (the digest): claimed like an alert so that two runs cannot both
    send it, sent, then recorded; a failed send releases the claim so that the next run sends it."""

    def report(**fields: object) -> NotificationReport:
        return NotificationReport(fingerprint=fingerprint, reason=reason, **fields)  # type: ignore[arg-type]

    try:
        if not store.claim(fingerprint=fingerprint, expected_version=0, owner=owner, now=now, lease=lease):
            return report(delivered=False, skipped=ANOTHER_RUN)
    except StateError as error:
        return report(delivered=False, error=f"state store: {error}")
    try:
        receipt = send()
    except Exception as error:  # any notifier failure releases the claim
        try:
            store.release(fingerprint=fingerprint, owner=owner)
        except StateError:
            pass
        return report(delivered=False, error=str(as_delivery_error(error)))
    try:
        store.record(state=record(receipt), owner=owner)
    except StateError as error:
        return report(delivered=True, error=f"sent, but not recorded: {error}")
    return report(delivered=True)
