"""The slack_actions function as Slack calls it: signed block_actions clicks through functions-framework's
own app (`create_app(target="slack_actions")`), on the local backend (the demo's state and notices)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import functions_framework
import pytest

from entry.slack_actions import MAX_BODY_BYTES
from tests.conftest import PROJECT_ROOT, run_cli
from tests.servers.fake_slack import RESPONSE_URL, SIGNING_SECRET, FakeSlack, fake_slack, signed_click  # noqa: F401

USER = "U0ALICE01"


@pytest.fixture
def demo(local_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The demo's broken evening, run once: its cause (the second hop's missing invoker, which explains the stall and
    the missing predictions) and when it ran."""
    monkeypatch.setenv("CANARY_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    result = run_cli("demo", "--history-days", "0", "--json")
    assert result.code == 0, result.stderr
    report = result.report
    cause = next(f for f in report["findings"]
                 if f["key"] == {"service": "nba-phase4-precompute-processors", "problem": "missing_invoker"})
    return {"now": datetime.fromisoformat(report["now"]), "cause": cause["fingerprint"], "report": report}


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setitem(sys.modules, "main", sys.modules["main"])  # create_app loads main.py afresh

    def make() -> Any:
        return functions_framework.create_app(target="slack_actions", source=str(PROJECT_ROOT / "main.py")).test_client()

    yield make


def click(client: Any, *, timestamp: int | None = None, content_type: str | None = None, **fields: Any) -> Any:
    body, headers = signed_click(timestamp=int(time.time()) if timestamp is None else timestamp, **fields)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post("/", data=body, headers=headers)


def acks(local_dir: Path) -> list[dict[str, Any]]:
    path = local_dir / "state.sqlite3"
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "acks" not in tables:
            return []
        return [json.loads(r[0]) for r in db.execute("SELECT record FROM acks")]


def silences(local_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(local_dir / "state.sqlite3") as db:
        return [json.loads(r[0]) for r in db.execute("SELECT record FROM silences")]


def state_snapshot(local_dir: Path) -> tuple[Any, ...]:
    """Everything a click could change: alert records, acknowledgements, silences, notices sent."""
    with sqlite3.connect(local_dir / "state.sqlite3") as db:
        tables = sorted(row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        rows = tuple(tuple(db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()) for t in tables if t != "slack_actions")
    return rows, (local_dir / "notifications.jsonl").read_text()


def run_at(now: datetime) -> dict[str, Any]:
    result = run_cli("run", "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ"), "--json")
    assert result.code == 0, result.stderr
    return result.report


# --- done when: acknowledging the demo's cause from Slack, the next run sends no repeat ---------------


def test_a_signed_ack_click_acknowledges_the_cause_and_the_run_two_hours_later_sends_no_repeat(
    demo: dict[str, Any], app: Any, local_dir: Path
) -> None:
    answer = click(app(), action_id="ack", value=demo["cause"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    [ack] = acks(local_dir)
    assert ack["fingerprint"] == demo["cause"] and ack["by"] == f"slack:{USER}" and ack["expires_at"] is None
    last = json.loads((local_dir / "notifications.jsonl").read_text().splitlines()[-1])
    assert last["reason"] == "acted" and last["action"] == "ack" and last["by"] == f"slack:{USER}"
    assert last["text"].endswith("Acknowledged by slack:U0ALICE01 at " + last["text"].split(" at ", 1)[1])
    report = run_at(demo["now"] + timedelta(hours=2))
    assert sent_about_the_chain(report, demo["cause"]) == []
    acknowledged = {f["fingerprint"]: f["acknowledged_by"] for f in report["findings"]}
    assert acknowledged[demo["cause"]] == f"slack:{USER}"
    # The cause covers its effects: every finding it explains is quiet too.
    assert all(acknowledged[fp] == f"slack:{USER}" for fp in chain_of(report, demo["cause"]))


def chain_of(report: dict[str, Any], cause: str) -> set[str]:
    """The acknowledged cause and every firing finding it explains (two hours on the demo's push counts have
    ended, so of its five findings four still fire: the binding, the push account, the stall, the predictions)."""
    return {f["fingerprint"] for f in report["findings"] if cause in (f["fingerprint"], f["caused_by"])}


def sent_about_the_chain(report: dict[str, Any], cause: str) -> list[dict[str, Any]]:
    """What was delivered about the chain; the demo's other incidents (the phase-5 orchestrator's binding, the paused
    and the refused backup jobs, the canary's own job late two hours on: nothing runs it in the demo) are not
    acknowledged and may notify."""
    chain = chain_of(report, cause)
    assert cause in chain and len(chain) == 4
    sent = [n for n in report["notifications"] if n["delivered"]]
    others = {f["fingerprint"] for f in report["findings"]
              if f["monitor"] == "scheduler_jobs" or f["key"].get("service") == "phase4-to-phase5-orchestrator"}
    assert {n["fingerprint"] for n in sent if n["fingerprint"] not in chain} <= others
    return [n for n in sent if n["fingerprint"] in chain]


def test_without_the_ack_the_same_run_repeats_the_cause(demo: dict[str, Any]) -> None:
    report = run_at(demo["now"] + timedelta(hours=2))
    assert demo["cause"] in {n["fingerprint"] for n in report["notifications"] if n["reason"] == "repeat" and n["delivered"]}


def test_the_cli_acknowledges_by_prefix_and_says_who_was_first(demo: dict[str, Any], local_dir: Path) -> None:
    first = run_cli("ack", demo["cause"][:6], "--by", "ana")
    assert first.code == 0 and "Acknowledged by ana" in first.stdout
    again = run_cli("ack", demo["cause"], "--by", "ben")
    assert again.code == 0 and "already acknowledged by ana" in again.stdout
    listed = json.loads(run_cli("incidents", "--json").stdout)["incidents"]
    cause = next(i for i in listed if i["fingerprint"] == demo["cause"])
    assert cause["acknowledged_by"] == "ana" and cause["effects"] and cause["state"] == "firing"
    assert all(i["acknowledged_by"] == "ana" for i in listed if i["caused_by"] == demo["cause"])
    assert set(cause) == {
        "fingerprint", "monitor", "key", "severity", "summary", "since", "first_notified_at", "last_notified_at", "notices",
        "caused_by", "effects", "silenced_by", "acknowledged_by", "acknowledged_at", "ack_expires_at", "state",
        "escalated_at", "escalated_to",  # issue 23: escalation state (None / [] when it did not escalate)
        "no_data_since",  # issue 22: since when it has been open only for lack of data (None: firing)
    }
    report = run_at(demo["now"] + timedelta(hours=2))
    assert sent_about_the_chain(report, demo["cause"]) == []
    ended = run_cli("unack", demo["cause"][:8], "--by", "ana")
    assert ended.code == 0 and "Acknowledgement ended by ana" in ended.stdout
    later = run_at(demo["now"] + timedelta(hours=2, minutes=30))
    assert demo["cause"] in {n["fingerprint"] for n in later["notifications"] if n["reason"] == "repeat"}


def test_an_unknown_or_ambiguous_prefix_is_exit_2_naming_the_candidates(demo: dict[str, Any]) -> None:
    unknown = run_cli("ack", "ffffffffffff")
    assert unknown.code == 2 and "no open incident" in unknown.stderr
    open_ = [f["fingerprint"] for f in demo["report"]["findings"]]
    shared = next((a[:n] for a in open_ for b in open_ if a != b for n in (4,) if a[:n] == b[:n]), None)
    if shared is None:  # no two fingerprints share 4 characters: a prefix too short is refused the same way
        short = run_cli("ack", "9")
        assert short.code == 2 and "at least 4 characters" in short.stderr
    else:
        ambiguous = run_cli("ack", shared)
        assert ambiguous.code == 2 and "ambiguous" in ambiguous.stderr


def test_incidents_text_shows_league_time_with_utc_beside_it(demo: dict[str, Any]) -> None:
    result = run_cli("incidents")
    assert result.code == 0
    assert demo["cause"] in result.stdout and " EST (" in result.stdout and " UTC)" in result.stdout


# --- refusals: each changes nothing ----------------------------------------------------------------


@pytest.mark.parametrize("case", ["forged", "stale", "future", "no_headers", "wrong_secret"])
def test_an_unverified_request_is_401_and_changes_nothing(case: str, demo: dict[str, Any], app: Any, local_dir: Path) -> None:
    before = state_snapshot(local_dir)
    now = int(time.time())
    body, headers = signed_click(action_id="ack", value=demo["cause"], timestamp=now,
                                 secret="another-secret-entirely" if case == "wrong_secret" else SIGNING_SECRET)
    if case == "forged":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    if case in ("stale", "future"):
        body, headers = signed_click(action_id="ack", value=demo["cause"], timestamp=now + (-301 if case == "stale" else 301))
    if case == "no_headers":
        headers = {"Content-Type": headers["Content-Type"]}
    answer = app().post("/", data=body, headers=headers)
    assert answer.status_code == 401
    assert state_snapshot(local_dir) == before


def test_a_tampered_body_with_a_valid_signature_of_another_is_401(demo: dict[str, Any], app: Any, local_dir: Path) -> None:
    before = state_snapshot(local_dir)
    _, headers = signed_click(action_id="ack", value=demo["cause"], timestamp=int(time.time()))
    other, _ = signed_click(action_id="silence_8h", value=demo["cause"], timestamp=int(time.time()))
    assert app().post("/", data=other, headers=headers).status_code == 401
    assert state_snapshot(local_dir) == before


@pytest.mark.parametrize("case, status", [
    ("json", 415), ("too_big", 413), ("unknown_fingerprint", 404), ("not_a_fingerprint", 400),
    ("view_submission", 400), ("bad_user", 400), ("get", 405),
])
def test_a_request_it_cannot_act_on_is_4xx_and_changes_nothing(
    case: str, status: int, demo: dict[str, Any], app: Any, local_dir: Path
) -> None:
    before = state_snapshot(local_dir)
    client = app()
    if case == "json":
        answer = click(client, action_id="ack", value=demo["cause"], content_type="application/json")
    elif case == "too_big":
        answer = click(client, action_id="ack", value=demo["cause"], extra={"padding": "x" * MAX_BODY_BYTES})
    elif case == "unknown_fingerprint":
        answer = click(client, action_id="ack", value="0123456789abcdef")
    elif case == "not_a_fingerprint":
        answer = click(client, action_id="ack", value=demo["cause"] + " <!channel>")
    elif case == "view_submission":
        answer = click(client, action_id="ack", value=demo["cause"], payload_type="view_submission")
    elif case == "bad_user":
        answer = click(client, action_id="ack", value=demo["cause"], user="<!here>")
    else:
        answer = client.get("/")
    assert answer.status_code == status, answer.get_data(as_text=True)
    text = answer.get_data(as_text=True)
    assert "<!" not in text and "padding" not in text  # nothing of the payload is echoed
    assert state_snapshot(local_dir) == before


def test_the_runbook_link_button_is_200_and_changes_nothing(demo: dict[str, Any], app: Any, local_dir: Path) -> None:
    before = state_snapshot(local_dir)
    answer = click(app(), action_id="runbook", value=None)
    assert answer.status_code == 200
    assert state_snapshot(local_dir) == before


def test_the_same_click_delivered_twice_acts_once(demo: dict[str, Any], app: Any, local_dir: Path) -> None:
    client = app()
    body, headers = signed_click(action_id="ack", value=demo["cause"], timestamp=int(time.time()), action_ts="1764979200.000100")
    assert client.post("/", data=body, headers=headers).status_code == 200
    undo = click(client, action_id="unack", value=demo["cause"], action_ts="1764979260.000200")
    assert undo.status_code == 200
    after_undo = state_snapshot(local_dir)
    replay = client.post("/", data=body, headers=headers)  # Slack's retry of the first click
    assert replay.status_code == 200
    assert state_snapshot(local_dir) == after_undo
    [ack] = acks(local_dir)
    assert ack["ended_by"] == f"slack:{USER}"


def test_a_refused_user_gets_an_ephemeral_message_and_nothing_changes(
    demo: dict[str, Any], app: Any, local_dir: Path, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Path(__import__("os").environ["CANARY_CONFIG"])
    text = config.read_text().replace("[links]", '[slack.actions]\nallowed_users = ["U0BOB0001"]\n\n[links]', 1)
    config.write_text(text)
    monkeypatch.setenv("CANARY_SLACK_BASE_URL", fake_slack.base_url)
    before = state_snapshot(local_dir)
    answer = click(app(), action_id="ack", value=demo["cause"], response_url=f"{fake_slack.endpoint}/actions/T0TEAM/1/abc")
    assert answer.status_code == 200
    assert state_snapshot(local_dir) == before
    [sent] = fake_slack.calls(RESPONSE_URL)
    assert sent.body["response_type"] == "ephemeral" and "not allowed" in sent.body["text"]


def test_a_response_url_that_is_not_slacks_is_never_called(
    demo: dict[str, Any], app: Any, local_dir: Path, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Path(__import__("os").environ["CANARY_CONFIG"])
    config.write_text(config.read_text().replace("[links]", '[slack.actions]\nallowed_users = ["U0BOB0001"]\n\n[links]', 1))
    # No Slack base URL configured: only https://hooks.slack.com is Slack's, so the fake's URL is not called.
    answer = click(app(), action_id="ack", value=demo["cause"], response_url=f"{fake_slack.endpoint}/actions/T0TEAM/1/abc")
    assert answer.status_code == 200
    assert fake_slack.calls(RESPONSE_URL) == []


def test_silence_buttons_make_the_same_record_as_main_py_silence(demo: dict[str, Any], app: Any, local_dir: Path) -> None:
    client = app()
    assert click(client, action_id="silence_2h", value=demo["cause"]).status_code == 200
    [made] = silences(local_dir)
    assert made["author"] == f"slack:{USER}"
    cause = next(f for f in demo["report"]["findings"] if f["fingerprint"] == demo["cause"])
    assert made["matchers"] == {"monitor": "orchestrator_iam", **cause["key"]}
    created, expires = (datetime.fromisoformat(made[k]) for k in ("created_at", "expires_at"))
    assert expires - created == timedelta(hours=2)
    listed = run_cli("silences", "--json")
    assert [s["id"] for s in json.loads(listed.stdout)] == [made["id"]]
    assert click(client, action_id="unsilence", value=demo["cause"], action_ts="1764979300.000300").status_code == 200
    assert json.loads(run_cli("silences", "--json").stdout) == []


def test_the_signing_secret_appears_in_no_answer_or_log(
    demo: dict[str, Any], app: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    client = app()
    answers = [
        click(client, action_id="ack", value=demo["cause"], timestamp=int(time.time()) - 3600),
        click(client, action_id="ack", value=demo["cause"]),
        client.post("/", data=b"payload=%7B", headers={"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    out, err = capfd.readouterr()
    shown = out + err + "".join(a.get_data(as_text=True) for a in answers)
    assert SIGNING_SECRET not in shown and SIGNING_SECRET[:16] not in shown
    assert "canary_slack_action" in out  # the log lines were written (and scrubbed)


def test_slack_manifest_names_the_url_and_only_the_chat_write_scope() -> None:
    url = "https://us-west2-nba-props-platform.cloudfunctions.net/pipeline-canary-slack-actions"
    result = run_cli("slack-manifest", "--url", url)
    assert result.code == 0
    manifest = json.loads(result.stdout)
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert manifest["oauth_config"]["scopes"] == {"bot": ["chat:write"]}
    assert manifest["display_information"]["name"] == "pipeline-canary"
    refused = run_cli("slack-manifest", "--url", "http://example.com/x")
    assert refused.code == 2 and "https://" in refused.stderr


def test_get_incidents_lists_the_open_incidents_grouped_by_cause(demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = functions_framework.create_app(target="run_canary", source=str(PROJECT_ROOT / "main.py")).test_client()
    answer = client.get("/incidents")
    assert answer.status_code == 200
    listed = answer.get_json()["incidents"]
    at = next(n for n, i in enumerate(listed) if i["fingerprint"] == demo["cause"])
    cause = listed[at]
    assert cause["caused_by"] is None and len(cause["effects"]) >= 3
    following = listed[at + 1 : at + 1 + len(cause["effects"])]  # its effects follow it, grouped
    assert {i["fingerprint"] for i in following} == set(cause["effects"])
    assert all(i["caused_by"] == demo["cause"] for i in following)
    assert {i["fingerprint"] for i in listed} == {f["fingerprint"] for f in demo["report"]["findings"]}
    assert client.post("/incidents").status_code == 405


# --- a summary's buttons (issue 22 gap c) and a store failing mid-click (gap e) -----------------------

from alerts.firestore_state import FirestoreStateStore  # noqa: E402
from alerts.sqlite_state import SqliteStateStore  # noqa: E402
from alerts.state import StateError  # noqa: E402
from tests.servers.fake_slack import TOKEN  # noqa: E402
from tests.servers.firestore_emulator import firestore_emulator, firestore_env  # noqa: E402,F401  (fixtures)


def gcp_canary(monkeypatch: pytest.MonkeyPatch, emulator: Any, fake: FakeSlack) -> Any:
    """The gcp backend's store and notifier as main.py builds them: Firestore on its emulator, the fake Slack."""
    import main

    for name, value in {
        "CANARY_BACKEND": "gcp", "CANARY_ALLOW_TEST_ENDPOINTS": "1", "CANARY_GCP_PROJECT": emulator.project,
        "FIRESTORE_EMULATOR_HOST": emulator.host, "CANARY_SLACK_BASE_URL": fake.base_url, "CANARY_SLACK_BOT_TOKEN": TOKEN,
        "CANARY_SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    from run.configure import load_all

    settings, config = load_all()
    canary = main.build_canary(settings, config, console=None)
    assert type(canary.store).__name__ == "FirestoreStateStore" and type(canary.notifier).__name__ == "SlackNotifier"
    return canary


def deliver_new(canary: Any, findings: list[Any], *, at: datetime) -> None:
    """One run's delivery of these findings as new incidents (decide -> plan -> deliver), as main.py's run does."""
    from alerts.decide import decide
    from alerts.deliver import deliver, plan
    from alerts.state import records_for_decide
    from run.steps import presentation

    config = canary.config
    previous = records_for_decide(canary.store, fingerprints=[f.fingerprint for f in findings])
    decisions = decide(previous=previous, findings=findings, succeeded={f.monitor for f in findings},
                       repeat_after=config.alerts.repeat_after, now=at)
    reports = deliver(plan(decisions.notify, now=at, presentation=presentation(config)), store=canary.store,
                      notifier=canary.notifier, owner="run-1", now=at, alerts=config.alerts, channel_for=config.slack.channel_for)
    assert all(r.delivered for r in reports), reports


def seven_stalls() -> list[Any]:
    from tests.alerts.test_causes import stall

    return [stall("phase_2_raw->phase_3_analytics", datetime(2026, 11, day).date()) for day in range(10, 17)]


def member_buttons(blocks: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for block in blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if "value" in element:
                found.setdefault(element["value"], []).append(element["action_id"])
    return found


def test_a_click_on_a_summary_members_button_re_renders_the_whole_summary_with_each_ones_standing(
    app: Any, fake_slack: FakeSlack, firestore_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = gcp_canary(monkeypatch, firestore_env, fake_slack)
    findings = seven_stalls()  # more than group_after (5): one summary, their parent
    deliver_new(canary, findings, at=datetime.now().astimezone() - timedelta(minutes=20))
    [summary] = fake_slack.parents()
    before = member_buttons(summary.blocks)
    assert set(before) == {f.fingerprint for f in findings}
    assert all(ids == ["ack", "silence_2h", "silence_8h"] for ids in before.values())
    acked, silenced = findings[2].fingerprint, findings[5].fingerprint

    assert click(app(), action_id="ack", value=acked, action_ts="1764979200.000100").status_code == 200
    assert click(app(), action_id="silence_8h", value=silenced, action_ts="1764979200.000200").status_code == 200
    first, second = fake_slack.calls("chat.update")
    assert first.body["ts"] == second.body["ts"] == summary.ts
    for update in (first, second):  # each is the whole summary, never one incident's message
        assert update.body["text"].startswith("FIRING [CRITICAL] 7 alerts newly firing")
        assert set(member_buttons(update.body["blocks"])) == {f.fingerprint for f in findings}
    after = member_buttons(second.body["blocks"])
    assert after[acked] == ["unack", "silence_2h", "silence_8h"]  # the first click's state, read from the store
    assert after[silenced] == ["ack", "unsilence"]
    assert all(ids == ["ack", "silence_2h", "silence_8h"] for fp, ids in after.items() if fp not in (acked, silenced))
    said = json.dumps(second.body["blocks"])
    assert said.count("Acknowledged by <@U0ALICE01>") == 1 and said.count("Silenced by <@U0ALICE01> until") == 1
    replies = [m.text for m in fake_slack.replies(summary.ts)][-2:]  # after the seven detail replies
    assert acked in replies[0] and "Acknowledged by <@U0ALICE01>" in replies[0]
    assert silenced in replies[1] and "Silenced by <@U0ALICE01>" in replies[1]


def test_a_staging_click_edits_its_parent_as_staging_sent_it(
    app: Any, fake_slack: FakeSlack, firestore_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slack_actions function builds its own Slack client: it must tag its edits with its environment too, or
    a staging parent loses its [staging] mark on the first click and reads as production's."""
    monkeypatch.setenv("CANARY_ENVIRONMENT", "staging")
    monkeypatch.setenv("CANARY_SLACK_CHANNEL", "#canary-tests")
    canary = gcp_canary(monkeypatch, firestore_env, fake_slack)
    [finding] = seven_stalls()[:1]
    deliver_new(canary, [finding], at=datetime.now().astimezone() - timedelta(minutes=20))
    [parent] = fake_slack.parents()
    assert parent.text.startswith("[staging] ")
    assert click(app(), action_id="ack", value=finding.fingerprint, action_ts="1764979200.000300").status_code == 200
    [update] = fake_slack.calls("chat.update")
    assert update.body["ts"] == parent.ts
    assert update.body["text"].startswith("[staging] ") and update.body["blocks"][0]["text"]["text"].startswith("[staging] ")


STORES = {"local": SqliteStateStore, "gcp": FirestoreStateStore}
FAULTS = [
    # (button, the store method that fails, which of its calls in the click): before the act, during it, after it.
    ("ack", "acknowledge", 1),
    ("ack", "record_action", 1),
    ("silence_2h", "add_silence", 1),
    ("silence_2h", "silences", 2),  # the parent's standing is read after the silence was written
]


@pytest.mark.parametrize("backend", ["local", "gcp"])
@pytest.mark.parametrize("button, method, nth", FAULTS)
def test_a_click_the_store_failed_is_retried_and_acts_once(
    backend: str, button: str, method: str, nth: int, app: Any, local_dir: Path, fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
) -> None:
    if backend == "local":
        monkeypatch.setenv("CANARY_SLACK_SIGNING_SECRET", SIGNING_SECRET)
        assert run_cli("demo", "--history-days", "0", "--json").code == 0
        from run.configure import load_all
        import main

        settings, config = load_all()
        canary = main.build_canary(settings, config, console=None)
        fingerprint = next(s.fingerprint for s in canary.store.load_firing().values() if s.monitor == "orchestrator_iam")
    else:
        canary = gcp_canary(monkeypatch, request.getfixturevalue("firestore_env"), fake_slack)
        from tests.alerts.test_causes import IAM

        deliver_new(canary, [IAM], at=datetime.now().astimezone() - timedelta(minutes=20))
        fingerprint = IAM.fingerprint
    # The fault, at the store boundary: the store's own method raises StateError (as it does for any failure
    # of SQLite or Firestore) on its nth call, then works again.
    store_class, calls = STORES[backend], []
    original = getattr(store_class, method)

    def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(method)
        if len(calls) == nth:
            raise StateError(f"injected: cannot {method}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(store_class, method, failing)
    body, headers = signed_click(action_id=button, value=fingerprint, timestamp=int(time.time()), action_ts="1764979300.000100")
    client = app()
    failed = client.post("/", data=body, headers=headers)
    assert failed.status_code == 503, failed.get_data(as_text=True)
    retried = client.post("/", data=body, headers=headers)  # Slack's delivery of the same click again
    assert retried.status_code == 200, retried.get_data(as_text=True)
    replayed = client.post("/", data=body, headers=headers)
    assert replayed.status_code == 200
    now = datetime.now().astimezone()
    if button == "ack":
        ack = canary.store.acknowledgements(fingerprints=[fingerprint])[fingerprint]
        assert ack.by == f"slack:{USER}" and ack.ended_at is None
    else:
        made = [s for s in canary.store.silences(now=now) if s.author == f"slack:{USER}"]
        assert len(made) == 1  # acted once: one silence, not one per delivery
    # The key is taken only by the delivery that finished: the replay after it is "already handled".
    taken = hashlib.sha256(f"1764979300.000100|{USER}|{button}|{fingerprint}".encode()).hexdigest()[:40]
    assert canary.store.action_taken(taken, now=now)


def test_the_commands_a_summary_prints_for_the_members_without_buttons_run_as_printed(demo: dict[str, Any], local_dir: Path) -> None:
    """The demo's cause as a member past a summary's buttons: its `main.py silence` and `main.py ack` lines, run
    as printed (the words after `python main.py`), make the same records as the buttons."""
    import shlex

    from alerts.acted import incident_matchers, parent_message
    from alerts.render_slack import ack_command, silence_command
    from alerts.sqlite_state import SqliteStateStore

    store = SqliteStateStore(path=local_dir / "state.sqlite3")
    state = store.load(fingerprints=[demo["cause"]])[demo["cause"]]
    member = parent_message(state, zone=datetime.now().astimezone().tzinfo, links=None)
    for command in (silence_command(member, "2h"), ack_command(member.fingerprint)):
        words = shlex.split(command)
        assert words[:2] == ["python", "main.py"]
        result = run_cli(*words[2:])
        assert result.code == 0, result.stderr
    [made] = silences(local_dir)
    assert made["matchers"] == incident_matchers(state)
    [ack] = acks(local_dir)
    assert ack["fingerprint"] == demo["cause"] and ack["ended_at"] is None


# --- the parent after a click keeps what the on-call needs: the fix, the evidence, the links (issue 22) ----------

HEADS = {"Evidence": "*Evidence*\n", "Fix": "*Fix*\n", "Links": "*Links:* "}


def kept_sections(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """A parent's sections after its title, by heading (Evidence, Fix, Links; Details: the finding's detail lines),
    leaving out those about other incidents (Caused by, Also affected)."""
    found = {}
    for block in blocks[2:]:
        text = block["text"]["text"] if block["type"] == "section" else ""
        if not text or text.startswith(("*Caused by*", "*Also affected*")):
            continue
        found[next((name for name, head in HEADS.items() if text.startswith(head)), "Details")] = text
    return found


@pytest.mark.parametrize("by", ["click", "cli"])
def test_on_the_gcp_stack_the_parent_edited_after_an_ack_still_holds_the_first_notices_fix_evidence_and_links(
    by: str, app: Any, fake_slack: FakeSlack, firestore_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Acknowledge button (signed, through functions-framework's app) or `main.py ack`: the chat.update of the
    parent shows what the first notice showed, read back from the Firestore record, beside who has it."""
    from tests.alerts.test_causes import IAM

    canary = gcp_canary(monkeypatch, firestore_env, fake_slack)
    deliver_new(canary, [IAM], at=datetime.now().astimezone() - timedelta(minutes=20))
    [parent] = fake_slack.parents()
    first = kept_sections(parent.blocks)
    assert set(first) == {"Evidence", "Details", "Fix", "Links"}
    assert "gcloud run services add-iam-policy-binding phase4-to-phase5-orchestrator" in first["Fix"]
    if by == "click":
        assert click(app(), action_id="ack", value=IAM.fingerprint, action_ts="1764979200.000400").status_code == 200
        who = f"<@{USER}>"
    else:
        result = run_cli("ack", IAM.fingerprint[:8], "--by", "ana")
        assert result.code == 0 and "not shown on the incident's message" not in result.stdout, result.stdout
        who = "ana"
    [update] = fake_slack.calls("chat.update")
    assert update.body["ts"] == parent.ts
    assert kept_sections(update.body["blocks"]) == first
    said = json.dumps(update.body["blocks"])
    assert f"Acknowledged by {who} at " in said and '"action_id": "unack"' in said


def test_on_the_gcp_stack_a_record_written_before_the_parent_was_kept_still_renders_after_a_click(
    app: Any, fake_slack: FakeSlack, firestore_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incident notified by the previous version (its Firestore document has no `shown`): the click acts and the
    parent is edited as before (title, where, who has it, the buttons), never a crash."""
    from google.cloud import firestore

    from tests.alerts.test_causes import IAM

    canary = gcp_canary(monkeypatch, firestore_env, fake_slack)
    deliver_new(canary, [IAM], at=datetime.now().astimezone() - timedelta(minutes=20))
    store = canary.store
    firestore.Client(project=firestore_env.project).collection(store.alerts_collection).document(IAM.fingerprint).update(
        {"shown": firestore.DELETE_FIELD}
    )
    assert click(app(), action_id="ack", value=IAM.fingerprint, action_ts="1764979200.000500").status_code == 200
    [update] = fake_slack.calls("chat.update")
    assert set(kept_sections(update.body["blocks"])) == set()
    said = json.dumps(update.body["blocks"])
    assert IAM.summary.split(":")[0] in said and f"Acknowledged by <@{USER}> at " in said
    assert [e["action_id"] for e in update.body["blocks"][-2]["elements"]] == ["unack", "silence_2h", "silence_8h", "runbook"]


@pytest.mark.parametrize("by", ["click", "cli"])
def test_on_the_local_backend_the_parent_after_an_ack_holds_the_demo_causes_fix_and_evidence(
    by: str, demo: dict[str, Any], app: Any, local_dir: Path
) -> None:
    """The local backend edits no message (a file line is not edited; the ack is its own line): its SQLite record is
    what a parent would be rebuilt from. After the click (or `main.py ack`), the parent the Slack notifier would send
    with chat.update, rebuilt from that record, holds the fix and the evidence the demo's first notice printed."""
    from alerts.acted import parent_view
    from alerts.render_slack import render_parent
    from alerts.sqlite_state import SqliteStateStore
    from run.configure import load_all
    from run.steps import presentation

    notices = [json.loads(line) for line in (local_dir / "notifications.jsonl").read_text().splitlines()]
    first = next(n for n in notices if n.get("fingerprint") == demo["cause"] and n["reason"] == "first")
    printed = dict(line.strip().split(": ", 1) for line in first["text"].splitlines()[1:] if ": " in line)
    assert printed["fix"].startswith("gcloud run services add-iam-policy-binding nba-phase4-precompute-processors")
    if by == "click":
        assert click(app(), action_id="ack", value=demo["cause"]).status_code == 200
    else:
        assert run_cli("ack", demo["cause"], "--by", "ana").code == 0
    _, config = load_all()
    store = SqliteStateStore(path=local_dir / "state.sqlite3")
    state = store.load(fingerprints=[demo["cause"]])[demo["cause"]]
    view = parent_view(store, state=state, now=datetime.now().astimezone(), zone=config.zone, links=presentation(config).links)
    assert view is not None and view.brief
    kept = kept_sections(render_parent(view).to_dict()["blocks"])
    assert kept["Fix"] == f"*Fix*\n```{printed['fix']}```"  # nothing in the demo's fix is escaped
    assert kept["Evidence"] == f"*Evidence*\n{printed['evidence']}"
    assert "Cloud Run: nba-phase4-precompute-processors" in kept["Links"] and "|Runbook>" in kept["Links"]
    assert "*last change:* ReplaceService (a redeploy) by " in kept["Details"]  # who changed the binding, and when
    assert "Acknowledged by " in json.dumps(render_parent(view).to_dict()["blocks"])
