"""Whole runs at once, and runs whose delivery broke: every due notice is posted exactly once.

A Scheduler retry beside a manual call is two runs of the same instant. Here twelve runs of the real
run.steps.execute (DuckDB + IAM file sources, Firestore on the official emulator, notices appended to
one JSONL file) start together and must post each due notice once; separate `main.py run` processes on
one SQLite file must do the same. A run whose delivery fails part-way, or whose process dies
holding a claim, leaves the rest for the next run, which sends exactly that.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from pydantic import SecretStr

from alerts.deliver import ANOTHER_RUN, CAUSE_ELSEWHERE
from alerts.firestore_state import FirestoreStateStore
from alerts.local_notifier import LocalNotifier
from alerts.message import AlertMessage
from alerts.notifier import DeliveryError, Receipt, ThreadRef
from alerts.slack import SlackNotifier
from alerts.sqlite_state import SqliteStateStore
from alerts.state import StateStore
from core.config import DEFAULT_CONFIG_PATH, CanaryConfig
from run.configure import load_config
from monitors.scheduler_jobs import watched_jobs
from sources.scheduler_files import SchedulerJobsFile
from demo.pipeline import scheduler_jobs, build_demo, demo_now, invoker_policy, write_demo
from tests.production import SERVICES, PUSH_MEMBER
from core.model import RunReport
from run.steps import Canary, RunRequest, execute
from monitors.base import Sources
from sources.duckdb_warehouse import DuckDbWarehouse
from sources.iam_file import IamPolicyFile
from sources.push_files import PushChainFiles
from tests.conftest import PROJECT_ROOT
from tests.servers.fake_slack import TOKEN as SLACK_TOKEN, FakeSlack, fake_slack  # noqa: F401  (fixture)
from tests.servers.firestore_emulator import firestore_emulator, firestore_env

__all__ = ["firestore_emulator", "firestore_env"]  # fixtures imported for pytest

RUNS = 12
PROCESSES = 10
NOW = demo_now(datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc), load_config(DEFAULT_CONFIG_PATH).zone)
"""18:30 New York on 2026-11-21: the demo's broken evening."""
LEASE = timedelta(minutes=5)
SLACK_LATENCY_S = 0.1
"""A send takes as long as a chat.postMessage round trip, so a claim is held while another run decides."""


def no_grouping(config: CanaryConfig) -> CanaryConfig:
    """Every notice its own message, so a line of the JSONL file is one notice (grouping is tested elsewhere),
    and no daily digest (tests/run/test_digest.py races two runs for it)."""
    return config.model_copy(update={
        "alerts": config.alerts.model_copy(update={"group_after": 100}),
        "digest": config.digest.model_copy(update={"enabled": False}),
    })


CONFIG = no_grouping(load_config(DEFAULT_CONFIG_PATH))
OUTAGE_FINDINGS = 2 * len(SERVICES) + 3
"""One missing_invoker and one push_account_cannot_invoke per service, the 3->4 stall (the demo's phase 4 never
starts), the missing predictions and yesterday's incomplete phase 3 (the demo's partial day)."""
OUTAGE_EFFECTS = len(SERVICES) + 3
"""Explained by a missing_invoker: each service's push_account_cannot_invoke, the stall, the missing predictions, and
the incomplete phase 3 (its service, nba-phase3-analytics-processors, lost its binding too)."""


def write_outage(local_dir: Path) -> None:
    """The demo's broken day, with every service's invoker binding gone: OUTAGE_FINDINGS critical findings."""
    pipeline = build_demo(now=NOW, zone=CONFIG.zone, services=SERVICES, push_member=PUSH_MEMBER, history_days=2,
                          project=CONFIG.pipeline.project, region=CONFIG.pipeline.region)
    pipeline.policies = {name: invoker_policy() for name in SERVICES}
    pipeline.push_metrics = {"timeSeries": []}  # no push traffic: only the critical configuration findings
    # Every watched Cloud Scheduler job present, enabled and its last attempt a success: the outage is the bindings
    # only. Without attempt times (now=None) lateness is not judged: these runs span hours of a frozen file.
    watched = [w.job for w in watched_jobs(CONFIG.monitors["scheduler_jobs"], CONFIG.pipeline)]
    pipeline.scheduler_jobs = scheduler_jobs(CONFIG.pipeline.project, CONFIG.pipeline.region, watched, now=None)
    write_demo(pipeline, local_dir)


def restore_invokers(local_dir: Path) -> None:
    policies = {name: invoker_policy(PUSH_MEMBER) for name in SERVICES}
    (local_dir / "iam_policies.json").write_text(json.dumps(policies), encoding="utf-8")


def posted(local_dir: Path) -> list[dict[str, Any]]:
    """The notices in the JSONL file, each with `ts`: its byte offset, the LocalNotifier's message ts."""
    path = local_dir / "notifications.jsonl"
    entries, offset = [], 0
    for line in path.read_bytes().splitlines(keepends=True) if path.exists() else []:
        entries.append({**json.loads(line), "ts": str(offset)})
        offset += len(line)
    return entries


def posts_by_notice(local_dir: Path) -> Counter[tuple[str, str]]:
    return Counter((entry["fingerprint"], entry["reason"]) for entry in posted(local_dir))


class SlackLatency(LocalNotifier):
    """The local file notifier, as slow as a chat.postMessage round trip."""

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        time.sleep(SLACK_LATENCY_S)
        return super().send(message, thread=thread)


def canary_with(local_dir: Path, store: StateStore, notifier: Any = None) -> Canary:
    return Canary(
        config=CONFIG,
        sources=Sources(
            warehouse=DuckDbWarehouse(path=local_dir / "warehouse.duckdb"),
            iam=IamPolicyFile(path=local_dir / "iam_policies.json"),
            push=PushChainFiles(folder=local_dir),
            scheduler=SchedulerJobsFile(folder=local_dir),
        ),
        store=store,
        notifier=notifier or LocalNotifier(path=local_dir / "notifications.jsonl", console=None),
    )


def run_at_once(canaries: list[Canary], *, now: datetime, monitors: tuple[str, ...] | None = None) -> list[RunReport]:
    """Every canary runs execute() at the same moment (a barrier), each in its own thread."""
    start = threading.Barrier(len(canaries))
    reports: list[Any] = [None] * len(canaries)

    def one(index: int) -> None:
        start.wait()
        try:
            reports[index] = execute(canaries[index], RunRequest(run_id=f"run-{index}", now=now, monitors=monitors))
        except Exception as error:  # kept, so the assertion names it
            reports[index] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(canaries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(r, RunReport) for r in reports), reports
    return reports


def assert_exactly_once(reports: list[Any], *, local_dir: Path, reason: str, expected: set[str]) -> None:
    """Each expected notice delivered by one run and posted once; every other run left it to that run."""
    delivered = Counter(n["fingerprint"] for r in reports for n in r["notifications"] if n["delivered"])
    assert delivered == Counter(expected), delivered
    for report in reports:
        assert report["state_error"] is None
        for notice in report["notifications"]:
            assert notice["reason"] == reason
            assert notice["error"] is None, notice
            assert notice["delivered"] or notice["skipped"] in (ANOTHER_RUN, CAUSE_ELSEWHERE), notice
    lines = Counter(fp for (fp, why) in posts_by_notice(local_dir) if why == reason)
    assert lines == Counter(expected)


def joined_their_cause(store: StateStore, firing: set[str]) -> dict[str, str]:
    """Effects whose first notice joined their cause's thread -> that thread: every effect, whatever the race
    (an effect whose cause another run is still sending is left to that run)."""
    joined = {fp: str(s.thread_ts) for fp, s in store.load(fingerprints=firing).items() if s.caused_by}
    assert len(joined) == OUTAGE_EFFECTS, f"{len(joined)} of {OUTAGE_EFFECTS} effects joined their cause's thread"
    return joined


def contention(reports: list[Any]) -> int:
    """How many runs found a notice due that another run delivered: proof the runs overlapped."""
    return sum(1 for r in reports for n in r["notifications"] if n["skipped"] == ANOTHER_RUN)


def as_json(reports: list[RunReport]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in reports]


# --- many runs at once ------------------------------------------------------------------------------


@pytest.mark.servers
def test_twelve_runs_at_once_on_firestore_post_each_notice_once(firestore_env: Any, local_dir: Path) -> None:
    write_outage(local_dir)

    def canaries() -> list[Canary]:
        notifier = SlackLatency(path=local_dir / "notifications.jsonl", console=None)
        store = lambda: FirestoreStateStore(project=firestore_env.project, config=CONFIG.firestore)  # noqa: E731
        return [canary_with(local_dir, store(), notifier) for _ in range(RUNS)]

    first = as_json(run_at_once(canaries(), now=NOW))
    firing = {f["fingerprint"] for f in first[0]["findings"]}
    assert len(firing) == OUTAGE_FINDINGS and all(len(r["findings"]) == OUTAGE_FINDINGS for r in first)
    assert_exactly_once(first, local_dir=local_dir, reason="first", expected=firing)
    assert contention(first) > 0

    store = FirestoreStateStore(project=firestore_env.project, config=CONFIG.firestore)
    threaded = joined_their_cause(store, firing)

    # Past the critical repeat interval (2 h): one repeat each, in the incident's thread; an effect in
    # its cause's thread is named by the cause's repeat instead.
    repeat = as_json(run_at_once(canaries(), now=NOW + timedelta(hours=2, minutes=1)))
    assert_exactly_once(repeat, local_dir=local_dir, reason="repeat", expected=firing - set(threaded))
    parents = {e["fingerprint"]: e["ts"] for e in posted(local_dir) if e["reason"] == "first" and e["fingerprint"] not in threaded}
    assert {e["fingerprint"]: e["thread"] for e in posted(local_dir) if e["reason"] == "repeat"} == parents

    # The invokers are back and only the IAM monitor runs: its three incidents resolve once each,
    # and the stall and missing predictions (their monitors did not run) neither repeat nor resolve.
    restore_invokers(local_dir)
    resolved = as_json(run_at_once(canaries(), now=NOW + timedelta(hours=2, minutes=30), monitors=("orchestrator_iam",)))
    iam = {f["fingerprint"] for f in first[0]["findings"] if f["monitor"] == "orchestrator_iam"}
    assert len(iam) == len(SERVICES)
    assert_exactly_once(resolved, local_dir=local_dir, reason="resolved", expected=iam)
    states = store.load(fingerprints=firing)
    assert {fp: s.status for fp, s in states.items()} == {fp: "resolved" if fp in iam else "firing" for fp in firing}
    assert all(states[fp].version == (3 if fp in iam else 1 if fp in threaded else 2) for fp in firing)
    assert all(states[fp].thread_ts == (threaded[fp] if fp in threaded else parents[fp]) for fp in firing)


GATED_RUN = """
import os, sys, time
sys.argv = ["main.py", "run", "--now", sys.argv[1], "--json"]
import main, alerts.local_notifier, alerts.pipeline, alerts.sqlite_state, run.steps, sources.duckdb_warehouse, sources.iam_file, monitors.registry
RUNS, FINDINGS, BARRIERS = int(os.environ["RUNS"]), int(os.environ["FINDINGS"]), os.environ["BARRIERS"]
GIVE_UP = time.monotonic() + 120


def arrive(name, tag=""):
    folder = os.path.join(BARRIERS, name)
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, f"{os.getpid()}{tag}"), "w").close()


def wait_for(name, count):
    folder = os.path.join(BARRIERS, name)
    while len(os.listdir(folder)) < count:
        if time.monotonic() > GIVE_UP:
            raise SystemExit(f"barrier {name}: {len(os.listdir(folder))} of {count} arrived")
        time.sleep(0.002)


# 1. Every run reads the alert state before any run writes it: each finds every notice due.
read = alerts.pipeline.records_for_decide
def read_then_wait(store, *, fingerprints):
    records = read(store, fingerprints=fingerprints)
    arrive("read")
    wait_for("read", RUNS)
    return records
alerts.pipeline.records_for_decide = read_then_wait

# 2. Every run tries to claim a notice before any run sends it (so it is not recorded yet). Per notice:
# a run claims a batch, then sends it, then claims the next (causes before the effects in their threads).
claim = alerts.sqlite_state.SqliteStateStore.claim
def counted_claim(self, *, fingerprint, **options):
    won = claim(self, fingerprint=fingerprint, **options) if os.environ["CLAIM"] == "on" else True
    arrive("claims-" + fingerprint)
    arrive("claims", "-" + fingerprint)
    return won
alerts.sqlite_state.SqliteStateStore.claim = counted_claim

# An effect (its message names a cause) is claimed only by the run that claimed its cause: the others leave it
# to that run (alerts/deliver.py); without the claim every run wins every cause, so every run claims it.
send = alerts.local_notifier.LocalNotifier.send
def send_after_every_claim(self, message, *, thread):
    claimants = 1 if message.caused_by and os.environ["CLAIM"] == "on" else RUNS
    wait_for("claims-" + message.fingerprint, claimants)
    return send(self, message, thread=thread)
alerts.local_notifier.LocalNotifier.send = send_after_every_claim

arrive("ready")
wait_for("gate", 1)
main.main()
"""


@pytest.mark.parametrize("claim", ["on", "off"])
def test_ten_cli_processes_at_once_on_one_sqlite_file_post_each_first_notice_once(
    local_dir: Path, tmp_path: Path, claim: str
) -> None:
    """Separate `main.py run --json` processes on one SQLite file, held by barriers so that the race is
    certain, not a matter of timing: all read the state, then all try to claim every notice, then the
    winners send. With the claim (compare-and-set) each notice is posted once; with it disabled, every
    run posts every notice, which the same checks catch."""
    write_outage(local_dir)
    config = tmp_path / "canary.toml"
    text, replaced = re.subn(r"(?m)^group_after = \d+", "group_after = 100", DEFAULT_CONFIG_PATH.read_text())
    assert replaced == 1
    config.write_text(text)
    barriers = tmp_path / "barriers"
    (barriers / "gate").mkdir(parents=True)
    env = {
        **os.environ, "CANARY_LOCAL_DIR": str(local_dir), "CANARY_CONFIG": str(config), "BARRIERS": str(barriers),
        "RUNS": str(PROCESSES), "FINDINGS": str(OUTAGE_FINDINGS), "CLAIM": claim,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", GATED_RUN, NOW.isoformat()],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    # The test holds the gate until every process has imported everything.
    deadline = time.monotonic() + 120
    while len(list((barriers / "ready").glob("*")) if (barriers / "ready").exists() else []) < PROCESSES:
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            break  # one died before the gate: its output below says why
        time.sleep(0.01)
    (barriers / "gate" / "open").touch()
    outputs = [process.communicate(timeout=180) for process in processes]

    assert [p.returncode for p in processes] == [0] * PROCESSES, [err[-2000:] for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    # canary.toml's daily digest is on, and 18:30 is past its 09:00: ten full runs race for it, one posts it.
    digests = [n for r in reports for n in r["notifications"] if n["reason"] == "digest"]
    posted_digests = sum(count for (_, why), count in posts_by_notice(local_dir).items() if why == "digest")
    if claim == "on":
        assert sum(n["delivered"] for n in digests) == 1, digests
        assert all(n["delivered"] or n["skipped"] == ANOTHER_RUN for n in digests), digests
        assert posted_digests == 1
    # Without the claim, how many runs post the digest depends on timing (it is not held by the barriers,
    # and a run that sees it recorded does not try): only the alerts' count below is certain.
    for report in reports:
        report["notifications"] = [n for n in report["notifications"] if n["reason"] != "digest"]
    firing = {f["fingerprint"] for f in reports[0]["findings"]}
    assert len(firing) == OUTAGE_FINDINGS
    if claim == "on":
        assert_exactly_once(reports, local_dir=local_dir, reason="first", expected=firing)
        # Every loser lost every cause, and every effect: it lost its claim, or (its cause's thread not yet
        # recorded) left it to the cause's winner.
        left = sum(1 for r in reports for n in r["notifications"] if n["skipped"] == CAUSE_ELSEWHERE)
        assert contention(reports) >= (PROCESSES - 1) * (OUTAGE_FINDINGS - OUTAGE_EFFECTS)
        assert contention(reports) + left == (PROCESSES - 1) * OUTAGE_FINDINGS
        assert len(joined_their_cause(SqliteStateStore(path=local_dir / "state.sqlite3"), firing)) == OUTAGE_EFFECTS
    else:
        with pytest.raises(AssertionError):
            assert_exactly_once(reports, local_dir=local_dir, reason="first", expected=firing)
        posts = Counter({notice: n for notice, n in posts_by_notice(local_dir).items() if notice[1] != "digest"})
        assert posts == Counter({(fp, "first"): PROCESSES for fp in firing})
        assert contention(reports) == 0


# --- delivery that fails part-way ---------------------------------------------------------------------


class BreaksAfter:
    """A notifier that delivers `sends` notices, then fails every one: Slack went down mid-run."""

    def __init__(self, inner: LocalNotifier, *, sends: int, failure: Callable[[], Exception]) -> None:
        self.inner, self.left, self.failure = inner, sends, failure

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        if self.left == 0:
            raise self.failure()
        self.left -= 1
        return self.inner.send(message, thread=thread)

    def mark_resolved(self, message: AlertMessage, *, thread: ThreadRef) -> None:
        self.inner.mark_resolved(message, thread=thread)


@pytest.fixture(params=["sqlite", "firestore"])
def new_store(request: pytest.FixtureRequest, local_dir: Path) -> Callable[[], StateStore]:
    if request.param == "sqlite":
        return lambda: SqliteStateStore(path=local_dir / "state.sqlite3")
    emulator = request.getfixturevalue("firestore_env")
    return lambda: FirestoreStateStore(project=emulator.project, config=CONFIG.firestore)


def run_once(local_dir: Path, store: StateStore, *, now: datetime, notifier: Any = None, run_id: str = "run") -> dict[str, Any]:
    return execute(canary_with(local_dir, store, notifier), RunRequest(run_id=run_id, now=now)).model_dump(mode="json")


def test_a_delivery_failure_mid_run_is_sent_by_the_next_run_and_nothing_twice(
    new_store: Callable[[], StateStore], local_dir: Path
) -> None:
    write_outage(local_dir)
    local = LocalNotifier(path=local_dir / "notifications.jsonl", console=None)
    slack_down = BreaksAfter(local, sends=2, failure=lambda: DeliveryError("Slack chat.postMessage: HTTP 503 after 3 retries"))

    broken = run_once(local_dir, new_store(), now=NOW, notifier=slack_down, run_id="run-1")

    sent = {n["fingerprint"] for n in broken["notifications"] if n["delivered"]}
    failed = {n["fingerprint"] for n in broken["notifications"] if n["error"]}
    assert (len(sent), len(failed)) == (2, OUTAGE_FINDINGS - 2)
    assert all("HTTP 503" in n["error"] for n in broken["notifications"] if n["error"])

    # Half an hour later (the next Scheduler tick): exactly the three that failed, nothing twice.
    retry = run_once(local_dir, new_store(), now=NOW + timedelta(minutes=30), run_id="run-2")

    assert {n["fingerprint"] for n in retry["notifications"] if n["delivered"]} == failed
    assert all(n["error"] is None and n["reason"] == "first" for n in retry["notifications"])
    assert posts_by_notice(local_dir) == Counter({(fp, "first"): 1 for fp in sent | failed})
    # And the one after that has nothing left to say.
    assert run_once(local_dir, new_store(), now=NOW + timedelta(minutes=60), run_id="run-3")["notifications"] == []


class ProcessDied(BaseException):
    """The instance was killed mid-send: nothing below the entry point handles this."""


def test_a_run_that_dies_holding_a_claim_leaves_that_notice_to_the_run_after_its_lease(
    new_store: Callable[[], StateStore], local_dir: Path
) -> None:
    write_outage(local_dir)
    local = LocalNotifier(path=local_dir / "notifications.jsonl", console=None)
    dying = BreaksAfter(local, sends=2, failure=ProcessDied)

    with pytest.raises(ProcessDied):
        run_once(local_dir, new_store(), now=NOW, notifier=dying, run_id="dead-run")
    assert len(posted(local_dir)) == 2

    # A minute later the dead run's claims (it claims a batch before sending it) are still live: the
    # IAM notices it claimed and never sent wait, because it might still be sending them, and so do their
    # effects (left to that sender, to go in the thread it would open). It died before its second wave
    # (the push findings, the stall and the missing predictions, which IAM findings explain): this run
    # sends the effects of the causes the dead run did post, in their threads.
    soon = run_once(local_dir, new_store(), now=NOW + timedelta(minutes=1), run_id="run-2")
    waiting = {n["fingerprint"] for n in soon["notifications"] if n["skipped"] == ANOTHER_RUN}
    cause_of = {f["fingerprint"]: f["caused_by"] for f in soon["findings"]}
    sent_by_dead_run = {e["fingerprint"] for e in posted(local_dir)[:2]}
    effects = {fp for fp, cause in cause_of.items() if cause}
    assert len(effects) == OUTAGE_FINDINGS - len(SERVICES)
    left = {n["fingerprint"] for n in soon["notifications"] if n["skipped"] == CAUSE_ELSEWHERE}
    assert left == {fp for fp in effects if cause_of[fp] in waiting}
    assert len(waiting) == len(SERVICES) - 2 and {n["fingerprint"] for n in soon["notifications"] if n["delivered"]} == effects - left
    for line in posted(local_dir)[2:]:
        assert line["thread"] is not None and cause_of[line["fingerprint"]] in sent_by_dead_run, line

    # After the lease, the claims of the sender that died are taken over: no alert is lost, and the
    # effects left waiting go in their cause's thread.
    later = run_once(local_dir, new_store(), now=NOW + LEASE + timedelta(minutes=2), run_id="run-3")
    assert {n["fingerprint"] for n in later["notifications"] if n["delivered"]} == waiting | left
    assert all(line["thread"] is not None for line in posted(local_dir) if line["fingerprint"] in left)
    assert all(n["error"] is None for n in later["notifications"])
    assert posts_by_notice(local_dir) == Counter({(e["fingerprint"], "first"): 1 for e in posted(local_dir)})
    assert len(posted(local_dir)) == OUTAGE_FINDINGS


# --- the production delivery path: Firestore emulator + real slack_sdk against the fake Slack ----------


@pytest.mark.servers
def test_twelve_runs_at_once_through_firestore_and_slack_post_each_notice_once(
    firestore_env: Any, fake_slack: FakeSlack, local_dir: Path  # noqa: F811
) -> None:
    write_outage(local_dir)
    fake_slack.latency_seconds = SLACK_LATENCY_S

    def canaries() -> list[Canary]:
        return [
            canary_with(
                local_dir,
                FirestoreStateStore(project=firestore_env.project, config=CONFIG.firestore),
                SlackNotifier(token=SecretStr(SLACK_TOKEN), base_url=fake_slack.base_url, channel_for=CONFIG.slack.channel_for),
            )
            for _ in range(RUNS)
        ]

    def delivered(reports: list[RunReport]) -> Counter[str]:
        return Counter(n.fingerprint for r in reports for n in r.notifications if n.delivered)

    first = run_at_once(canaries(), now=NOW)
    firing = {f.fingerprint for f in first[0].findings}
    assert len(firing) == OUTAGE_FINDINGS and delivered(first) == Counter(firing)
    assert all(n.delivered or n.skipped in (ANOTHER_RUN, CAUSE_ELSEWHERE) for r in first for n in r.notifications)
    threaded = joined_their_cause(FirestoreStateStore(project=firestore_env.project, config=CONFIG.firestore), firing)
    parents = fake_slack.parents()
    assert len(fake_slack.calls("chat.postMessage")) == OUTAGE_FINDINGS  # one post per incident, no more
    assert len(parents) == OUTAGE_FINDINGS - len(threaded)  # the others are replies in their cause's thread
    joined = {p.ts: len(fake_slack.replies(p.ts)) for p in parents}

    repeat = run_at_once(canaries(), now=NOW + timedelta(hours=2, minutes=1))
    assert delivered(repeat) == Counter(firing - set(threaded))
    assert {p.ts: len(fake_slack.replies(p.ts)) - joined[p.ts] for p in parents} == {p.ts: 1 for p in parents}  # one repeat in each thread
    assert len(fake_slack.calls("chat.postMessage")) == 2 * OUTAGE_FINDINGS - len(threaded)


# --- overlapping runs thread as sequential runs do (issue 20 item 4) --------------------------------


class HoldsCauses:
    """Run A's notifier: its first send (it has claimed every cause, recorded none) waits until run B has finished."""

    def __init__(self, inner: LocalNotifier, *, held: threading.Event, release: threading.Event) -> None:
        self.inner, self.held, self.release = inner, held, release

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        if not self.held.is_set():
            self.held.set()
            assert self.release.wait(timeout=60), "run B never finished"
        return self.inner.send(message, thread=thread)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ClaimsAfter:
    """Run B's store: it claims nothing before run A holds its claims on the causes."""

    def __init__(self, inner: StateStore, *, held: threading.Event) -> None:
        self.inner, self.held = inner, held

    def claim(self, **options: Any) -> bool:
        assert self.held.wait(timeout=60), "run A never claimed"
        return self.inner.claim(**options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def threads_of(store: StateStore, firing: set[str]) -> tuple[set[str], dict[str, tuple[str | None, str | None]]]:
    """(the incidents that are channel-level parents, each effect -> (its cause, its thread))."""
    states = store.load(fingerprints=firing)
    assert set(states) == firing, "every finding has its record: nothing lost"
    parents = {fp for fp, s in states.items() if s.caused_by is None}
    return parents, {fp: (s.caused_by, s.thread_ts) for fp, s in states.items() if s.caused_by}


@pytest.mark.servers
def test_a_run_racing_the_sender_of_a_cause_leaves_its_effects_to_it_as_sequential_runs_thread_them(
    firestore_env: Any, local_dir: Path
) -> None:
    """The interleaving that broke 4 of 8 trials, forced with barriers: run A claims the causes and is slow to send;
    run B loses every cause's claim and reaches the effects before A has recorded any thread. B posted the effects
    as their own parents; now it leaves them to A, which posts them in the threads it opens."""
    write_outage(local_dir)
    store = lambda: FirestoreStateStore(project=firestore_env.project, config=CONFIG.firestore)  # noqa: E731
    sequential_dir = local_dir / "sequential"
    write_outage(sequential_dir)
    sequential = SqliteStateStore(path=sequential_dir / "state.sqlite3")
    alone = execute(canary_with(sequential_dir, sequential), RunRequest(run_id="alone", now=NOW))
    firing = {f.fingerprint for f in alone.findings}
    want_parents, want_effects = threads_of(sequential, firing)

    held, b_done = threading.Event(), threading.Event()
    notifier = LocalNotifier(path=local_dir / "notifications.jsonl", console=None)
    run_a = canary_with(local_dir, store(), HoldsCauses(notifier, held=held, release=b_done))
    run_b = canary_with(local_dir, ClaimsAfter(store(), held=held), notifier)  # type: ignore[arg-type]
    reports: dict[str, Any] = {}

    def go(name: str, canary: Canary) -> None:
        try:
            reports[name] = execute(canary, RunRequest(run_id=name, now=NOW))
        finally:
            if name == "b":
                b_done.set()

    threads = [threading.Thread(target=go, args=(n, c)) for n, c in (("a", run_a), ("b", run_b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    b = reports["b"]
    assert not any(n.delivered for n in b.notifications), "B sent nothing: every cause was A's, every effect left to A"
    assert Counter(n.skipped for n in b.notifications) == Counter({ANOTHER_RUN: len(SERVICES), CAUSE_ELSEWHERE: OUTAGE_EFFECTS})
    assert all(n.delivered for n in reports["a"].notifications)
    parents, effects = threads_of(store(), firing)
    assert parents == want_parents and len(parents) == len(SERVICES)
    assert {fp: cause for fp, (cause, _) in effects.items()} == {fp: cause for fp, (cause, _) in want_effects.items()}
    cause_threads = {fp: s.thread_ts for fp, s in store().load(fingerprints=parents).items()}
    assert all(thread == cause_threads[cause] for cause, thread in effects.values())
    assert posts_by_notice(local_dir) == Counter({(fp, "first"): 1 for fp in firing})


TRIALS = 8


@pytest.mark.servers
def test_eight_trials_of_two_overlapping_runs_give_the_threads_of_one_run(firestore_env: Any, local_dir: Path) -> None:
    """The probe of issue 20 (4 of 8 trials broke): two runs at once, each trial on an empty store; every trial must
    give one parent per broken binding with every effect in its cause's thread, each notice posted once."""
    outcomes = []
    for trial in range(TRIALS):
        firestore_env.reset()
        folder = local_dir / f"trial-{trial}"
        write_outage(folder)
        notifier = SlackLatency(path=folder / "notifications.jsonl", console=None)
        canaries = [canary_with(folder, FirestoreStateStore(project=firestore_env.project, config=CONFIG.firestore), notifier)
                    for _ in range(2)]
        reports = run_at_once(canaries, now=NOW)
        firing = {f.fingerprint for f in reports[0].findings}
        parents, effects = threads_of(FirestoreStateStore(project=firestore_env.project, config=CONFIG.firestore), firing)
        outcomes.append((len(parents), len(effects), sum(posts_by_notice(folder).values()), contention(as_json(reports))))
    print(f"\n{TRIALS} trials (parents, effects in a thread, posts, contended notices): {outcomes}")
    assert all(o[:3] == (len(SERVICES), OUTAGE_EFFECTS, OUTAGE_FINDINGS) for o in outcomes), outcomes
