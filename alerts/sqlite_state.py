"""The local StateStore: one SQLite file; BEGIN IMMEDIATE serialises claims across processes."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from pydantic import BaseModel, ValidationError

from alerts.acks import holds
from alerts.state import CorruptRecord, Records, StateError
from core.config import describe_validation_error
from core.local_files import LinkedFile, refuse_link
from core.model import Acknowledgement, AlertState, AlertStatus, Silence

SOURCE = "sqlite"
Model = TypeVar("Model", bound=BaseModel)

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
  fingerprint TEXT PRIMARY KEY,
  status TEXT,
  record TEXT,
  version INTEGER NOT NULL DEFAULT 0,
  claim_owner TEXT,
  claim_expires TEXT
);
CREATE TABLE IF NOT EXISTS silences (
  id TEXT PRIMARY KEY,
  record TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS acks (
  fingerprint TEXT PRIMARY KEY,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS slack_actions (
  key TEXT PRIMARY KEY,
  at TEXT NOT NULL,
  expire_at TEXT NOT NULL
);
"""


class SqliteStateStore:
    source = SOURCE

    def __init__(self, *, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return f"{SOURCE} {self.path}"

    def _absent(self) -> bool:
        """No file yet: every read answers empty without creating it (a dry run writes nothing at all)."""
        if self.path.exists():
            return False
        existing = next(p for p in self.path.parents if p.exists())
        if not existing.is_dir():
            raise StateError(f"{SOURCE}: cannot open {self.path}: {existing} is not a folder") from None
        return True

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            # SQLite writes the file and, beside it, its journal: none of them may lead elsewhere.
            for suffix in ("", "-journal", "-wal", "-shm"):
                refuse_link(self.path.with_name(self.path.name + suffix))
        except LinkedFile as error:
            raise StateError(f"{SOURCE}: cannot open {self.path}: {error}") from None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit, so a claim's read and write are one unit.
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (sqlite3.Error, OSError) as error:
            raise StateError(f"{SOURCE}: cannot open {self.path}: {error}") from None
        try:
            connection.executescript(SCHEMA)
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield connection
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise StateError(f"{SOURCE}: {self.path}: {error}") from None
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def _parse(self, model: type[Model], table: str, key: str, record: str) -> Model:
        """A stored JSON record as `model`, or a StateError naming the row: a corrupt record never crashes a run."""
        try:
            return model.model_validate_json(record)
        except ValidationError as error:
            raise StateError(
                f"{SOURCE}: {self.path}: corrupt {table} record {key} ({describe_validation_error(error)}); fix or delete it"
            ) from None

    def load_firing(self) -> dict[str, AlertState]:
        if self._absent():
            return {}
        with self._connect(write=False) as db:
            rows = db.execute(
                "SELECT fingerprint, record, version FROM alerts WHERE record IS NOT NULL AND status = ?",
                (AlertStatus.FIRING.value,),
            ).fetchall()
        return self._states(rows)

    def load(self, *, fingerprints: Iterable[str]) -> dict[str, AlertState]:
        wanted = sorted(set(fingerprints))
        rows = []
        if self._absent():
            return {}
        with self._connect(write=False) as db:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows += db.execute(
                    f"SELECT fingerprint, record, version FROM alerts WHERE record IS NOT NULL AND fingerprint IN ({marks})",
                    chunk,
                ).fetchall()
        return self._states(rows)

    def _states(self, rows: list[tuple[str, str, object]]) -> Records:
        """Records as read. The version column is what a claim compares, so it is the record's version: a
        record body that disagrees with it (edited by hand, restored from a copy) would otherwise be
        skipped on every run as if another run had sent it. A column that is no integer is left for
        claim() to report as a CorruptRecord."""
        states = Records()
        for fingerprint, record, version in rows:
            try:
                state = self._parse(AlertState, "alerts", fingerprint, record)
            except StateError as error:
                states.corrupt[fingerprint] = str(error)  # that record's own problem; the others are read
                continue
            if isinstance(version, int) and not isinstance(version, bool) and version != state.version:
                state = state.model_copy(update={"version": version})
            states[state.fingerprint] = state
        return states

    def claim(self, *, fingerprint: str, expected_version: int, owner: str, now: datetime, lease: timedelta) -> bool:
        with self._connect(write=True) as db:
            row = db.execute(
                "SELECT version, claim_owner, claim_expires FROM alerts WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
            if row is None:
                if expected_version != 0:
                    return False  # the record was deleted since this run read it
                db.execute(
                    "INSERT INTO alerts (fingerprint, version, claim_owner, claim_expires) VALUES (?, 0, ?, ?)",
                    (fingerprint, owner, (now + lease).isoformat()),
                )
                return True
            version, claim_owner, claim_expires = row
            if not isinstance(version, int) or isinstance(version, bool):
                # Not a version at all: no run can ever match it, so comparing would skip this notice forever.
                raise CorruptRecord(fingerprint, f"{SOURCE}: {self.path}: corrupt alert {fingerprint}: version {version!r} is not an integer")
            if version != expected_version:
                return False  # another run recorded a notice since this one read the state
            if claim_owner and claim_owner != owner and claim_expires and self._expiry(fingerprint, claim_expires) > now:
                return False  # another run is sending it now
            db.execute(
                "UPDATE alerts SET claim_owner = ?, claim_expires = ? WHERE fingerprint = ?",
                (owner, (now + lease).isoformat(), fingerprint),
            )
            return True

    def _expiry(self, fingerprint: str, text: str) -> datetime:
        try:
            return datetime.fromisoformat(text)
        except (TypeError, ValueError):
            raise CorruptRecord(fingerprint, f"{SOURCE}: {self.path}: corrupt claim_expires {text!r} of alert {fingerprint}") from None

    def replace_corrupt(self, *, fingerprint: str, owner: str, now: datetime, lease: timedelta) -> None:
        with self._connect(write=True) as db:
            db.execute(
                "UPDATE alerts SET status = NULL, record = NULL, version = 0, claim_owner = ?, claim_expires = ? "
                "WHERE fingerprint = ?",
                (owner, (now + lease).isoformat(), fingerprint),
            )

    def record(self, *, state: AlertState, owner: str) -> None:
        with self._connect(write=True) as db:
            row = db.execute("SELECT version FROM alerts WHERE fingerprint = ?", (state.fingerprint,)).fetchone()
            version = (row[0] if row else 0) + 1
            stored = state.model_copy(update={"version": version}).model_dump_json()
            db.execute(
                "INSERT INTO alerts (fingerprint, status, record, version) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(fingerprint) DO UPDATE SET status = excluded.status, record = excluded.record, "
                "version = excluded.version, "
                "claim_owner = CASE WHEN claim_owner = ? THEN NULL ELSE claim_owner END, "
                "claim_expires = CASE WHEN claim_owner = ? THEN NULL ELSE claim_expires END",
                (state.fingerprint, state.status.value, stored, version, owner, owner),
            )

    def mark_no_data(self, *, fingerprint: str, expected_version: int, since: datetime | None) -> bool:
        with self._connect(write=True) as db:
            row = db.execute(
                "SELECT record, version FROM alerts WHERE fingerprint = ? AND status = ?",
                (fingerprint, AlertStatus.FIRING.value),
            ).fetchone()
            if row is None or row[1] != expected_version or row[0] is None:
                return False  # resolved, replaced or notified again since this run read it
            state = self._parse(AlertState, "alerts", fingerprint, row[0])
            if state.no_data_since == since:
                return False
            marked = state.model_copy(update={"no_data_since": since}).model_dump_json()
            db.execute("UPDATE alerts SET record = ? WHERE fingerprint = ?", (marked, fingerprint))
            return True

    def release(self, *, fingerprint: str, owner: str) -> None:
        with self._connect(write=True) as db:
            db.execute(
                "UPDATE alerts SET claim_owner = NULL, claim_expires = NULL WHERE fingerprint = ? AND claim_owner = ?",
                (fingerprint, owner),
            )

    def add_silence(self, silence: Silence) -> None:
        with self._connect(write=True) as db:
            db.execute(
                "INSERT INTO silences (id, record, expires_at) VALUES (?, ?, ?)",
                (silence.id, silence.model_dump_json(), silence.expires_at.isoformat()),
            )

    def silences(self, *, now: datetime, include_expired: bool = False) -> list[Silence]:
        if self._absent():
            return []
        with self._connect(write=False) as db:
            rows = db.execute("SELECT id, record FROM silences ORDER BY expires_at").fetchall()
        found = [self._parse(Silence, "silences", silence_id, record) for silence_id, record in rows]
        return found if include_expired else [s for s in found if s.expires_at > now]

    def end_silence(self, silence_id: str, *, now: datetime, by: str) -> Silence | None:
        if self._absent():
            return None
        with self._connect(write=True) as db:
            row = db.execute("SELECT record FROM silences WHERE id = ?", (silence_id,)).fetchone()
            if row is None:
                return None
            silence = self._parse(Silence, "silences", silence_id, row[0])
            if silence.expires_at <= now:
                return silence
            ended = silence.ended(now=now, by=by)
            db.execute(
                "UPDATE silences SET record = ?, expires_at = ? WHERE id = ?",
                (ended.model_dump_json(), ended.expires_at.isoformat(), silence_id),
            )
            return ended

    def latest_notice(self) -> datetime | None:
        if self._absent():
            return None
        with self._connect(write=False) as db:
            rows = db.execute("SELECT fingerprint, record FROM alerts WHERE record IS NOT NULL").fetchall()
        moments = [self._parse(AlertState, "alerts", fp, record).last_notified for fp, record in rows]
        return max(moments, default=None)

    # --- acknowledgements (BEGIN IMMEDIATE: a read-decide-write is one unit across processes) ---

    def acknowledgements(self, *, fingerprints: Iterable[str]) -> dict[str, Acknowledgement]:
        wanted = sorted(set(fingerprints))
        if self._absent() or not wanted:
            return {}
        rows = []
        with self._connect(write=False) as db:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows += db.execute(f"SELECT fingerprint, record FROM acks WHERE fingerprint IN ({marks})", chunk).fetchall()
        return {fp: self._parse(Acknowledgement, "acks", fp, record) for fp, record in rows}

    def acknowledge(self, ack: Acknowledgement, *, state: AlertState) -> tuple[Acknowledgement, bool]:
        with self._connect(write=True) as db:
            row = db.execute("SELECT record FROM acks WHERE fingerprint = ?", (ack.fingerprint,)).fetchone()
            if row is not None:
                existing = self._parse(Acknowledgement, "acks", ack.fingerprint, row[0])
                if holds(existing, state=state, now=ack.at):
                    return existing, False
            db.execute(
                "INSERT INTO acks (fingerprint, record) VALUES (?, ?) "
                "ON CONFLICT(fingerprint) DO UPDATE SET record = excluded.record",
                (ack.fingerprint, ack.model_dump_json()),
            )
            return ack, True

    def unacknowledge(self, fingerprint: str, *, now: datetime, by: str) -> Acknowledgement | None:
        if self._absent():
            return None
        with self._connect(write=True) as db:
            row = db.execute("SELECT record FROM acks WHERE fingerprint = ?", (fingerprint,)).fetchone()
            if row is None:
                return None
            ack = self._parse(Acknowledgement, "acks", fingerprint, row[0])
            if ack.ended_at is not None:
                return ack
            ended = ack.model_copy(update={"ended_at": now, "ended_by": by})
            db.execute("UPDATE acks SET record = ? WHERE fingerprint = ?", (ended.model_dump_json(), fingerprint))
            return ended

    def record_action(self, key: str, *, now: datetime, expire_at: datetime) -> bool:
        with self._connect(write=True) as db:
            db.execute("DELETE FROM slack_actions WHERE expire_at < ?", (now.isoformat(),))
            taken = db.execute(
                "INSERT INTO slack_actions (key, at, expire_at) VALUES (?, ?, ?) ON CONFLICT(key) DO NOTHING",
                (key, now.isoformat(), expire_at.isoformat()),
            ).rowcount
            return taken == 1

    def action_taken(self, key: str, *, now: datetime) -> bool:
        if self._absent():
            return False
        with self._connect(write=False) as db:
            row = db.execute("SELECT expire_at FROM slack_actions WHERE key = ?", (key,)).fetchone()
        return row is not None and datetime.fromisoformat(row[0]) >= now
