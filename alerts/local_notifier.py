"""The local Notifier: every notification appended to notifications.jsonl and printed readably."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, TextIO

from alerts.acted import NOT_ACTED_ON, Acted, ParentView
from alerts.digest import Digest, render_digest_text
from alerts.escalate import EscalationNotice
from alerts.group import AlertGroup, group_title, render_group_text
from alerts.message import AlertMessage
from alerts.notifier import DeliveryError, Receipt, ThreadRef
from alerts.render_text import for_environment, inert_text, json_line, render_text
from core.environment import PRODUCTION, is_production
from core.local_files import LinkedFile, append_text

LOCAL_CHANNEL = "local"


class LocalNotifier:
    def __init__(self, *, path: Path, console: TextIO | None, environment: str = PRODUCTION) -> None:
        self.path = path
        self.environment = environment
        self.console = console
        self._lock = threading.Lock()

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        entry = {
            "fingerprint": message.fingerprint,
            "reason": message.reason.value,
            "severity": message.severity.value,
            "monitor": message.monitor,
            "title": message.title,
            "where": dict(message.where),
            "caused_by": message.caused_by,
        }
        if thread is not None and message.broadcast:
            entry["broadcast"] = True
        return self._append(entry, text=render_text(message), thread=thread)

    def send_group(self, group: AlertGroup, *, thread: ThreadRef | None) -> Receipt:
        """One summary line for many notices; its offset becomes their shared thread."""
        entry = {
            "group": [m.fingerprint for m in group.ordered],
            "reason": group.reason.value,
            "severity": group.severity.value,
            "title": group_title(group),
        }
        if thread is not None and group.broadcast:
            entry["broadcast"] = True
        return self._append(entry, text=render_group_text(group), thread=thread)

    def send_digest(self, digest: Digest) -> Receipt:
        """The daily digest as one line with "reason": "digest"."""
        entry = {
            "fingerprint": digest.fingerprint,
            "reason": "digest",
            "title": digest.title,
            "all_clear": digest.all_clear,
            "open": len(digest.incidents),
        }
        return self._append(entry, text=render_digest_text(digest), thread=None)

    def send_escalation(self, notice: EscalationNotice, *, thread: ThreadRef | None) -> Receipt:
        """One line with "reason": "escalation": who was reached and why (shown with or without PagerDuty)."""
        entry = {
            "fingerprint": notice.incident,
            "reason": "escalation",
            "event": notice.event.value,
            "severity": notice.severity.value,
            "monitor": notice.monitor,
            "why": notice.why,
            "to": notice.to,
        }
        return self._append(entry, text=notice.text, thread=thread)

    def _append(self, entry: dict[str, Any], *, text: str, thread: ThreadRef | None) -> Receipt:
        if not is_production(self.environment):
            entry = {"environment": self.environment, **entry}
        text = for_environment(text, self.environment)
        entry = {**entry, "thread": thread.ts if thread else None, "text": text}
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                offset = append_text(self.path, json_line(entry) + "\n")
            except LinkedFile as error:
                raise DeliveryError(f"cannot append to {self.path}: {error}") from None
            except OSError as error:
                raise DeliveryError(f"cannot append to {self.path}: {error.strerror}") from None
            if self.console is not None:
                try:
                    print(text + "\n", file=self.console, flush=True)
                except OSError:
                    pass  # the file holds the notice; a closed console (a pipe read by `head`) must not undo it
        # The line's byte offset stands in for Slack's message ts: unique, and names the parent of a thread.
        return Receipt(channel=LOCAL_CHANNEL, ts=thread.ts if thread else str(offset))

    def mark_resolved(self, message: AlertMessage, *, thread: ThreadRef) -> None:
        return None  # a file line is not edited; the resolved notice is its own line

    def mark_group_resolved(self, group: AlertGroup, *, thread: ThreadRef) -> None:
        return None

    def edit_parent(self, parent: ParentView) -> None:
        return None  # a file line is not edited; the effect's reply line says what it joined

    def announce(self, parent: ParentView, acted: Acted | None, *, about: AlertMessage) -> None:
        """Someone acted on the incident: one line with "reason": "acted", in the incident's thread (a file
        line is not edited, so a click that changed nothing writes nothing)."""
        if acted is None:
            return
        standing = parent.standings.get(about.fingerprint, NOT_ACTED_ON)
        line = acted.line(inert_text(acted.by), about.zone)
        entry = {
            "fingerprint": about.fingerprint, "reason": "acted", "action": acted.kind, "by": acted.by,
            "until": acted.until.isoformat() if acted.until else None,
            "acknowledged": standing.acknowledged, "silenced": standing.silenced,
        }
        self._append(entry, text=f"[{about.monitor} {about.fingerprint}] {line}", thread=parent.thread)
