"""Deliver each due notice: claim (compare-and-set) -> send -> record; a failure leaves it due.

Notices of one reason bound for one place (a channel for new incidents, a thread for replies) that
number more than `alerts.group_after` go out as one summary: each is claimed first, and only those this
run claimed are listed. A summary of new incidents becomes their shared thread; each one's details
follow there as a reply, and its later repeats and resolution land in that thread too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping, Protocol, runtime_checkable

from alerts.group import AlertGroup
from alerts.message import AlertMessage, build_message
from alerts.notifier import DeliveryError, Notifier, Receipt, ThreadRef
from alerts.state import CorruptRecord, StateError, StateStore
from core.config import AlertsConfig
from core.model import Decision, NotificationReport, Reason, Severity

ANOTHER_RUN = "another run claimed it first"


@dataclass(frozen=True)
class DeliveryPlan:
    decision: Decision
    message: AlertMessage


@runtime_checkable
class GroupNotifier(Protocol):
    """A Notifier that can also send one summary of many notices (Slack, the local file)."""

    def send_group(self, group: AlertGroup, *, thread: ThreadRef | None) -> Receipt: ...

    def mark_group_resolved(self, group: AlertGroup, *, thread: ThreadRef) -> None: ...


@dataclass
class Batch:
    """Due notices of one reason bound for one place: a channel (new incidents) or a thread (replies)."""

    reason: Reason
    thread: ThreadRef | None
    plans: list[DeliveryPlan] = field(default_factory=list)


def plan(decisions: list[Decision], *, now: datetime) -> list[DeliveryPlan]:
    return [DeliveryPlan(decision=d, message=build_message(d, now=now)) for d in decisions]


def _thread_of(decision: Decision) -> ThreadRef | None:
    previous = decision.previous
    if decision.reason is Reason.FIRST or previous is None or not previous.thread_ts or not previous.channel:
        return None
    return ThreadRef(channel=previous.channel, ts=previous.thread_ts)


def batches(plans: list[DeliveryPlan], *, channel_for: Callable[[Severity], str | None]) -> list[Batch]:
    """The plans split by reason and destination, in the order they first appear."""
    found: dict[tuple[Reason, str | None, str | None], Batch] = {}
    for item in plans:
        thread = _thread_of(item.decision)
        place = (thread.channel, thread.ts) if thread else (channel_for(item.message.severity), None)
        found.setdefault((item.decision.reason, *place), Batch(reason=item.decision.reason, thread=thread)).plans.append(item)
    return list(found.values())


def as_delivery_error(error: Exception) -> DeliveryError:
    """A notifier's unexpected exception still releases the claims and fails only those notices."""
    if isinstance(error, DeliveryError):
        return error
    return DeliveryError(f"notifier failed unexpectedly: {type(error).__name__}: {error}")


@dataclass
class _Delivery:
    """One deliver() call's collaborators and what it has learned so far."""

    store: StateStore
    notifier: Notifier
    owner: str
    now: datetime
    alerts: AlertsConfig
    channel_for: Callable[[Severity], str | None]
    reports: dict[str, NotificationReport] = field(default_factory=dict)
    unreadable: Mapping[str, str] = field(default_factory=dict)
    """Records that load() could not read (fingerprint -> why): replaced before their notice is sent."""
    corrupt: dict[str, str] = field(default_factory=dict)
    """fingerprint -> why its record was replaced: said in that notice's report, whatever else happens."""
    resolved: dict[tuple[str, str], list[DeliveryPlan]] = field(default_factory=dict)
    """Delivered resolved notices by the thread whose parent may now be edited."""

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
        return DeliveryPlan(decision=first, message=build_message(first, now=self.now))

    def failed(self, decisions: list[Decision], error: DeliveryError) -> None:
        for decision in decisions:
            try:
                self.store.release(fingerprint=decision.fingerprint, owner=self.owner)
            except StateError:
                pass  # the claim's lease expires on its own
            self.report(decision, delivered=False, error=str(error))

    def record(self, item: DeliveryPlan, receipt: Receipt, *, group: list[str] | None = None) -> None:
        decision, message = item.decision, item.message
        state = decision.next_record(
            now=self.now,
            retention=self.alerts.resolved_retention,
            channel=receipt.channel or self.channel_for(message.severity),
            thread_ts=receipt.ts,
            group=group,
        )
        thread = _thread_of(decision)
        if decision.reason is Reason.RESOLVED and thread is not None:
            self.resolved.setdefault((thread.channel, thread.ts), []).append(item)
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
        try:
            receipt = self.notifier.send(item.message, thread=_thread_of(item.decision))
        except Exception as error:
            self.failed([item.decision], as_delivery_error(error))
            return
        self.record(item, receipt)

    def group(self, batch: Batch, claimed: list[DeliveryPlan], notifier: GroupNotifier) -> None:
        group = AlertGroup(reason=batch.reason, members=tuple(i.message for i in claimed), limit=self.alerts.group_after)
        try:
            receipt = notifier.send_group(group, thread=batch.thread)
        except Exception as error:
            self.failed([i.decision for i in claimed], as_delivery_error(error))
            return
        members = [i.decision.fingerprint for i in claimed] if batch.reason is Reason.FIRST else None
        for item in claimed:
            self.record(item, receipt, group=members)
        if batch.reason is Reason.FIRST and receipt.ts:
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
        busy = {(s.channel, s.thread_ts) for s in firing.values()}
        for (channel, ts), items in self.resolved.items():
            if (channel, ts) in busy:
                continue  # a summary's thread with members still firing keeps its parent as it is
            thread = ThreadRef(channel=channel, ts=ts)
            members = next((i.decision.previous.group for i in items if i.decision.previous and i.decision.previous.group), [])
            try:
                if members and isinstance(self.notifier, GroupNotifier):
                    self.notifier.mark_group_resolved(self.whole_group(members, items), thread=thread)
                else:
                    self.notifier.mark_resolved(items[-1].message, thread=thread)
            except (DeliveryError, StateError):
                pass  # the resolved replies are in the thread; the parent's edit is cosmetic

    def whole_group(self, members: list[str], resolved_now: list[DeliveryPlan]) -> AlertGroup:
        """Every incident the summary listed, also those that resolved in earlier runs."""
        states = self.store.load(fingerprints=members)
        messages = {i.decision.fingerprint: i.message for i in resolved_now}
        for fingerprint in members:
            if fingerprint not in messages and fingerprint in states:
                earlier = Decision(fingerprint=fingerprint, reason=Reason.RESOLVED, previous=states[fingerprint])
                messages[fingerprint] = build_message(earlier, now=self.now)
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
    corrupt: Mapping[str, str] | None = None,
) -> list[NotificationReport]:
    """One report per plan, in the plans' order. `corrupt`: records load() could not read, replaced
    (and their notices sent as firsts) rather than compared."""
    run = _Delivery(store=store, notifier=notifier, owner=owner, now=now, alerts=alerts, channel_for=channel_for,
                    unreadable=corrupt or {})
    for batch in batches(plans, channel_for=channel_for):
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
