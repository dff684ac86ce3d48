"""One contract for every StateStore: the local SQLite file and Firestore (on the official emulator).

The contract is alerts/state.py's: load returns the asked records (any status) and everything still
firing; claim is a compare-and-set that loses to a newer version or to another run's live claim and
takes over an expired one; record bumps the version and clears the owner's claim; release gives a
claim back; silences are listed until they expire; a corrupt record is named (that record's own error;
a corrupt silence a StateError), never a crash.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from alerts.firestore_state import FirestoreStateStore
from alerts.sqlite_state import SqliteStateStore
from alerts.state import StateError, StateStore
from core.config import FirestoreConfig
from core.model import Acknowledgement, AlertState, AlertStatus, Finding, Severity, Silence
from tests.servers.firestore_emulator import FirestoreEmulator, firestore_emulator, firestore_env
from tests.servers.processes import free_port

__all__ = ["firestore_emulator", "firestore_env"]  # fixtures imported for pytest

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
LEASE = timedelta(minutes=5)
CONTENDERS = 12


@dataclass
class Backend:
    """A store under test, plus what only a test may do to it: write a corrupt record."""

    name: str
    new_store: Callable[[], StateStore]
    corrupt_alert: Callable[[str], None]
    corrupt_silence: Callable[[str], None]
    unavailable: Callable[[], StateStore]


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "state.sqlite3"

    def write(sql: str, params: tuple[Any, ...]) -> None:
        SqliteStateStore(path=path).silences(now=NOW)  # creates the schema
        with sqlite3.connect(path) as db:
            db.execute(sql, params)

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return Backend(
        name="sqlite",
        new_store=lambda: SqliteStateStore(path=path),
        corrupt_alert=lambda fp: write(
            "INSERT INTO alerts (fingerprint, status, record, version) VALUES (?, 'firing', ?, 1)",
            (fp, '{"fingerprint": "%s", "severity": "catastrophic"}' % fp),
        ),
        corrupt_silence=lambda sid: write(
            "INSERT INTO silences (id, record, expires_at) VALUES (?, ?, ?)", (sid, "{not json", "2099-01-01")
        ),
        unavailable=lambda: SqliteStateStore(path=blocker / "state.sqlite3"),
    )


def firestore_backend(emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch) -> Backend:
    config = FirestoreConfig()

    def write(collection: str, doc_id: str, data: dict[str, Any]) -> None:
        from google.cloud import firestore

        firestore.Client(project=emulator.project).collection(collection).document(doc_id).set(data)

    def unavailable() -> StateStore:
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nothing listens there
        return FirestoreStateStore(project=emulator.project, config=config, timeout_seconds=1.5)

    return Backend(
        name="firestore",
        new_store=lambda: FirestoreStateStore(project=emulator.project, config=config),
        corrupt_alert=lambda fp: write(
            config.alerts_collection, fp, {"status": "firing", "severity": "catastrophic", "version": 1}
        ),
        corrupt_silence=lambda sid: write(config.silences_collection, sid, {"expires_at": datetime(2099, 1, 1, tzinfo=timezone.utc)}),
        unavailable=unavailable,
    )


@pytest.fixture(params=["sqlite", "firestore"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    if request.param == "sqlite":
        return sqlite_backend(tmp_path)
    return firestore_backend(request.getfixturevalue("firestore_env"), monkeypatch)


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.new_store()


def alert(fingerprint: str, *, status: str = "firing", at: datetime = NOW, **changes: Any) -> AlertState:
    fields: dict[str, Any] = dict(
        fingerprint=fingerprint,
        monitor="orchestrator_iam",
        key={"service": f"svc-{fingerprint}", "problem": "missing_invoker"},
        severity=Severity.CRITICAL,
        summary=f"{fingerprint} has no invoker",
        status=status,
        first_seen=at,
        last_seen=at,
        last_notified=at,
    )
    return AlertState(**{**fields, **changes})


def claim(store: StateStore, fingerprint: str, *, version: int = 0, owner: str = "run-a", now: datetime = NOW) -> bool:
    return store.claim(fingerprint=fingerprint, expected_version=version, owner=owner, now=now, lease=LEASE)


def notify(store: StateStore, state: AlertState, *, owner: str = "run-a", now: datetime = NOW) -> AlertState:
    """What a delivering run does: claim, (send), record; returns the record as stored."""
    assert claim(store, state.fingerprint, version=state.version, owner=owner, now=now)
    store.record(state=state, owner=owner)
    return store.load(fingerprints=[state.fingerprint])[state.fingerprint]


# --- load -----------------------------------------------------------------------------------------


def test_an_empty_store_loads_nothing(store: StateStore) -> None:
    assert store.load(fingerprints=["aaaa", "bbbb"]) == {}
    assert store.load(fingerprints=[]) == {}


def test_load_returns_exactly_the_asked_records_of_any_status_and_load_firing_every_firing_one(store: StateStore) -> None:
    notify(store, alert("firing1"))
    notify(store, alert("firing2"))
    notify(store, alert("gone", status="resolved", resolved_at=NOW, expire_at=NOW + timedelta(days=30)))
    notify(store, alert("old", status="resolved", resolved_at=NOW))

    loaded = store.load(fingerprints=["gone", "firing1", "never-seen"])
    firing = store.load_firing()

    assert sorted(loaded) == ["firing1", "gone"]
    assert loaded["gone"].status is AlertStatus.RESOLVED
    assert sorted(firing) == ["firing1", "firing2"] and all(s.firing for s in firing.values())
    assert all(fp == state.fingerprint for fp, state in {**loaded, **firing}.items())


def test_a_record_round_trips_every_field(store: StateStore) -> None:
    state = alert(
        "full",
        status="resolved",
        channel="#nba-pipeline-alerts",
        thread_ts="1732231800.000100",
        notify_count=3,
        first_seen=NOW - timedelta(hours=5),
        last_seen=NOW - timedelta(hours=1),
        resolved_at=NOW,
        expire_at=NOW + timedelta(days=30),
        severity=Severity.WARNING,
        key={"transition": "phase_4_precompute->phase_5_predictions", "game_date": "2026-11-21", "problem": "stalled"},
        caused_by="9baefdbd4caf83e4",
        no_data_since=NOW - timedelta(minutes=30),
    )

    stored = notify(store, state)

    assert stored == state.model_copy(update={"version": 1})


def test_a_claim_without_a_record_is_not_loaded(store: StateStore) -> None:
    assert claim(store, "claimed-only")

    assert store.load(fingerprints=["claimed-only"]) == {}


# --- claim: compare-and-set --------------------------------------------------------------------


def test_the_first_claim_of_a_new_fingerprint_wins_and_another_run_loses(store: StateStore) -> None:
    assert claim(store, "new", owner="run-a")
    assert not claim(store, "new", owner="run-b")  # another worker got there first


def test_a_run_may_claim_again_what_it_holds(store: StateStore) -> None:
    assert claim(store, "mine", owner="run-a")
    assert claim(store, "mine", owner="run-a")


def test_a_claim_on_a_stale_version_loses(store: StateStore) -> None:
    stored = notify(store, alert("fp"))
    assert stored.version == 1

    assert not claim(store, "fp", version=0, owner="run-b")  # read before the notice was recorded
    assert claim(store, "fp", version=1, owner="run-b")


def test_a_claim_expecting_a_record_that_no_longer_exists_loses(store: StateStore) -> None:
    assert not claim(store, "deleted", version=3)
    assert claim(store, "deleted", version=0, owner="run-b")  # and it leaves nothing in the way


def test_a_live_claim_of_another_run_wins_until_its_lease_expires(store: StateStore) -> None:
    assert claim(store, "fp", owner="run-a", now=NOW)

    assert not claim(store, "fp", owner="run-b", now=NOW + LEASE - timedelta(seconds=1))
    # run-a died while sending: after the lease, its claim is taken over so the alert is not lost.
    assert claim(store, "fp", owner="run-b", now=NOW + LEASE + timedelta(seconds=1))
    assert not claim(store, "fp", owner="run-a", now=NOW + LEASE + timedelta(seconds=2))


# --- record and release ---------------------------------------------------------------------------


def test_record_bumps_the_version_and_clears_the_claim(store: StateStore) -> None:
    first = notify(store, alert("fp"), owner="run-a")
    assert first.version == 1
    # The claim is gone: another run may claim the next notice at once, without waiting for a lease.
    assert claim(store, "fp", version=1, owner="run-b")
    store.record(state=first.model_copy(update={"notify_count": 2, "last_notified": NOW + timedelta(hours=2)}), owner="run-b")

    second = store.load(fingerprints=["fp"])["fp"]
    assert (second.version, second.notify_count) == (2, 2)
    assert claim(store, "fp", version=2, owner="run-c")


def test_release_gives_the_claim_back_to_the_next_run(store: StateStore) -> None:
    assert claim(store, "fp", owner="run-a")
    store.release(fingerprint="fp", owner="run-b")  # not its claim: nothing changes
    assert not claim(store, "fp", owner="run-c")

    store.release(fingerprint="fp", owner="run-a")

    assert claim(store, "fp", owner="run-c")
    assert store.load(fingerprints=["fp"]) == {}


def test_release_of_an_unknown_fingerprint_is_harmless(store: StateStore) -> None:
    store.release(fingerprint="nothing", owner="run-a")
    assert claim(store, "nothing", owner="run-b")


# --- silences -----------------------------------------------------------------------------------


def silence(sid: str, *, hours: float, **matchers: str) -> Silence:
    return Silence(
        id=sid,
        matchers=matchers or {"service": "phase4-to-phase5-orchestrator"},
        author="oncall",
        reason="redeploying",
        created_at=NOW,
        expires_at=NOW + timedelta(hours=hours),
    )


def test_silences_are_listed_by_expiry_until_they_expire(store: StateStore) -> None:
    later, sooner = silence("later", hours=4), silence("sooner", hours=1, monitor="phase_stalls")
    store.add_silence(later)
    store.add_silence(sooner)

    assert store.silences(now=NOW) == [sooner, later]
    assert store.silences(now=NOW + timedelta(hours=1)) == [later]  # expires_at is the first muted-no-more moment
    assert store.silences(now=NOW + timedelta(hours=5)) == []
    assert store.silences(now=NOW + timedelta(hours=5), include_expired=True) == [sooner, later]


def test_a_silence_id_is_never_reused(store: StateStore) -> None:
    store.add_silence(silence("same", hours=1))

    with pytest.raises(StateError):
        store.add_silence(silence("same", hours=2))
    assert store.silences(now=NOW) == [silence("same", hours=1)]


def test_a_silence_ended_early_is_kept_on_record_and_no_longer_active(store: StateStore) -> None:
    store.add_silence(silence("early", hours=4))
    store.add_silence(silence("other", hours=4, monitor="phase_stalls"))
    ended_at = NOW + timedelta(hours=1)

    ended = store.end_silence("early", now=ended_at, by="ana")
    assert ended is not None and (ended.expires_at, ended.ended_by) == (ended_at, "ana")
    assert [s.id for s in store.silences(now=ended_at)] == ["other"]
    assert store.silences(now=ended_at, include_expired=True)[0] == ended  # recorded, not deleted
    assert store.end_silence("early", now=ended_at + timedelta(minutes=5), by="bo") == ended  # already over: unchanged
    assert store.end_silence("missing", now=ended_at, by="ana") is None


def test_the_latest_notice_is_the_latest_last_notified_of_any_record(store: StateStore) -> None:
    assert store.latest_notice() is None
    claim(store, "claimed-only")  # a claim placeholder is not a notice
    assert store.latest_notice() is None
    notify(store, alert("early", at=NOW))
    notify(store, alert("late", at=NOW + timedelta(hours=2)).resolved(now=NOW + timedelta(hours=3), retention=timedelta(days=1)))
    assert store.latest_notice() == NOW + timedelta(hours=3)


# --- failures -------------------------------------------------------------------------------------


def test_a_corrupt_alert_record_is_that_records_own_error_naming_it(backend: Backend, store: StateStore) -> None:
    """Issue 11: one unreadable record no longer makes the whole store unreadable (the blind path)."""
    notify(store, alert("healthy"))
    backend.corrupt_alert("broken")

    firing = store.load_firing()
    assert list(firing) == ["healthy"] and list(firing.corrupt) == ["broken"]  # type: ignore[attr-defined]
    assert re.search(f"{backend.name}.*corrupt.*broken", firing.corrupt["broken"])  # type: ignore[attr-defined]
    loaded = store.load(fingerprints=["broken", "healthy"])
    assert list(loaded) == ["healthy"] and list(loaded.corrupt) == ["broken"]  # type: ignore[attr-defined]


def corrupt_version(backend: Backend, tmp_path: Path, fingerprint: str, value: Any) -> None:
    """What issue 11 found: a record whose compare-and-set field is not an integer."""
    if backend.name == "sqlite":
        with sqlite3.connect(tmp_path / "state.sqlite3") as db:
            db.execute("UPDATE alerts SET version = ? WHERE fingerprint = ?", (value, fingerprint))
        return
    from google.cloud import firestore

    client = firestore.Client(project=backend.new_store().project)  # type: ignore[attr-defined]
    client.collection(FirestoreConfig().alerts_collection).document(fingerprint).update({"version": value})


def test_a_non_integer_version_is_that_records_own_error_and_can_be_replaced(
    backend: Backend, store: StateStore, tmp_path: Path
) -> None:
    """Issue 11, defect 6: never a silent "another run claimed it first"; replace_corrupt then lets it go out."""
    from alerts.state import CorruptRecord

    notify(store, alert("fp"))
    corrupt_version(backend, tmp_path, "fp", "seven")
    with pytest.raises(CorruptRecord, match=f"{backend.name}.*corrupt.*fp") as raised:
        claim(store, "fp", version=1, owner="run-b")
    assert raised.value.fingerprint == "fp"
    store.replace_corrupt(fingerprint="fp", owner="run-b", now=NOW, lease=LEASE)
    assert store.load(fingerprints=["fp"]) == {} and "fp" not in store.load_firing()  # a placeholder: nothing sent
    assert not claim(store, "fp", owner="run-c")  # run-b holds the claim now
    store.record(state=alert("fp"), owner="run-b")
    assert store.load(fingerprints=["fp"])["fp"].version == 1


def test_a_corrupt_silence_is_a_state_error_naming_it(backend: Backend, store: StateStore) -> None:
    store.add_silence(silence("good", hours=1))
    backend.corrupt_silence("bad")

    with pytest.raises(StateError, match=f"{backend.name}.*corrupt.*bad"):
        store.silences(now=NOW)


def test_an_unreachable_store_is_a_state_error_not_a_traceback(backend: Backend) -> None:
    down = backend.unavailable()

    for action in (
        lambda: down.load(fingerprints=["fp"]),
        lambda: claim(down, "fp"),
        lambda: down.silences(now=NOW),
    ):
        with pytest.raises(StateError, match=f"^{backend.name}: ") as raised:
            action()
        assert raised.value.__cause__ is None and raised.value.__suppress_context__
        assert "\n" not in str(raised.value)


# --- concurrency ----------------------------------------------------------------------------------


def race(backend: Backend, fingerprint: str, *, version: int) -> list[object]:
    """CONTENDERS runs, each with its own store (its own client or connection), claim at the same moment."""
    return at_once(backend, lambda index, store: claim(store, fingerprint, version=version, owner=f"run-{index}"))


def at_once(backend: Backend, act: Callable[[int, StateStore], object]) -> list[object]:
    """CONTENDERS runs, each with its own store, do `act(index, store)` at the same moment: what each returned or raised."""
    stores = [backend.new_store() for _ in range(CONTENDERS)]
    start = threading.Barrier(CONTENDERS)
    results: list[object] = [None] * CONTENDERS

    def contend(index: int) -> None:
        start.wait()
        try:
            results[index] = act(index, stores[index])
        except Exception as error:  # recorded, so the assertion shows it
            results[index] = error

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_many_runs_claiming_a_new_fingerprint_at_once_exactly_one_wins(backend: Backend) -> None:
    results = race(backend, "contended", version=0)

    assert sorted(map(repr, results)) == ["False"] * (CONTENDERS - 1) + ["True"]


def test_many_runs_claiming_the_next_notice_at_once_exactly_one_wins(backend: Backend, store: StateStore) -> None:
    notify(store, alert("repeat-due"))

    results = race(backend, "repeat-due", version=1)

    assert sorted(map(repr, results)) == ["False"] * (CONTENDERS - 1) + ["True"]


# --- Firestore only: the document layout an operator (and the TTL policy) sees -------------------


def raw_document(emulator: FirestoreEmulator, fingerprint: str) -> dict[str, Any]:
    from google.cloud import firestore

    snapshot = firestore.Client(project=emulator.project).collection(FirestoreConfig().alerts_collection).document(fingerprint).get()
    assert snapshot.exists
    return snapshot.to_dict() or {}


def test_firestore_keeps_one_readable_document_per_fingerprint(firestore_env: FirestoreEmulator) -> None:
    store = FirestoreStateStore(project=firestore_env.project, config=FirestoreConfig())
    assert claim(store, "fp", owner="run-a")
    placeholder = raw_document(firestore_env, "fp")
    assert placeholder == {"version": 0, "claim_owner": "run-a", "claim_expires": NOW + LEASE}  # no status: not loaded

    store.record(state=alert("fp", status="resolved", resolved_at=NOW, expire_at=NOW + timedelta(days=30)), owner="run-a")

    document = raw_document(firestore_env, "fp")
    assert set(document) == {
        "status", "severity", "monitor", "key", "summary", "first_seen", "last_seen", "last_notified", "notify_count",
        "channel", "thread_ts", "resolved_at", "expire_at", "version", "claim_owner", "claim_expires", "group", "caused_by", "since",
        "own_parent_at", "no_data_since", "shown",
    }
    assert (document["status"], document["severity"], document["version"]) == ("resolved", "critical", 1)
    assert document["key"] == {"service": "svc-fp", "problem": "missing_invoker"}
    # A Firestore timestamp, as a TTL policy on expire_at requires (a string would never expire).
    assert isinstance(document["expire_at"], datetime) and document["expire_at"] == NOW + timedelta(days=30)
    assert document["claim_owner"] is None and document["claim_expires"] is None


def test_firestore_claim_on_a_document_with_corrupt_claim_fields_is_a_state_error(firestore_env: FirestoreEmulator) -> None:
    store = FirestoreStateStore(project=firestore_env.project, config=FirestoreConfig())
    notify(store, alert("fp"))
    from google.cloud import firestore

    firestore.Client(project=firestore_env.project).collection("canary_alerts").document("fp").update({"version": "two"})

    with pytest.raises(StateError, match="firestore: corrupt document canary_alerts/fp .*version"):
        claim(store, "fp", version=1, owner="run-b")


def test_the_cli_manages_silences_in_firestore_with_the_gcp_backend(
    firestore_env: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import run_cli

    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    monkeypatch.setenv("CANARY_ALLOW_TEST_ENDPOINTS", "1")  # FIRESTORE_EMULATOR_HOST names the emulator
    monkeypatch.setenv("CANARY_GCP_PROJECT", firestore_env.project)

    created = run_cli("silence", "--match", "service=phase4-to-phase5-orchestrator", "--for", "4h", "--reason", "redeploying")
    listed = run_cli("silences")

    assert (created.code, listed.code) == (0, 0), created.stderr + listed.stderr
    silence_id = created.stdout.split()[1]
    assert listed.stdout.startswith(f"{silence_id}  service=phase4-to-phase5-orchestrator  until ")
    stored = FirestoreStateStore(project=firestore_env.project, config=FirestoreConfig()).silences(now=NOW, include_expired=True)
    assert [(s.id, s.reason) for s in stored] == [(silence_id, "redeploying")]


# --- acknowledgements (issue 22) ------------------------------------------------------------------


def _ack(state: AlertState, *, by: str = "ana", at: datetime = NOW, **changes: Any) -> Acknowledgement:
    from alerts.acks import new_ack

    return new_ack(state=state, by=by, now=at).model_copy(update=changes)


def test_an_acknowledgement_round_trips_and_a_second_one_is_told_who_was_first(store: StateStore) -> None:
    state = notify(store, alert("ack1"))
    stored, created = store.acknowledge(_ack(state, by="ana"), state=state)
    assert created and stored.by == "ana"
    again, created_again = store.acknowledge(_ack(state, by="ben", at=NOW + timedelta(minutes=1)), state=state)
    assert not created_again and again.by == "ana"
    loaded = store.acknowledgements(fingerprints=["ack1", "nope"])
    assert set(loaded) == {"ack1"}
    assert loaded["ack1"] == stored


def test_an_ended_acknowledgement_stays_on_record_and_a_new_one_may_replace_it(store: StateStore) -> None:
    state = notify(store, alert("ack2"))
    store.acknowledge(_ack(state), state=state)
    ended = store.unacknowledge("ack2", now=NOW + timedelta(minutes=5), by="ben")
    assert ended is not None and ended.ended_by == "ben" and ended.ended_at == NOW + timedelta(minutes=5)
    assert store.unacknowledge("ack2", now=NOW + timedelta(minutes=6), by="cy") == ended  # already ended: unchanged
    assert store.unacknowledge("never", now=NOW, by="cy") is None
    stored, created = store.acknowledge(_ack(state, by="cy", at=NOW + timedelta(minutes=7)), state=state)
    assert created and stored.by == "cy" and store.acknowledgements(fingerprints=["ack2"])["ack2"].ended_at is None


def test_an_acknowledgement_of_a_resolved_incident_does_not_hold_for_its_next_one(store: StateStore) -> None:
    state = notify(store, alert("ack3"))
    store.acknowledge(_ack(state, by="ana"), state=state)
    later = NOW + timedelta(hours=3)
    refired = alert("ack3", at=later, version=state.version)
    stored, created = store.acknowledge(_ack(refired, by="ben", at=later), state=refired)
    assert created and stored.by == "ben"


def test_a_slack_action_key_is_taken_once(store: StateStore) -> None:
    expire = NOW + timedelta(days=1)
    assert store.record_action("click-1", now=NOW, expire_at=expire)
    assert not store.record_action("click-1", now=NOW + timedelta(seconds=1), expire_at=expire)
    assert store.record_action("click-2", now=NOW, expire_at=expire)


def test_many_people_acknowledging_at_once_exactly_one_is_recorded(backend: Backend) -> None:
    state = notify(backend.new_store(), alert("ack4"))
    results: list[tuple[Any, bool]] = []
    barrier = threading.Barrier(CONTENDERS)

    def contend(index: int) -> None:
        store = backend.new_store()
        barrier.wait()
        results.append(store.acknowledge(_ack(state, by=f"user{index}"), state=state))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [ack for ack, created in results if created]
    assert len(winners) == 1
    assert {ack.by for ack, _ in results} == {winners[0].by}
    assert backend.new_store().acknowledgements(fingerprints=["ack4"])["ack4"].by == winners[0].by


def test_many_deliveries_of_one_click_at_once_exactly_one_acts(backend: Backend) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(CONTENDERS)

    def contend() -> None:
        store = backend.new_store()
        barrier.wait()
        results.append(store.record_action("same-click", now=NOW, expire_at=NOW + timedelta(days=1)))

    threads = [threading.Thread(target=contend) for _ in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * (CONTENDERS - 1) + [True]


# --- no_data_since: marked without a notice, compare-and-set, the version untouched (issue 22) -------------------


def test_a_no_data_mark_is_written_on_the_record_read_and_leaves_its_version_and_claims_alone(store: StateStore) -> None:
    stored = notify(store, alert("nodata"))
    since = NOW + timedelta(hours=4)

    assert store.mark_no_data(fingerprint="nodata", expected_version=1, since=since)

    marked = store.load(fingerprints=["nodata"])["nodata"]
    assert marked == stored.model_copy(update={"no_data_since": since})  # nothing else changed, the version neither
    assert store.load_firing()["nodata"].no_data_since == since
    assert not store.mark_no_data(fingerprint="nodata", expected_version=1, since=since)  # already so: no write
    # A run that read version 1 before the mark still claims its notice: the mark spoils no claim.
    assert claim(store, "nodata", version=1, owner="run-b")
    seen_again = Finding(monitor="orchestrator_iam", severity=Severity.CRITICAL, key=marked.key, summary=marked.summary)
    store.record(state=marked.repeated(seen_again, now=NOW + timedelta(hours=5)), owner="run-b")
    repeated = store.load(fingerprints=["nodata"])["nodata"]
    assert (repeated.version, repeated.no_data_since) == (2, None)  # a notice's record clears the mark


def test_a_no_data_mark_loses_to_a_notice_recorded_since_and_never_touches_a_resolved_record(store: StateStore) -> None:
    first = notify(store, alert("raced"))
    notify(store, first.model_copy(update={"notify_count": 2}))  # another run's repeat: version 2

    assert not store.mark_no_data(fingerprint="raced", expected_version=1, since=NOW)
    assert store.load(fingerprints=["raced"])["raced"].no_data_since is None

    notify(store, alert("closed", status="resolved", resolved_at=NOW))
    assert not store.mark_no_data(fingerprint="closed", expected_version=1, since=NOW)
    assert not store.mark_no_data(fingerprint="never-sent", expected_version=0, since=NOW)
    assert store.load(fingerprints=["never-sent"]) == {}


def test_a_no_data_mark_is_cleared_only_while_set(store: StateStore) -> None:
    notify(store, alert("clear", no_data_since=NOW))

    assert store.mark_no_data(fingerprint="clear", expected_version=1, since=None)
    assert store.load(fingerprints=["clear"])["clear"].no_data_since is None
    assert not store.mark_no_data(fingerprint="clear", expected_version=1, since=None)


def test_marks_racing_a_repeat_never_lose_the_repeat_nor_leave_a_stale_mark(backend: Backend) -> None:
    """A run recording a repeat (it saw the finding) beside runs that read the same record and found no data."""
    notify(backend.new_store(), alert("contended-mark"))
    later = NOW + timedelta(hours=2)

    def act(index: int, store: StateStore) -> object:
        if index == 0:
            won = claim(store, "contended-mark", version=1, owner="run-repeat", now=later)
            store.record(state=alert("contended-mark", notify_count=2, last_notified=later, last_seen=later), owner="run-repeat")
            return won
        return store.mark_no_data(fingerprint="contended-mark", expected_version=1, since=later)

    results = at_once(backend, act)
    assert results[0] is True  # the repeat's claim is never spoiled by a mark
    assert all(isinstance(r, bool) for r in results[1:]), results
    assert sum(r is True for r in results[1:]) <= 1  # at most one mark was written (the others found it already so, or lost to the repeat)
    final = backend.new_store().load(fingerprints=["contended-mark"])["contended-mark"]
    assert (final.version, final.notify_count, final.no_data_since) == (2, 2, None)


# --- what a parent showed, kept in its record (issue 22: a parent rebuilt after a click keeps the fix) -----


def edit_record(backend: Backend, fingerprint: str, **fields: Any) -> None:
    """Rewrite fields of a stored alert record as another version of the canary (or a hand) left them; a field
    given as REMOVED is taken out, as in a record written before the field existed."""
    if backend.name == "sqlite":
        path = backend.new_store().path  # type: ignore[attr-defined]
        with sqlite3.connect(path) as db:
            record = json.loads(db.execute("SELECT record FROM alerts WHERE fingerprint = ?", (fingerprint,)).fetchone()[0])
            for name, value in fields.items():
                record.pop(name, None) if value is REMOVED else record.__setitem__(name, value)
            db.execute("UPDATE alerts SET record = ? WHERE fingerprint = ?", (json.dumps(record), fingerprint))
        return
    from google.cloud import firestore

    store = backend.new_store()
    changes = {name: firestore.DELETE_FIELD if value is REMOVED else value for name, value in fields.items()}
    firestore.Client(project=store.project).collection(store.alerts_collection).document(fingerprint).update(changes)  # type: ignore[attr-defined]


REMOVED = object()
SHOWN = {
    "evidence": "Pub/Sub pushes to this service are rejected at Cloud Run ingress, with no log line",
    "facts": [{"name": "role", "value": "roles/run.invoker"}],
    "fix": "gcloud run services add-iam-policy-binding svc --region=us-west2 --member=serviceAccount:a@b --role=roles/run.invoker",
    "links": [{"label": "Cloud Run: svc", "url": "https://console.cloud.google.com/run/detail/us-west2/svc?project=p"},
              {"label": "Runbook", "url": "https://example.com/runbook.md#orchestrator_iam-missing_invoker"}],
}


def test_what_the_parent_showed_round_trips_and_an_older_or_malformed_copy_loads_without_it(
    backend: Backend, store: StateStore
) -> None:
    """Links are maps, not [label, url] pairs: the Firestore emulator refuses a pair ("Cannot convert an array value
    in an array value")."""
    stored = notify(store, alert("kept", shown=SHOWN))
    assert stored.shown is not None and stored.shown.model_dump() == SHOWN
    assert store.load_firing()["kept"].shown == stored.shown

    notify(store, alert("old", shown=SHOWN))
    edit_record(backend, "old", shown=REMOVED)  # a record written before the field existed
    notify(store, alert("odd", shown=SHOWN))
    edit_record(backend, "odd", shown={"links": ["Runbook"], "fix": 7})
    loaded = store.load(fingerprints=["old", "odd"])
    assert loaded.corrupt == {}  # only shown, never compared: the record itself stays readable
    assert loaded["old"].shown is None and loaded["odd"].shown is None
    assert loaded["old"].summary == "old has no invoker" and loaded["odd"].version == 1
