"""The production StateStore: one Firestore document per fingerprint; claims are compare-and-set.

A document holds the notification record (status, severity, monitor, key, summary, first_seen,
last_seen, last_notified, notify_count, channel, thread_ts, resolved_at, expire_at, version, group, caused_by, since,
no_data_since, and `shown`: a map of what its parent showed, evidence, fix, details and links as lists of maps,
a few KiB of the 1 MiB a document may hold, https://cloud.google.com/firestore/quotas) and the claim of the run
sending its next notice (claim_owner, claim_expires). A claim for a fingerprint that has no document yet
creates a placeholder (version 0, a claim and no status); load() does not return placeholders, because
nothing was sent for them yet.

Every change is a compare-and-set on one document: read it, decide, and write with a precondition
(create(): the document must not exist; update(): its update_time must be the one read). The loser of
a race gets FAILED_PRECONDITION / ALREADY_EXISTS, reads the winner's write and decides again.
`expire_at` is set on resolved incidents for a TTL policy on that field
(https://cloud.google.com/firestore/docs/ttl): `gcloud firestore fields ttls update expire_at
--collection-group=canary_alerts --enable-ttl`.

The emulator is honoured through FIRESTORE_EMULATOR_HOST, which the client library reads itself (and
then uses anonymous credentials). Nothing here reads the clock: times come in as `now`.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

from pydantic import BaseModel, ValidationError

from alerts.acks import holds
from alerts.state import CorruptRecord, Records, StateError
from core.config import FirestoreConfig, describe_validation_error
from core.environment import PRODUCTION, scoped_name
from core.model import Acknowledgement, AlertState, AlertStatus, Silence

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentSnapshot

SOURCE = "firestore"
RECORD_FIELDS = tuple(name for name in AlertState.model_fields if name != "fingerprint")
Model = TypeVar("Model", bound=BaseModel)
Result = TypeVar("Result")


class _Claim(BaseModel):
    """The fields a claim compares; anything else in them is a corrupt document."""

    version: int = 0
    claim_owner: str | None = None
    claim_expires: datetime | None = None


def _firestore() -> Any:
    """The client library, imported on first use (~750 ms, paid only by a run that uses Firestore)."""
    try:
        from google.cloud import firestore
    except ImportError:
        raise StateError(f"{SOURCE}: google-cloud-firestore is not installed") from None
    return firestore


def _api_errors() -> Any:
    from google.api_core import exceptions

    return exceptions


def _one_line(error: BaseException, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", str(error)).strip() or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class FirestoreStateStore:
    source = SOURCE

    def __init__(
        self,
        *,
        project: str,
        config: FirestoreConfig,
        environment: str = PRODUCTION,
        timeout_seconds: float = 20.0,
        max_attempts: int = 10,
    ) -> None:
        self.project = project
        self.environment = environment
        self.alerts_collection = self.collection_name(config.alerts_collection)
        self.silences_collection = self.collection_name(config.silences_collection)
        self.acks_collection = self.collection_name(config.acks_collection)
        self.slack_actions_collection = self.collection_name(config.slack_actions_collection)
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self._client: Client | None = None
        self._lock = threading.Lock()

    def collection_name(self, configured: str) -> str:
        """A collection of this store's environment: every collection it (or a new kind of record) uses goes through here."""
        return scoped_name(configured, environment=self.environment)

    @property
    def location(self) -> str:
        return f"{SOURCE} project {self.project} ({self.alerts_collection}, {self.silences_collection})"

    # --- plumbing ------------------------------------------------------------------------------

    def _db(self) -> Client:
        with self._lock:
            if self._client is None:
                firestore = _firestore()
                with self._errors("connect", f"project {self.project}"):
                    self._client = firestore.Client(project=self.project)
            return self._client

    def _call_options(self) -> dict[str, Any]:
        """A bounded wait: transient errors are retried until the timeout, then the run reports them."""
        from google.api_core import retry

        return {
            "retry": retry.Retry(predicate=retry.if_transient_error, initial=0.2, maximum=2.0, timeout=self.timeout_seconds),
            "timeout": self.timeout_seconds,
        }

    @contextmanager
    def _errors(self, action: str, where: str) -> Iterator[None]:
        """Every client failure becomes one StateError line: what was done, where, and what went wrong."""
        from google.auth import exceptions as auth_errors

        api_errors = _api_errors()

        try:
            yield
        except StateError:
            raise
        except (api_errors.GoogleAPIError, auth_errors.GoogleAuthError) as error:
            raise StateError(f"{SOURCE}: cannot {action} {where}: {type(error).__name__}: {_one_line(error)}") from None

    def _where(self, collection: str, doc_id: str | None = None) -> str:
        return f"{collection}/{doc_id}" if doc_id else collection

    def _parse(self, model: type[Model], snapshot: DocumentSnapshot, collection: str, **extra: Any) -> Model:
        """A document as `model`, or a StateError naming the document: a corrupt record never crashes a run."""
        data = snapshot.to_dict() or {}
        fields = {name: data[name] for name in model.model_fields if name in data}
        try:
            return model.model_validate({**fields, **extra})
        except ValidationError as error:
            raise StateError(
                f"{SOURCE}: corrupt document {self._where(collection, snapshot.id)} "
                f"({describe_validation_error(error)}); fix or delete it"
            ) from None

    def _record_of(self, snapshot: DocumentSnapshot) -> AlertState | None:
        if (snapshot.to_dict() or {}).get("status") is None:
            return None  # a claim placeholder: nothing was sent for this fingerprint yet
        return self._parse(AlertState, snapshot, self.alerts_collection, fingerprint=snapshot.id)

    # --- the StateStore port -------------------------------------------------------------------

    def load(self, *, fingerprints: Iterable[str]) -> dict[str, AlertState]:
        db = self._db()
        alerts = db.collection(self.alerts_collection)
        wanted = sorted(set(fingerprints))
        with self._errors("read", self.alerts_collection):
            snapshots = list(db.get_all([alerts.document(fp) for fp in wanted], **self._call_options())) if wanted else []
        return self._records(snapshots)

    def load_firing(self) -> dict[str, AlertState]:
        alerts = self._db().collection(self.alerts_collection)
        with self._errors("read", self.alerts_collection):
            firing = alerts.where(filter=_firestore().FieldFilter("status", "==", AlertStatus.FIRING.value))
            snapshots = list(firing.stream(**self._call_options()))
        return self._records(snapshots)

    def _records(self, snapshots: list[DocumentSnapshot]) -> Records:
        states = Records()
        for snapshot in snapshots:
            try:
                state = self._record_of(snapshot) if snapshot.exists else None
            except StateError as error:
                states.corrupt[snapshot.id] = str(error)  # that record's own problem; the others are read
                continue
            if state is not None:
                states[state.fingerprint] = state
        return states

    def _compare_and_set(
        self,
        fingerprint: str,
        action: str,
        change: Callable[[DocumentSnapshot], tuple[Result, dict[str, Any] | None]],
        *,
        collection: str | None = None,
    ) -> Result:
        """Read the document, decide, and write only if it is still as read; a lost race reads again.

        The write carries a precondition: create() that the document does not exist, update() that its
        update_time is the one read (https://cloud.google.com/firestore/docs/reference/rest/v1/Precondition).
        A failed precondition means another worker got there first; deciding again on what it wrote gives
        the answer (a live claim of another run: lose). Not a transaction: BeginTransaction has no bounded
        timeout in the client library (an outage waited 57 s), and under contention the emulator's
        transaction locks took 2 s per claim; a precondition fails at once.
        """
        db = self._db()
        collection = collection or self.alerts_collection
        ref = db.collection(collection).document(fingerprint)
        api_errors = _api_errors()
        with self._errors(action, self._where(collection, fingerprint)):
            for _ in range(self.max_attempts):
                snapshot = ref.get(**self._call_options())
                result, write = change(snapshot)
                if write is None:
                    return result
                # Writes are not retried by the library: a retry after a lost answer would fail its own
                # precondition; this loop re-reads and decides instead.
                try:
                    if snapshot.exists:
                        option = db.write_option(last_update_time=snapshot.update_time)
                        ref.update(write, option=option, retry=None, timeout=self.timeout_seconds)
                    else:
                        ref.create(write, retry=None, timeout=self.timeout_seconds)
                except (api_errors.FailedPrecondition, api_errors.Conflict, api_errors.NotFound):
                    continue  # another worker got there first: read what it wrote and decide again
                return result
        raise StateError(
            f"{SOURCE}: cannot {action} {self._where(collection, fingerprint)}: "
            f"other runs changed it {self.max_attempts} times in a row"
        )

    def claim(self, *, fingerprint: str, expected_version: int, owner: str, now: datetime, lease: timedelta) -> bool:
        taken = {"claim_owner": owner, "claim_expires": now + lease}

        def take(snapshot: DocumentSnapshot) -> tuple[bool, dict[str, Any] | None]:
            if not snapshot.exists:
                if expected_version != 0:
                    return False, None  # the record was deleted (TTL) since this run read it
                return True, {"version": 0, **taken}
            try:
                current = self._parse(_Claim, snapshot, self.alerts_collection)
            except StateError as error:
                raise CorruptRecord(fingerprint, str(error)) from None
            if current.version != expected_version:
                return False, None  # another run recorded a notice since this one read the state
            if (
                current.claim_owner
                and current.claim_owner != owner
                and current.claim_expires is not None
                and current.claim_expires > now
            ):
                return False, None  # another run got there first and is sending it now
            # No claim, our own, or an expired one (its sender died): take it.
            return True, taken

        return self._compare_and_set(fingerprint, "claim", take)

    def replace_corrupt(self, *, fingerprint: str, owner: str, now: datetime, lease: timedelta) -> None:
        placeholder = {name: None for name in RECORD_FIELDS}
        placeholder.update({"version": 0, "claim_owner": owner, "claim_expires": now + lease})

        def overwrite(snapshot: DocumentSnapshot) -> tuple[None, dict[str, Any]]:
            return None, placeholder  # every field named: update() replaces each, corrupt ones included

        self._compare_and_set(fingerprint, "replace the corrupt record", overwrite)

    def record(self, *, state: AlertState, owner: str) -> None:
        def write(snapshot: DocumentSnapshot) -> tuple[None, dict[str, Any]]:
            current = self._parse(_Claim, snapshot, self.alerts_collection) if snapshot.exists else _Claim()
            document = state.model_dump(mode="python", include=set(RECORD_FIELDS))
            document["severity"] = state.severity.value
            document["status"] = state.status.value
            document["version"] = current.version + 1
            mine = current.claim_owner in (None, owner)
            # Clear our own claim; a claim another run took over (ours had expired) stays with it.
            document["claim_owner"] = None if mine else current.claim_owner
            document["claim_expires"] = None if mine else current.claim_expires
            return None, document

        self._compare_and_set(state.fingerprint, "record", write)

    def mark_no_data(self, *, fingerprint: str, expected_version: int, since: datetime | None) -> bool:
        def mark(snapshot: DocumentSnapshot) -> tuple[bool, dict[str, Any] | None]:
            state = self._record_of(snapshot) if snapshot.exists else None
            if state is None or not state.firing or state.version != expected_version or state.no_data_since == since:
                return False, None  # gone, resolved, notified again since this run read it, or already so
            # Only this field, under the update_time precondition: the version (what claims compare) stays.
            return True, {"no_data_since": since}

        return self._compare_and_set(fingerprint, "mark no data on", mark)

    def release(self, *, fingerprint: str, owner: str) -> None:
        def give_back(snapshot: DocumentSnapshot) -> tuple[None, dict[str, Any] | None]:
            if snapshot.exists and (snapshot.to_dict() or {}).get("claim_owner") == owner:
                return None, {"claim_owner": None, "claim_expires": None}
            return None, None

        self._compare_and_set(fingerprint, "release the claim on", give_back)

    def add_silence(self, silence: Silence) -> None:
        db = self._db()
        ref = db.collection(self.silences_collection).document(silence.id)
        with self._errors("create silence", self._where(self.silences_collection, silence.id)):
            # create(): a precondition that the document does not exist, so an id is never reused.
            ref.create(silence.model_dump(mode="python", exclude={"id"}), **self._call_options())

    def silences(self, *, now: datetime, include_expired: bool = False) -> list[Silence]:
        db = self._db()
        firestore = _firestore()
        query: Any = db.collection(self.silences_collection)
        if not include_expired:
            query = query.where(filter=firestore.FieldFilter("expires_at", ">", now))
        query = query.order_by("expires_at", direction=firestore.Query.ASCENDING)
        with self._errors("read", self.silences_collection):
            snapshots = list(query.stream(**self._call_options()))
        return [self._parse(Silence, s, self.silences_collection, id=s.id) for s in snapshots]

    def end_silence(self, silence_id: str, *, now: datetime, by: str) -> Silence | None:
        db = self._db()
        ref = db.collection(self.silences_collection).document(silence_id)
        api_errors = _api_errors()
        with self._errors("end silence", self._where(self.silences_collection, silence_id)):
            for _ in range(self.max_attempts):
                snapshot = ref.get(**self._call_options())
                if not snapshot.exists:
                    return None
                silence = self._parse(Silence, snapshot, self.silences_collection, id=snapshot.id)
                if silence.expires_at <= now:
                    return silence
                ended = silence.ended(now=now, by=by)
                try:
                    # Written only if unchanged since read (update_time precondition); a lost race reads again.
                    ref.update(
                        {"expires_at": ended.expires_at, "ended_by": ended.ended_by},
                        option=db.write_option(last_update_time=snapshot.update_time),
                        retry=None, timeout=self.timeout_seconds,
                    )
                except (api_errors.FailedPrecondition, api_errors.Conflict):
                    continue
                return ended
        raise StateError(
            f"{SOURCE}: cannot end silence {silence_id}: changed by others {self.max_attempts} times in a row"
        )

    def latest_notice(self) -> datetime | None:
        firestore = _firestore()
        query = (
            self._db().collection(self.alerts_collection)
            .order_by("last_notified", direction=firestore.Query.DESCENDING)
            .limit(1)
        )
        with self._errors("read", self.alerts_collection):
            snapshots = list(query.stream(**self._call_options()))
        records = [state for snapshot in snapshots if (state := self._record_of(snapshot)) is not None]
        return records[0].last_notified if records else None

    # --- acknowledgements: one document per fingerprint, written with a create/update_time precondition ---

    def acknowledgements(self, *, fingerprints: Iterable[str]) -> dict[str, Acknowledgement]:
        db = self._db()
        acks = db.collection(self.acks_collection)
        wanted = sorted(set(fingerprints))
        with self._errors("read", self.acks_collection):
            snapshots = list(db.get_all([acks.document(fp) for fp in wanted], **self._call_options())) if wanted else []
        return {
            s.id: self._parse(Acknowledgement, s, self.acks_collection, fingerprint=s.id) for s in snapshots if s.exists
        }

    def acknowledge(self, ack: Acknowledgement, *, state: AlertState) -> tuple[Acknowledgement, bool]:
        document = ack.model_dump(mode="python", exclude={"fingerprint"})
        document["severity"] = ack.severity.value

        def take(snapshot: DocumentSnapshot) -> tuple[tuple[Acknowledgement, bool], dict[str, Any] | None]:
            if snapshot.exists:
                existing = self._parse(Acknowledgement, snapshot, self.acks_collection, fingerprint=snapshot.id)
                if holds(existing, state=state, now=ack.at):
                    return (existing, False), None
            return (ack, True), document

        return self._compare_and_set(ack.fingerprint, "acknowledge", take, collection=self.acks_collection)

    def unacknowledge(self, fingerprint: str, *, now: datetime, by: str) -> Acknowledgement | None:
        def end(snapshot: DocumentSnapshot) -> tuple[Acknowledgement | None, dict[str, Any] | None]:
            if not snapshot.exists:
                return None, None
            ack = self._parse(Acknowledgement, snapshot, self.acks_collection, fingerprint=snapshot.id)
            if ack.ended_at is not None:
                return ack, None
            ended = ack.model_copy(update={"ended_at": now, "ended_by": by})
            document = ended.model_dump(mode="python", exclude={"fingerprint"})
            document["severity"] = ended.severity.value
            return ended, document

        return self._compare_and_set(fingerprint, "end the acknowledgement of", end, collection=self.acks_collection)

    def record_action(self, key: str, *, now: datetime, expire_at: datetime) -> bool:
        ref = self._db().collection(self.slack_actions_collection).document(key)
        api_errors = _api_errors()
        with self._errors("record the Slack action", self._where(self.slack_actions_collection, key)):
            try:
                # create(): the document must not exist, so of two deliveries of one click only one acts.
                # `expire_at` for a TTL policy like the alert records'.
                ref.create({"at": now, "expire_at": expire_at}, retry=None, timeout=self.timeout_seconds)
            except api_errors.Conflict:
                return False
            return True

    def action_taken(self, key: str, *, now: datetime) -> bool:
        ref = self._db().collection(self.slack_actions_collection).document(key)
        with self._errors("read the Slack action", self._where(self.slack_actions_collection, key)):
            snapshot = ref.get(**self._call_options())
        if not snapshot.exists:
            return False
        expire_at = (snapshot.to_dict() or {}).get("expire_at")
        # A TTL policy deletes expired documents within a day or so, not at once: an expired key counts as gone.
        return not isinstance(expire_at, datetime) or expire_at >= now
