"""What a summary says when many notices of one reason go out together (pure: no I/O, no clock)."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.message import AlertMessage
from alerts.render_text import REASON_MARK, SEVERITY_MARK, UNVERIFIED_MARK, Clean, inert_text
from core.model import Reason, Severity

_REASON_WORDS = {Reason.FIRST: "newly firing", Reason.REPEAT: "still firing", Reason.RESOLVED: "resolved"}


@dataclass(frozen=True)
class AlertGroup:
    """Several notices of one reason, sent as one message (a parent, or one reply in a shared thread)."""

    reason: Reason
    members: tuple[AlertMessage, ...]
    limit: int
    """The configured group_after that this many notices exceeded."""

    @property
    def severity(self) -> Severity:
        return min((m.severity for m in self.members), key=lambda s: s.rank)

    @property
    def synthetic(self) -> bool:
        return all(m.synthetic for m in self.members)

    @property
    def ordered(self) -> list[AlertMessage]:
        """Most severe first, then by monitor and title, so a reader meets the worst at the top."""
        return sorted(self.members, key=lambda m: (m.severity.rank, m.monitor, m.title))

    @property
    def counts(self) -> str:
        """'2 critical, 10 warning'."""
        tally = [(s, sum(1 for m in self.members if m.severity is s)) for s in Severity]
        return ", ".join(f"{n} {s.value}" for s, n in tally if n)

    @property
    def unverified(self) -> int:
        """How many members closed without being seen healthy ("No longer checked")."""
        return sum(1 for m in self.members if m.unverified)

    @property
    def broadcast(self) -> bool:
        """A summary of critical repeats is also shown in the channel, like a single critical repeat."""
        return self.reason is Reason.REPEAT and self.severity is Severity.CRITICAL

    @property
    def monitors(self) -> list[str]:
        return sorted({m.monitor for m in self.members})


def group_title(group: AlertGroup) -> str:
    return f"{len(group.members)} alerts {_REASON_WORDS[group.reason]} ({group.counts}) from {', '.join(group.monitors)}"


def group_headline(group: AlertGroup, clean: Clean = inert_text) -> str:
    test = "[TEST] " if group.synthetic else ""
    mark = UNVERIFIED_MARK if group.reason is Reason.RESOLVED and group.unverified else REASON_MARK[group.reason]
    return f"{test}{mark} {SEVERITY_MARK[group.severity.value]} {clean(group_title(group))}"


def group_why_now(group: AlertGroup) -> str:
    limit = group.limit
    if group.reason is Reason.FIRST:
        return (
            f"more than {limit} alerts fired in one run, so they are grouped here; "
            "each one's details follow in this thread, and its repeats and resolution land here too"
        )
    if group.reason is Reason.REPEAT:
        return f"more than {limit} alerts of this thread are still firing after their repeat interval"
    if group.unverified:
        return (
            f"more than {limit} alerts of this thread closed in one run; {group.unverified} of them are no longer "
            "checked, not seen healthy, and may still be real (marked in the list)"
        )
    return f"more than {limit} alerts of this thread resolved in one run"


def member_line(message: AlertMessage, clean: Clean = inert_text) -> str:
    """One line per grouped alert: severity, monitor, title and where (each value made inert by `clean`)."""
    where = ", ".join(f"{clean(name)}={clean(value)}" for name, value in message.where)
    unverified = f"{UNVERIFIED_MARK} (may still be real) " if message.unverified else ""
    return f"{unverified}{SEVERITY_MARK[message.severity.value]} {clean(message.monitor)}: {clean(message.title)} ({where})"


def render_group_text(group: AlertGroup, members: list[AlertMessage] | None = None, clean: Clean = inert_text) -> str:
    """The summary as text; `members` (default: all, worst first) for one part of a split summary."""
    lines = [group_headline(group, clean)]
    lines += [f"  - {member_line(m, clean)}" for m in (group.ordered if members is None else members)]
    lines.append(f"  why now: {group_why_now(group)}")
    return "\n".join(lines)

