"""The StateStore port: notification records, claims (compare-and-set) and silences."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, Protocol

from canary.model import AlertState, Silence


class StateError(Exception):
    """The state store could not be read or written."""


class StateStore(Protocol):
    source: str

    def load(self, *, fingerprints: Iterable[str]) -> dict[str, AlertState]:
        """The records of these fingerprints (any status) and of every incident still firing."""
        ...

    def claim(self, *, fingerprint: str, expected_version: int, owner: str, now: datetime, lease: timedelta) -> bool:
        """Compare-and-set: take the right to send this fingerprint's notice.

        False when the record changed since it was read (another run already sent it) or another run
        holds an unexpired claim; an expired claim belongs to a sender that died and is taken over.
        """
        ...

    def record(self, *, state: AlertState, owner: str) -> None:
        """Write the record after a delivered notice: version + 1, and the owner's claim cleared."""
        ...

    def release(self, *, fingerprint: str, owner: str) -> None:
        """Give a claim back after a failed delivery, so the next run sends it again."""
        ...

    def add_silence(self, silence: Silence) -> None: ...

    def silences(self, *, now: datetime, include_expired: bool = False) -> list[Silence]: ...
