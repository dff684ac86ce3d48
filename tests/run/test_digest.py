"""The daily digest (issue 13, part 3): once a day the first full run at or after 09:00 league-local posts
one digest (open incidents with their threads, tonight's slate, yesterday's latency, each monitor's outcome,
"all clear" when nothing is open); claimed like an alert; a dry run shows it; an operator's run never posts it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from alerts.digest import OpenEffect, Digest, Latency, MonitorOutcome, OpenIncident, Slate, render_digest_text
from alerts.render_digest import render_digest_slack
from alerts.firestore_state import FirestoreStateStore
from alerts.notifier import DeliveryError, Receipt
from alerts.sqlite_state import SqliteStateStore
from alerts.state import StateStore
from core.config import DEFAULT_CONFIG_PATH
from core.model import Outcome, Severity
from run.digest import LATENCY_QUERY, SLATE_QUERY, digest_fingerprint, phase_completions, post_digest
from monitors.phase_stalls import ProcessorRun
from tests.conftest import run_cli
from tests.production import CONFIG, PIPELINE
from tests.scenario import NEW_YORK, Scenario, local
from tests.servers.fake_slack import FakeSlack, fake_slack, refusal  # noqa: F401  (fixture)
from tests.servers.firestore_emulator import firestore_emulator, firestore_env  # noqa: F401  (fixtures)
from tests.alerts.test_render_slack import check_golden
from tests.alerts.test_slack import notifier_for

D = date(2026, 11, 21)
YESTERDAY = D - timedelta(days=1)
MORNING = "2026-11-21T14:30:00Z"  # 09:30 in New York: the first scheduled run after 09:00
EARLY = "2026-11-21T13:30:00Z"  # 08:30 in New York: too early
PHASES = PIPELINE.phases


@pytest.fixture
def digest_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production canary.toml, daily digest on (the shared fixture turns it off for the alert tests)."""
    monkeypatch.setenv("CANARY_CONFIG", str(DEFAULT_CONFIG_PATH))


def healthy_yesterday_and_tonight() -> Scenario:
    """Yesterday ran end to end (raw complete 02:58 at its 5th of 6 processors -> published 07:10 New York); tonight has two games."""
    scenario = Scenario()
    for phase, hh_mm in zip(PHASES, ("03:00", "03:40", "05:00", "06:30", "07:10")):
        scenario.phase_complete(YESTERDAY, phase, local(D, hh_mm))
    scenario.game(D, "0022600301", start=local(D, "19:00")).game(D, "0022600302", start=local(D, "19:30"))
    return scenario


def run(local_dir: Path, scenario: Scenario, now: str, *extra: str) -> dict:
    scenario.write_local(local_dir)
    result = run_cli("run", "--json", "--now", now, *extra)
    assert result.code == 0, result.stderr
    return result.report


def jsonl(local_dir: Path) -> list[dict]:
    path = local_dir / "notifications.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def digests(report: dict) -> list[dict]:
    return [n for n in report["notifications"] if n["reason"] == "digest"]


def test_the_first_full_run_after_9_posts_one_all_clear_digest(local_dir: Path, digest_on: None) -> None:
    report = run(local_dir, healthy_yesterday_and_tonight(), MORNING)
    assert digests(report) == [
        {"fingerprint": digest_fingerprint(D), "reason": "digest", "delivered": True, "error": None, "skipped": None,
         "monitor": None, "key": None, "summary": None}
    ]
    [line] = [e for e in jsonl(local_dir) if e["reason"] == "digest"]
    assert line["all_clear"] is True and line["open"] == 0
    text = line["text"]
    assert text.startswith("DIGEST Daily digest for Sat 2026-11-21: all clear")
    assert "Tonight's slate: 2 game(s), first tip-off Sat 2026-11-21 19:00 EST (00:00 UTC)" in text
    assert "predictions due Sat 2026-11-21 16:00 EST (21:00 UTC)" in text  # 3 h before the first tip-off
    assert f"Pipeline latency for {YESTERDAY}: 4 h 12 min from phase_2_raw complete to phase_6_publishing" in text
    assert "monitors: orchestrator_iam ok, push_delivery ok, phase_stalls ok, missing_predictions ok" in text
    again = run(local_dir, healthy_yesterday_and_tonight(), "2026-11-21T15:00:00Z")
    assert digests(again) == [], "once a day"


def test_the_digest_lists_open_incidents_and_is_not_all_clear(local_dir: Path, digest_on: None) -> None:
    scenario = healthy_yesterday_and_tonight().policy("phase4-to-phase5-orchestrator", {"bindings": []})
    report = run(local_dir, scenario, MORNING)
    assert [n["delivered"] for n in digests(report)] == [True]
    [line] = [e for e in jsonl(local_dir) if e["reason"] == "digest"]
    # The binding's loss, and its push account (the subscription's) that now cannot invoke either: one incident,
    # its effect counted under it.
    assert line["all_clear"] is False and line["open"] == 1
    assert "Daily digest for Sat 2026-11-21: 1 open incident(s)" in line["text"]
    assert "open: [CRITICAL] orchestrator_iam: phase4-to-phase5-orchestrator" in line["text"]
    assert "1 effect(s) under it: push_delivery: phase4-to-phase5-orchestrator" in line["text"]
    assert "open: [CRITICAL] push_delivery" not in line["text"]
    assert "all clear" not in line["text"]


def test_a_dry_run_digest_is_the_one_this_run_leaves_behind(local_dir: Path, digest_on: None) -> None:
    """Issue 19 item 6: a dry run's digest said "all clear" beside this run's CRITICAL notices."""
    scenario = healthy_yesterday_and_tonight().policy("phase4-to-phase5-orchestrator", {"bindings": []})
    report = run(local_dir, scenario, MORNING, "--dry-run")
    assert {n["reason"] for n in report["notifications"] if n["reason"] != "digest"} == {"first"}
    assert "all clear" not in report["digest"] and "1 open incident(s)" in report["digest"]
    assert "1 effect(s) under it: push_delivery" in report["digest"]
    assert jsonl(local_dir) == []
    # The real run then posts the same open incidents.
    real = run(local_dir, scenario, MORNING)
    [line] = [e for e in jsonl(local_dir) if e["reason"] == "digest"]
    assert line["open"] == 1 and real["digest"].splitlines()[1] == report["digest"].splitlines()[1]


def test_no_digest_before_its_time_nor_on_an_operators_run(local_dir: Path, digest_on: None) -> None:
    scenario = healthy_yesterday_and_tonight()
    assert digests(run(local_dir, scenario, EARLY)) == []
    assert digests(run(local_dir, scenario, MORNING, "--monitors", "phase_stalls")) == []
    assert digests(run(local_dir, scenario, MORNING, "--date", "2026-11-21")) == []
    assert [n["delivered"] for n in digests(run(local_dir, scenario, MORNING))] == [True]


def test_a_dry_run_shows_the_digest_and_posts_nothing(local_dir: Path, digest_on: None) -> None:
    healthy_yesterday_and_tonight().write_local(local_dir)
    shown = run_cli("run", "--dry-run", "--now", MORNING)
    assert shown.code == 0 and "the daily digest this run would post:\nDIGEST Daily digest for Sat 2026-11-21: all clear" in shown.stdout
    report = run(local_dir, healthy_yesterday_and_tonight(), MORNING, "--dry-run")
    assert [n["delivered"] for n in digests(report)] == [False] and report["digest"].startswith("DIGEST ")
    assert jsonl(local_dir) == []
    assert [n["delivered"] for n in digests(run(local_dir, healthy_yesterday_and_tonight(), MORNING))] == [True]


def test_a_run_that_loses_the_claim_leaves_the_digest_to_the_other(tmp_path: Path) -> None:
    store = SqliteStateStore(path=tmp_path / "state.sqlite3")
    now = datetime(2026, 11, 21, 14, 30, tzinfo=timezone.utc)
    assert store.claim(fingerprint=digest_fingerprint(D), expected_version=0, owner="other", now=now, lease=timedelta(minutes=5))

    class Unused:
        def send_digest(self, digest: Digest) -> None:
            raise AssertionError("a run that lost the claim must not post")

    report, text = post_digest(
        config=CONFIG, store=store, notifier=Unused(), warehouse=NoRows(), results=[], owner="me", now=now, today=D,
        full_run=True, dry_run=False,
    )
    assert report is not None and report.skipped == "another run claimed it first" and not report.delivered
    assert text is not None and "Tonight's slate: no games on 2026-11-21" in text


def test_phase_completion_follows_each_transitions_rule_and_the_last_phase_is_its_first_success() -> None:
    at = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc)
    runs = {
        "phase_2_raw": [ProcessorRun(f"p{i}", at + timedelta(minutes=i), at + timedelta(minutes=i), 0) for i in range(7)],
        "phase_6_publishing": [ProcessorRun("pub", at + timedelta(hours=4), at + timedelta(hours=5), 0)],
    }
    found = dict(phase_completions(PIPELINE, runs))
    assert found["phase_2_raw"] == at + timedelta(minutes=4)  # the 5th distinct processor (min_processors = 5)
    assert found["phase_3_analytics"] is None
    assert found["phase_6_publishing"] == at + timedelta(hours=4)


def sample_digest(*, open_incidents: bool) -> Digest:
    now = datetime(2026, 11, 21, 14, 30, tzinfo=timezone.utc)
    incidents = [
        OpenIncident(Severity.CRITICAL, "orchestrator_iam", "phase4-to-phase5-orchestrator: <!channel> cannot invoke it",
                     now - timedelta(hours=15), "https://slack.com/archives/C0ALERTS/p1700000000000200",
                     effects=(OpenEffect("phase_stalls", "phase_5_predictions has not started for 2026-11-21: 240 min after "
                                         "phase_4_precompute completed"),
                              OpenEffect("push_delivery", "phase4-to-phase5-orchestrator: 40 of 40 pushes failed",
                                         no_data_since=now - timedelta(hours=2)))),
        OpenIncident(Severity.WARNING, "missing_predictions", "1 of 9 games on 2026-11-20 have no predictions", now - timedelta(hours=20)),
    ] if open_incidents else []
    start = datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc)
    raw = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc)
    return Digest(
        fingerprint=digest_fingerprint(D), league_date=D, now=now, zone=NEW_YORK, incidents=incidents,
        monitors=[MonitorOutcome("orchestrator_iam", Outcome.FIRING if open_incidents else Outcome.OK),
                  MonitorOutcome("phase_stalls", Outcome.OK), MonitorOutcome("missing_predictions", Outcome.OK)],
        slate=Slate(games=9, first_start=start, predictions_due=start - timedelta(hours=3)),
        latency=Latency(game_date=YESTERDAY, phases=[(p, raw + timedelta(minutes=50 * i)) for i, p in enumerate(PHASES)]),
    )


@pytest.mark.parametrize("open_incidents", [False, True], ids=["all-clear", "open"])
def test_the_digest_in_slack_matches_its_golden_file_and_slack_accepts_it(open_incidents: bool, fake_slack: FakeSlack) -> None:
    digest = sample_digest(open_incidents=open_incidents)
    payload = render_digest_slack(digest).to_dict()
    check_golden(f"digest-{'open' if open_incidents else 'all-clear'}", payload)
    assert refusal(payload["text"], payload["blocks"]) is None
    header = payload["blocks"][0]["text"]["text"]
    assert ("all clear" in header) is (not open_incidents)
    assert "<!channel>" not in json.dumps(payload)
    receipt = notifier_for(fake_slack).send_digest(digest)
    [posted] = fake_slack.posted()
    assert posted.ts == receipt.ts and posted.thread_ts is None
    if open_incidents:
        assert "<https://slack.com/archives/C0ALERTS/p1700000000000200|thread>" in json.dumps(posted.blocks)
    assert render_digest_text(digest).splitlines()[0] == f"DIGEST {digest.title}"


@pytest.mark.parametrize("query", [SLATE_QUERY, LATENCY_QUERY], ids=["slate", "latency"])
def test_each_digest_query_bounds_the_partition_it_reads(query: str) -> None:
    from tests.monitors.test_partition_filters import partition_problems

    assert partition_problems(query) == []


# --- claimed like an alert, on both stores ------------------------------------------------------------

NOON = datetime(2026, 11, 21, 17, 0, tzinfo=timezone.utc)


class NoRows:
    source = "duckdb"

    def query(self, sql: str, params: dict) -> list:
        return []


class Recording:
    """A digest notifier that records what it posted (and can fail the first `failures` posts)."""

    def __init__(self, failures: int = 0) -> None:
        self.posted: list[str] = []
        self.failures = failures

    def send_digest(self, digest: Digest) -> Receipt:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("Slack chat.postMessage: HTTP 503 after 3 retries")
        self.posted.append(digest.fingerprint)
        return Receipt(channel="C0ALERTS", ts=f"1700000000.{len(self.posted):06d}")


@pytest.fixture(params=["sqlite", "firestore"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StateStore]:
    if request.param == "sqlite":
        return lambda: SqliteStateStore(path=tmp_path / "state.sqlite3")
    emulator = request.getfixturevalue("firestore_env")
    return lambda: FirestoreStateStore(project=emulator.project, config=CONFIG.firestore)


def post(store: StateStore, notifier: Any, *, owner: str, now: datetime = NOON) -> Any:
    report, _ = post_digest(
        config=CONFIG, store=store, notifier=notifier, warehouse=NoRows(), results=[], owner=owner, now=now, today=D,
        full_run=True, dry_run=False,
    )
    return report


def test_eight_runs_at_once_post_one_digest(new_store: Callable[[], StateStore]) -> None:
    notifier = Recording()
    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = list(pool.map(lambda i: post(new_store(), notifier, owner=f"run-{i}"), range(8)))
    assert notifier.posted == [digest_fingerprint(D)]
    delivered = [r for r in reports if r is not None and r.delivered]
    assert len(delivered) == 1
    assert all(r is None or r.delivered or r.skipped == "another run claimed it first" for r in reports)
    assert post(new_store(), notifier, owner="later", now=NOON + timedelta(hours=1)) is None, "posted once a day"


def test_a_failed_digest_is_posted_by_the_next_full_run(new_store: Callable[[], StateStore]) -> None:
    notifier = Recording(failures=1)
    failed = post(new_store(), notifier, owner="run-1")
    assert failed is not None and not failed.delivered and "HTTP 503" in (failed.error or "")
    retried = post(new_store(), notifier, owner="run-2", now=NOON + timedelta(minutes=30))
    assert retried is not None and retried.delivered and notifier.posted == [digest_fingerprint(D)]
