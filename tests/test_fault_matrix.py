"""The fault matrix: each external source x each fault, through the real client libraries over HTTP / gRPC.

Every HTTP source sits behind a fault-injecting proxy (tests/servers/fault_proxy.py) in front of its
real local stand-in: bqemulator (google-cloud-bigquery), the Cloud Run fake (google-cloud-run REST), the
fake Slack Web API (slack_sdk). Three runs per cell, on a pipeline where every monitor fires:

1. healthy sources: every finding's `first` notice is delivered;
2. the fault is on, 2 h 05 later (every critical's repeat is due): the run completes; only the
   monitors reading that source are `error`, each with a "canary degraded" finding naming the source;
   every other monitor's findings and repeats are intact; an errored monitor neither repeats nor
   resolves, and its records are untouched (no state lost or corrupted);
3. the fault cleared, 5 min later: what was due and not sent is sent now, the degraded alert resolves.

The incident is the demo's: the stall and the missing predictions live in the IAM alert's thread
(alerts/causes.py), so they repeat on their own only when their cause was not seen (its monitor errored);
otherwise the cause's repeat names them.

The Firestore row (test_firestore_fault): the alert state lives in the real Firestore emulator, read by
the real google-cloud-firestore client over gRPC; for the faulty run FIRESTORE_EMULATOR_HOST names a
fault gRPC server instead (tests/servers/fault_grpc.py) and the run builds a fresh store (the client
reads the variable when it is created). The state store is no monitor's source, so no monitor errors;
the state cannot be read, so nothing can be decided or claimed: nothing is sent, the report's
`state_error` (and the run's log line) names firestore, and the run fails (CLI exit 1 / HTTP 503) so
Cloud Scheduler retries it. The emulator's documents are untouched, and the run after the fault sends
the repeats that fell due during it, once.

The matrix is printed at the end of the module's tests (whatever the capture mode).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest

from run.observe import run_log_record
from alerts.firestore_state import FirestoreStateStore
from core.model import AlertState, RunReport
from tests.production import PUSH_MEMBER
from tests.servers.bqemulator import BqEmulator, bqemulator, say  # noqa: F401  (session fixture)
from tests.servers.fake_cloud_run import FakeCloudRun, fake_cloud_run  # noqa: F401  (fixture)
from tests.servers.fake_slack import FakeSlack, fake_slack  # noqa: F401  (fixture)
from tests.servers.fault_grpc import FaultGrpcServer
from tests.servers.fault_proxy import FAULTS, FaultProxy
from tests.servers.firestore_emulator import PROJECT, FirestoreEmulator, firestore_emulator, firestore_env  # noqa: F401  (fixtures)
from tests.servers.fake_monitoring import FakeMonitoring, fake_monitoring, fake_monitoring_server  # noqa: F401  (fixtures)
from tests.servers.pubsub_emulator import PubSubEmulator, pubsub_emulator, pubsub_env  # noqa: F401  (fixtures)
from tests.servers.push_chain import load_push_chain
from tests.servers.stacks import Stack, default_config, gcp_stack
from tests.test_scenarios_both_backends import CASES, EVENING

pytestmark = pytest.mark.servers

# Which monitors read each source; the notifier is read by none (its failures are notification errors).
READERS = {"bigquery": {"phase_stalls", "missing_predictions"}, "cloud_run": {"orchestrator_iam", "push_delivery"}, "slack": set()}
MONITOR_TIMEOUT_S = 2.0
STATE_TIMEOUT_S = 1.0
"""The Firestore store's per-call timeout and retry deadline in these tests (production: 20 s)."""
RUN_LIMIT_S = 20.0
# What the client library makes of each gRPC fault, as the report's state_error shows it.
STATE_ERRORS = {
    "timeout": "DeadlineExceeded",  # not retried
    "forbidden": "PermissionDenied: 403",  # not retried
    "server_error": "500 An internal error occurred",  # INTERNAL: retried until the deadline
    "malformed": "Exception deserializing response",  # surfaces as INTERNAL: retried until the deadline
    "refused": "Connection refused",  # UNAVAILABLE: retried until the deadline
}
"""A faulty run still going after this is a hang: the test fails instead of waiting."""
# The printed rows, in the order, and what is in error while each source fails.
ROWS = {
    "bigquery": ", ".join(sorted(READERS["bigquery"])),
    "cloud_run": ", ".join(sorted(READERS["cloud_run"])),
    "firestore": "none (state unreadable: one undeduplicated notice, run fails)",
    "slack": "none (notices fail, retried next run)",
}
MATRIX: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module", autouse=True)
def print_matrix(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    if not MATRIX:
        return
    width = max(len(f) for f in FAULTS)
    label = max(len("monitors in error while it fails"), *(len(text) for text in ROWS.values()))
    header = f"{'source':<10} | {'monitors in error while it fails':<{label}} | " + " | ".join(f"{f:<{width}}" for f in FAULTS)
    lines = [
        "",
        "fault matrix: ok = the run completed, only the source's readers errored (canary degraded names the source),",
        "the other findings and the stored records intact, and what was due was sent once the fault cleared;",
        "firestore (the alert state, over gRPC): no monitor errored, the report's state_error named firestore,",
        "one undeduplicated 'alert state unreadable' notice listing the run's findings was the only thing sent,",
        "the run failed (exit 1 / HTTP 503), the emulator's documents were untouched,",
        "and the repeats due during the fault were sent once after it;",
        f"seconds = the faulty run's duration (monitor timeout {MONITOR_TIMEOUT_S:g} s, state store timeout {STATE_TIMEOUT_S:g} s)",
        header,
        "-" * len(header),
    ]
    for source, errored in ROWS.items():
        if any(key[0] == source for key in MATRIX):
            cells = " | ".join(f"{MATRIX.get((source, f), 'not run'):<{width}}" for f in FAULTS)
            lines.append(f"{source:<10} | {errored:<{label}} | {cells}")
    for line in lines:
        say(pytestconfig, line)


@pytest.fixture
def rig(
    tmp_path: Path, bqemulator: BqEmulator, fake_cloud_run: FakeCloudRun, fake_slack: FakeSlack,  # noqa: F811
    pubsub_env: PubSubEmulator, fake_monitoring: FakeMonitoring,  # noqa: F811
) -> Iterator[tuple[Stack, dict[str, FaultProxy]]]:
    proxies = {
        "bigquery": FaultProxy(upstream=bqemulator.endpoint, hold_seconds=MONITOR_TIMEOUT_S * 3).start(),
        "cloud_run": FaultProxy(upstream=fake_cloud_run.endpoint, hold_seconds=MONITOR_TIMEOUT_S * 3).start(),
        "slack": FaultProxy(upstream=fake_slack.base_url.removesuffix("/api/"), hold_seconds=3).start(),
    }
    stack = gcp_stack(
        tmp_path / "gcp",
        bigquery_endpoint=proxies["bigquery"].endpoint,
        run_endpoint=proxies["cloud_run"].endpoint,
        load_warehouse=lambda project, scenario: bqemulator.load(project, scenario.rows_by_table),
        set_policies=fake_cloud_run.set_policies,
        project=bqemulator.new_project(),
        monitoring_endpoint=fake_monitoring.host,
        load_push=lambda scenario: load_push_chain(scenario, cloud_run=fake_cloud_run, monitoring=fake_monitoring, pubsub=pubsub_env),
        # Every finding of the incident critical (no backlog warning), so each one repeats after 2 h.
        config=default_config(monitor_timeout=MONITOR_TIMEOUT_S, monitors={"push_delivery": {
            "push_account": PUSH_MEMBER.split(":", 1)[1], "max_backlog_age": "1d",
        }}),
        slack_base_url=proxies["slack"].endpoint + "/api/",
        slack_timeout_seconds=1,
        slack_retries=1,
    )
    try:
        yield stack, proxies
    finally:
        for proxy in proxies.values():
            proxy.stop()


def records(stack: Stack, fingerprints: list[str]) -> dict[str, AlertState]:
    return stack.canary.store.load(fingerprints=fingerprints)


def sent(report: RunReport) -> set[tuple[str, str]]:
    return {(n.fingerprint, n.reason.value) for n in report.notifications if n.delivered}


def repeats_on_its_own(state: AlertState, seen: set[str]) -> bool:
    """An incident repeats on its own unless it lives in its cause's thread and the cause was seen firing."""
    return state.caused_by is None or state.caused_by not in seen


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("source", list(READERS))
def test_fault(source: str, fault: str, rig: tuple[Stack, dict[str, FaultProxy]]) -> None:
    stack, proxies = rig
    stack.load(CASES["demo_like_incident"]().scenario)

    # 1. healthy: one first notice per finding
    first = stack.run(EVENING)
    assert all(m.outcome.value == ("ok" if m.name == "scheduler_jobs" else "firing") for m in first.monitors), first.monitors  # its jobs are healthy
    by_monitor = {f.fingerprint: f.monitor for f in first.findings}
    assert sent(first) == {(fp, "first") for fp in by_monitor}
    before = records(stack, list(by_monitor))

    # 2. the fault
    proxies[source].set_fault(fault)
    started = time.perf_counter()
    faulted_at = EVENING + timedelta(hours=2, minutes=5)
    during = stack.run(faulted_at)
    seconds = time.perf_counter() - started
    if fault != "refused":  # a refused connection never reaches the proxy's handler
        assert proxies[source].faulted > 0, "the fault was never hit: the source is not behind the proxy"
    errored = {m.name for m in during.monitors if m.outcome.value == "error"}
    assert errored == READERS[source], [(m.name, m.outcome.value, m.error) for m in during.monitors]
    for result in during.monitors:
        if result.name in errored:
            # Cut off by its timeout, a monitor is named by its port's source; push_delivery's port reads
            # Cloud Run, Pub/Sub and Monitoring, so it says "push_chain" then.
            cut_off = fault == "timeout" and result.name == "push_delivery" and result.source == "push_chain"
            assert result.source == source or cut_off, (result.source, result.error)
    degraded = [f for f in during.findings if f.monitor == "canary"]
    assert {f.key["monitor"] for f in degraded} == errored
    for finding in degraded:
        named = finding.details["source"]
        assert (named == source or (fault == "timeout" and named == "push_chain")) and named in finding.summary, finding
    intact = {fp for fp, monitor in by_monitor.items() if monitor not in errored}
    assert {f.fingerprint for f in during.findings if f.monitor != "canary"} == intact
    assert {fp for fp, state in before.items() if state.caused_by} == {fp for fp, m in by_monitor.items() if m != "orchestrator_iam"}
    notified_during = {(fp, "repeat") for fp in intact if repeats_on_its_own(before[fp], intact)}
    notified_during |= {(f.fingerprint, "first") for f in degraded}
    if source == "slack":
        assert sent(during) == set()
        assert {(n.fingerprint, n.reason.value) for n in during.notifications} == notified_during
        assert all(n.error and "token" not in n.error.lower() for n in during.notifications), during.notifications
        assert during.delivery_failed
    else:
        assert sent(during) == notified_during, during.notifications
        assert not during.delivery_failed
    # No state lost or corrupted: the records of what was not (re)sent are exactly as before, but for the mark of
    # what the errored monitors own: open only for lack of data since this run (issue 22).
    after_fault = records(stack, list(by_monitor))
    unsent = {fp for fp in by_monitor if (fp, "repeat") not in sent(during)}
    for fp in unsent:
        mark = faulted_at if by_monitor[fp] in errored else None
        assert after_fault[fp] == before[fp].model_copy(update={"no_data_since": mark}), fp

    # 3. the fault clears: what was due is sent now, the degraded alert resolves
    proxies[source].clear()
    cleared = stack.run(EVENING + timedelta(hours=2, minutes=10))
    assert all(m.outcome.value == ("ok" if m.name == "scheduler_jobs" else "firing") for m in cleared.monitors), cleared.monitors
    expected = {(fp, "repeat") for fp in unsent if repeats_on_its_own(before[fp], set(by_monitor))}
    if source != "slack":
        expected |= {(f.fingerprint, "resolved") for f in degraded}
    assert sent(cleared) == expected, cleared.notifications
    assert {(n.fingerprint, n.reason.value) for n in cleared.notifications} == expected
    final = records(stack, list(by_monitor))
    repeated = {fp for fp, reason in sent(during) | sent(cleared) if reason == "repeat"}
    assert all(final[fp].status == "firing" and final[fp].version == (2 if fp in repeated else 1) for fp in by_monitor), final
    assert all(final[fp].no_data_since is None for fp in by_monitor), final  # seen again: the marks are cleared
    assert all(fp in repeated or final[fp].caused_by for fp in by_monitor)  # only an effect is named instead

    cell = f"ok {seconds:.1f}s"
    MATRIX[(source, fault)] = cell


def test_error_message_names_source_without_secret(rig: tuple[Stack, dict[str, FaultProxy]]) -> None:
    """A refused Slack call's error names Slack, never the bot token."""
    from tests.servers.fake_slack import TOKEN

    stack, proxies = rig
    stack.load(CASES["iam_not_found"]().scenario)
    proxies["slack"].set_fault("refused")
    report = stack.run(EVENING)
    assert report.notifications and all(n.error for n in report.notifications)
    assert TOKEN not in report.model_dump_json()


# --- the Firestore row: the alert state store over gRPC ------------------------------------------------


def state_store() -> FirestoreStateStore:
    """The production store with a short timeout; its client is built on first use, from
    FIRESTORE_EMULATOR_HOST as it is at that moment."""
    return FirestoreStateStore(project=PROJECT, config=default_config().firestore, timeout_seconds=STATE_TIMEOUT_S, max_attempts=3)


def raw_documents(emulator: FirestoreEmulator) -> dict[str, tuple[dict[str, object], object]]:
    """Every alert document in the real emulator as stored, with its update_time: a write of any kind changes it."""
    from google.cloud import firestore

    client = firestore.Client(project=emulator.project)  # FIRESTORE_EMULATOR_HOST names the emulator here
    collection = default_config().firestore.alerts_collection
    return {d.id: (d.to_dict() or {}, d.update_time) for d in client.collection(collection).stream()}


def bounded_run(stack: Stack, now: object, limit_s: float) -> RunReport:
    """stack.run in a thread: a run that hangs fails the test after `limit_s` instead of blocking it."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["report"] = stack.run(now)  # type: ignore[arg-type]
        except BaseException as error:  # noqa: BLE001  (re-raised below, in the test's thread)
            outcome["error"] = error

    thread = threading.Thread(target=target, name="faulty-run", daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), f"the run hung: still running after {limit_s:g} s"
    if "error" in outcome:
        raise AssertionError(f"the run crashed: {outcome['error']!r}") from outcome["error"]  # type: ignore[arg-type]
    return outcome["report"]  # type: ignore[return-value]


@pytest.mark.parametrize("fault", FAULTS)
def test_firestore_fault(
    fault: str,
    rig: tuple[Stack, dict[str, FaultProxy]],
    firestore_env: FirestoreEmulator,  # noqa: F811
    fake_slack: FakeSlack,  # noqa: F811  (the same server the rig's Slack proxy forwards to)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack, _ = rig
    store = stack.canary.store = state_store()  # the production store, on the real emulator
    server = FaultGrpcServer(hold_seconds=RUN_LIMIT_S).start()
    try:
        stack.load(CASES["demo_like_incident"]().scenario)

        # 1. healthy: one first notice per finding, recorded in the emulator
        first = stack.run(EVENING)
        assert all(m.outcome.value == ("ok" if m.name == "scheduler_jobs" else "firing") for m in first.monitors), first.monitors  # its jobs are healthy
        by_monitor = {f.fingerprint: f.monitor for f in first.findings}
        assert sent(first) == {(fp, "first") for fp in by_monitor} and not first.delivery_failed, first.notifications
        before, documents_before = records(stack, list(by_monitor)), raw_documents(firestore_env)
        assert set(documents_before) == set(by_monitor)
        slack_calls_before = len(fake_slack.requests)

        # 2. the fault: a fresh store whose client is built with FIRESTORE_EMULATOR_HOST on the fault server
        server.set_fault(fault)
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", server.host)
        stack.canary.store = state_store()
        try:
            started = time.perf_counter()
            during = bounded_run(stack, EVENING + timedelta(hours=2, minutes=5), RUN_LIMIT_S)
            seconds = time.perf_counter() - started
        finally:
            monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_env.host)
            stack.canary.store = store
        if fault == "refused":  # nothing listens: the error names the fault server's address
            assert server.calls == 0 and server.host in (during.state_error or ""), during.state_error
        else:
            assert server.faulted > 0, "the fault was never hit: the store's client did not talk to the fault server"
        # The state store is no monitor's source: every monitor ran and fired as before.
        assert [(m.name, m.outcome.value) for m in during.monitors] == [(m.name, m.outcome.value) for m in first.monitors]
        [blind] = [f for f in during.findings if f.monitor == "canary"]
        assert {(f.fingerprint, f.monitor) for f in during.findings if f is not blind} == set(by_monitor.items())
        # The state is unreadable: nothing can be deduplicated, so exactly one undeduplicated notice says so,
        # names firestore and lists this run's findings; the run fails (exit 1 / HTTP 503): Scheduler retries.
        assert during.state_error and during.state_error.startswith("firestore: "), during.state_error
        assert STATE_ERRORS[fault] in during.state_error, during.state_error
        assert blind.key == {"monitor": "alert_state", "problem": "error"} and blind.details["source"] == "firestore"
        assert len(blind.details["findings_this_run"]) == len(by_monitor)
        assert [(n.fingerprint, n.reason.value, n.delivered) for n in during.notifications] == [(blind.fingerprint, "first", True)]
        [notice] = fake_slack.requests[slack_calls_before:]
        assert notice.method == "chat.postMessage" and "alert state (firestore) is unreadable" in notice.body["text"]
        assert during.delivery_failed
        log = run_log_record(during, duration_ms=seconds * 1000)
        assert log["severity"] == "ERROR" and log["state_error"] == during.state_error and log["errored_monitors"] == []
        # No state lost or corrupted: every document in the emulator is exactly as it was, to its update_time.
        assert raw_documents(firestore_env) == documents_before
        assert records(stack, list(by_monitor)) == before

        # 3. the fault clears: the repeats that fell due during it are sent now, each once
        server.clear()
        cleared = stack.run(EVENING + timedelta(hours=2, minutes=10))
        assert cleared.state_error is None and not cleared.delivery_failed, (cleared.state_error, cleared.notifications)
        # (the stall and the missing predictions, in the IAM alert's thread, are named by its repeat)
        expected = {(fp, "repeat") for fp in by_monitor if before[fp].caused_by is None}
        assert sent(cleared) == expected, cleared.notifications
        assert sorted((n.fingerprint, n.reason.value) for n in cleared.notifications) == sorted(expected)
        final = records(stack, list(by_monitor))
        counts = {fp: 1 if before[fp].caused_by else 2 for fp in by_monitor}
        assert all(s.status == "firing" and s.version == s.notify_count == counts[fp] for fp, s in final.items()), final
        assert all(doc.get("claim_owner") is None for doc, _ in raw_documents(firestore_env).values())
        # ... and not again: five minutes later nothing is due.
        after = stack.run(EVENING + timedelta(hours=2, minutes=15))
        assert after.notifications == [] and after.state_error is None, after.notifications
    finally:
        server.stop()

    MATRIX[("firestore", fault)] = f"ok {seconds:.1f}s"
