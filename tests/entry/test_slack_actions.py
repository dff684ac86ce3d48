"""The slack_actions function as Slack calls it: signed block_actions clicks through functions-framework's
own app (`create_app(target="slack_actions")`), on the local backend (the demo's state and notices)."""

from __future__ import annotations

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
    """The demo's broken evening, run once: its cause (the missing invoker) and when it ran."""
    monkeypatch.setenv("CANARY_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    result = run_cli("demo", "--history-days", "0", "--json")
    assert result.code == 0, result.stderr
    report = result.report
    cause = next(f for f in report["findings"] if f["monitor"] == "orchestrator_iam")
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
    ended, so of its six findings four still fire: the binding, the push account, the stall, the predictions)."""
    return {f["fingerprint"] for f in report["findings"] if cause in (f["fingerprint"], f["caused_by"])}


def sent_about_the_chain(report: dict[str, Any], cause: str) -> list[dict[str, Any]]:
    """What was delivered about the chain; the demo's other incidents (the paused backup job, the canary's own
    job late two hours on: nothing runs it in the demo) are not acknowledged and may notify."""
    chain = chain_of(report, cause)
    assert cause in chain and len(chain) == 4
    sent = [n for n in report["notifications"] if n["delivered"]]
    assert {n["monitor"] for n in sent if n["fingerprint"] not in chain} <= {"scheduler_jobs"}
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
