"""The fault matrix: each external source x each fault, through the real client libraries over HTTP.

Every source sits behind a fault-injecting proxy (tests/servers/fault_proxy.py) in front of its real
local stand-in: bqemulator (google-cloud-bigquery), the Cloud Run fake (google-cloud-run REST), the
fake Slack Web API (slack_sdk). Three runs per cell, on a pipeline where every monitor fires:

1. healthy sources: every finding's `first` notice is delivered;
2. the fault is on, 2 h 05 later (every critical's repeat is due): the run completes; only the
   monitors reading that source are `error`, each with a "canary degraded" finding naming the source;
   every other monitor's findings and repeats are intact; an errored monitor neither repeats nor
   resolves, and its records are untouched (no state lost or corrupted);
3. the fault cleared, 5 min later: what was due and not sent is sent now, the degraded alert resolves.

The matrix is printed at the end of the module's tests (whatever the capture mode).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest

from canary.model import AlertState, RunReport
from tests.servers.bqemulator import BqEmulator, bqemulator, say  # noqa: F401  (session fixture)
from tests.servers.fake_cloud_run import FakeCloudRun, fake_cloud_run  # noqa: F401  (fixture)
from tests.servers.fake_slack import FakeSlack, fake_slack  # noqa: F401  (fixture)
from tests.servers.fault_proxy import FAULTS, FaultProxy
from tests.servers.stacks import Stack, default_config, gcp_stack
from tests.test_backends_scenarios import CASES, EVENING

pytestmark = pytest.mark.servers

# Which monitors read each source; the notifier is read by none (its failures are notification errors).
READERS = {"bigquery": {"phase_stalls", "missing_predictions"}, "cloud_run": {"orchestrator_iam"}, "slack": set()}
MONITOR_TIMEOUT_S = 2.0
MATRIX: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module", autouse=True)
def print_matrix(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    if not MATRIX:
        return
    width = max(len(f) for f in FAULTS)
    header = f"{'source':<10} | {'monitors in error while it fails':<37} | " + " | ".join(f"{f:<{width}}" for f in FAULTS)
    lines = [
        "",
        "fault matrix: ok = the run completed, only the source's readers errored (canary degraded names the source),",
        "the other findings and the stored records intact, and what was due was sent once the fault cleared;",
        "seconds = the faulty run's duration (monitor timeout 2 s)",
        header,
        "-" * len(header),
    ]
    for source, readers in READERS.items():
        if any(key[0] == source for key in MATRIX):
            errored = ", ".join(sorted(readers)) or "none (notices fail, retried next run)"
            cells = " | ".join(f"{MATRIX.get((source, f), 'not run'):<{width}}" for f in FAULTS)
            lines.append(f"{source:<10} | {errored:<37} | {cells}")
    for line in lines:
        say(pytestconfig, line)


@pytest.fixture
def rig(
    tmp_path: Path, bqemulator: BqEmulator, fake_cloud_run: FakeCloudRun, fake_slack: FakeSlack  # noqa: F811
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
        config=default_config(monitor_timeout=MONITOR_TIMEOUT_S),
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


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("source", list(READERS))
def test_fault(source: str, fault: str, rig: tuple[Stack, dict[str, FaultProxy]]) -> None:
    stack, proxies = rig
    stack.load(CASES["demo_like_incident"]().scenario)

    # 1. healthy: one first notice per finding
    first = stack.run(EVENING)
    assert all(m.outcome.value == "firing" for m in first.monitors), first.monitors
    by_monitor = {f.fingerprint: f.monitor for f in first.findings}
    assert sent(first) == {(fp, "first") for fp in by_monitor}
    before = records(stack, list(by_monitor))

    # 2. the fault
    proxies[source].set_fault(fault)
    started = time.perf_counter()
    during = stack.run(EVENING + timedelta(hours=2, minutes=5))
    seconds = time.perf_counter() - started
    if fault != "refused":  # a refused connection never reaches the proxy's handler
        assert proxies[source].faulted > 0, "the fault was never hit: the source is not behind the proxy"
    errored = {m.name for m in during.monitors if m.outcome.value == "error"}
    assert errored == READERS[source], [(m.name, m.outcome.value, m.error) for m in during.monitors]
    for result in during.monitors:
        if result.name in errored:
            assert result.source == source, (result.source, result.error)
    degraded = [f for f in during.findings if f.monitor == "canary"]
    assert {f.key["monitor"] for f in degraded} == errored
    for finding in degraded:
        assert finding.details["source"] == source and source in finding.summary, finding
    intact = {fp for fp, monitor in by_monitor.items() if monitor not in errored}
    assert {f.fingerprint for f in during.findings if f.monitor != "canary"} == intact
    notified_during = {(fp, "repeat") for fp in intact} | {(f.fingerprint, "first") for f in degraded}
    if source == "slack":
        assert sent(during) == set()
        assert {(n.fingerprint, n.reason.value) for n in during.notifications} == notified_during
        assert all(n.error and "token" not in n.error.lower() for n in during.notifications), during.notifications
        assert during.delivery_failed
    else:
        assert sent(during) == notified_during, during.notifications
        assert not during.delivery_failed
    # No state lost or corrupted: the records of what was not (re)sent are exactly as before.
    after_fault = records(stack, list(by_monitor))
    unsent = {fp for fp in by_monitor if (fp, "repeat") not in sent(during)}
    for fp in unsent:
        assert after_fault[fp] == before[fp], fp

    # 3. the fault clears: what was due is sent now, the degraded alert resolves
    proxies[source].clear()
    cleared = stack.run(EVENING + timedelta(hours=2, minutes=10))
    assert all(m.outcome.value == "firing" for m in cleared.monitors), cleared.monitors
    expected = {(fp, "repeat") for fp in unsent}
    if source != "slack":
        expected |= {(f.fingerprint, "resolved") for f in degraded}
    assert sent(cleared) == expected, cleared.notifications
    assert {(n.fingerprint, n.reason.value) for n in cleared.notifications} == expected
    final = records(stack, list(by_monitor))
    assert all(final[fp].status == "firing" and final[fp].version == 2 for fp in by_monitor), final

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
