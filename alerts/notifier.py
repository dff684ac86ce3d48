"""The Notifier port: deliver one message, optionally as a reply in an incident's thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.message import AlertMessage


class DeliveryError(Exception):
    """The notification was not accepted; the message never holds a secret."""


@dataclass(frozen=True)
class Receipt:
    channel: str | None
    ts: str | None


@dataclass(frozen=True)
class ThreadRef:
    channel: str
    ts: str


class Notifier(Protocol):
    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        """Post a notification (a reply when `thread` is given); raise DeliveryError when refused."""
        ...

    def mark_resolved(self, message: AlertMessage, *, thread: ThreadRef) -> None:
        """Edit the incident's parent message to show it resolved (best effort)."""
        ...
