"""The StateStore port: notification records, claims (compare-and-set) and silences."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, Mapping, Protocol

from core.model import ESCALATION_MONITOR, Acknowledgement, AlertState, Silence


class StateError(Exception):
    """The state store could not be read or written."""


class CorruptRecord(StateError):
    """One fingerprint's record cannot be compared (e.g. a non-integer version): that record's own error.

    Never "another run claimed it first": the run replaces the record (`replace_corrupt`), delivers the
    notice as a first, and reports the corruption, so "duplicate, never lost" holds for corruption too.
    """

    def __init__(self, fingerprint: str, message: str) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


class Records(dict[str, AlertState]):
    """Notification records by fingerprint, and the ones that could not be read (`corrupt`: fingerprint ->
    why). A corrupt record is that record's own problem: the others are still decided on."""

    def __init__(self, states: Mapping[str, AlertState] | None = None, *, corrupt: Mapping[str, str] | None = None) -> None:
        super().__init__(states or {})
        self.corrupt: dict[str, str] = dict(corrupt or {})


class StateStore(Protocol):
    source: str

    @property
    def location(self) -> str:
        """Where the records live, for an operator (the SQLite file, the Firestore project and collections)."""
        ...

    def load(self, *, fingerprints: Iterable[str]) -> dict[str, AlertState]:
        """The records of exactly these fingerprints, whatever their status (absent ones are left out);
        a `Records` whose `corrupt` names those that exist but cannot be read."""
        ...

    def load_firing(self) -> dict[str, AlertState]:
        """The records of every incident still firing (notified and not resolved), as `load` does."""
        ...

    def claim(self, *, fingerprint: str, expected_version: int, owner: str, now: datetime, lease: timedelta) -> bool:
        """Compare-and-set: take the right to send this fingerprint's notice.

        False when the record changed since it was read (another run already sent it) or another run
        holds an unexpired claim; an expired claim belongs to a sender that died and is taken over.
        """
        ...

    def replace_corrupt(self, *, fingerprint: str, owner: str, now: datetime, lease: timedelta) -> None:
        """Overwrite a record whose claim raised CorruptRecord with a fresh placeholder (version 0) claimed
        by `owner`; the notice then goes out as a first and its record is written as usual."""
        ...

    def record(self, *, state: AlertState, owner: str) -> None:
        """Write the record after a delivered notice: version + 1, and the owner's claim cleared."""
        ...

    def release(self, *, fingerprint: str, owner: str) -> None:
        """Give a claim back after a failed delivery, so the next run sends it again."""
        ...

    def mark_no_data(self, *, fingerprint: str, expected_version: int, since: datetime | None) -> bool:
        """Set an open incident's `no_data_since` (None: clear it) without a notice, compare-and-set like a claim:
        written only while the record is the one this run read (same version, still firing). The version is
        not raised, so no run's claim is spoiled; a notice recorded since wins (the next run marks it again
        if it must). False when nothing was written."""
        ...

    def add_silence(self, silence: Silence) -> None: ...

    def silences(self, *, now: datetime, include_expired: bool = False) -> list[Silence]: ...

    def end_silence(self, silence_id: str, *, now: datetime, by: str) -> Silence | None:
        """End a silence early: it stays on record with expires_at = now and who ended it.

        None when no silence has this id; an already expired or ended one is returned unchanged."""
        ...

    def latest_notice(self) -> datetime | None:
        """When the latest notice on record was sent (None: none yet); a replay must not write before it."""
        ...

    def acknowledgements(self, *, fingerprints: Iterable[str]) -> dict[str, Acknowledgement]:
        """The latest acknowledgement on record of each of these fingerprints (in force or not)."""
        ...

    def acknowledge(self, ack: Acknowledgement, *, state: AlertState) -> tuple[Acknowledgement, bool]:
        """Store `ack` unless one already holds for the incident `state` at `ack.at`: then that one, untouched.

        Compare-and-set, like a claim: of two people acknowledging at once, one is recorded and the
        other is told who. Returns (the acknowledgement on record, whether this call wrote it)."""
        ...

    def unacknowledge(self, fingerprint: str, *, now: datetime, by: str) -> Acknowledgement | None:
        """End the acknowledgement of `fingerprint` (kept on record with ended_at/ended_by); None when there is
        none, an already ended one unchanged."""
        ...

    def record_action(self, key: str, *, now: datetime, expire_at: datetime) -> bool:
        """Take `key` (one Slack click) once: True for the first caller, False when it was taken before."""
        ...

    def action_taken(self, key: str, *, now: datetime) -> bool:
        """Whether `key` (one Slack click) was taken and has not expired: that click has already acted."""
        ...


def records_for_decide(store: StateStore, *, fingerprints: Iterable[str]) -> Records:
    """What decide() compares a run's findings with: every firing incident, and these fingerprints' records."""
    firing, loaded = store.load_firing(), store.load(fingerprints=fingerprints)
    corrupt = {**getattr(firing, "corrupt", {}), **getattr(loaded, "corrupt", {})}
    records = {**firing, **loaded}
    # The causes whose threads firing effects live in, resolved or not: an effect's grace runs from its cause's end.
    causes = {s.caused_by for s in records.values() if s.firing and s.caused_by and s.caused_by not in records}
    if causes:
        found = store.load(fingerprints=sorted(causes))
        corrupt |= getattr(found, "corrupt", {})
        records |= found
    return Records(incidents_only(records), corrupt=corrupt)


def incidents_only(records: Mapping[str, AlertState]) -> dict[str, AlertState]:
    """The incidents' records without the escalation records kept beside them (alerts/escalate.py)."""
    return {fp: s for fp, s in records.items() if s.monitor != ESCALATION_MONITOR}
