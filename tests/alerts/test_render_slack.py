"""The Block Kit renderer: golden files for every finding kind and reason, escaping, and Slack's limits.

Set CANARY_UPDATE_GOLDEN=1 to rewrite tests/alerts/golden/*.json after an intended change; review the diff.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, timedelta
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from alerts.group import AlertGroup
from alerts.render_slack import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    TRUNCATED,
    clip,
    inert,
    render_alert,
    render_group,
    render_resolved_parent,
)
from alerts.render_text import render_text
from core.model import Reason
from tests.slack_cases import FIRST_SEEN, NOW, all_findings, hostile_finding, message, stall_finding

GOLDEN = Path(__file__).parent / "golden"
FINDINGS = all_findings()
UPDATE_GOLDEN = os.environ.get("CANARY_UPDATE_GOLDEN") == "1"
"""Read at import: the autouse isolated_env fixture clears CANARY_* variables before each test."""


def check_golden(name: str, payload: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if UPDATE_GOLDEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with CANARY_UPDATE_GOLDEN=1 to create it"
    assert json.loads(path.read_text(encoding="utf-8")) == payload, f"{path.name} differs (CANARY_UPDATE_GOLDEN=1 rewrites)"


def texts(payload: dict[str, Any]) -> list[str]:
    """Every string Slack will render: the fallback and every text in every block."""
    found = [payload["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload["blocks"])
    return found


CONFIGURED_LINK = re.compile(r"<https://[^<>|\s]+\|[^<>]+>")
"""A mrkdwn link to a console, the runbook or a thread: built from configuration, never from data."""
ALERT_REASONS = [Reason.FIRST, Reason.REPEAT, Reason.RESOLVED]
"""The reasons of an alert's notice (a digest is no alert)."""


@pytest.mark.parametrize("reason", ALERT_REASONS, ids=lambda r: r.value)
@pytest.mark.parametrize("kind", sorted(FINDINGS))
def test_every_finding_kind_and_reason_renders_as_its_golden_file(kind: str, reason: Reason) -> None:
    check_golden(f"{kind}-{reason.value}", render_alert(message(FINDINGS[kind], reason)).to_dict())


def test_the_resolved_parent_edit_matches_its_golden_file_and_says_how_long_it_lasted() -> None:
    payload = render_resolved_parent(message(FINDINGS["orchestrator_iam-missing_invoker"], Reason.RESOLVED)).to_dict()
    check_golden("resolved-parent", payload)
    assert "it lasted 3 h 20 min" in payload["text"]
    assert any("it lasted 3 h 20 min" in t for t in texts(payload)[1:])


def test_a_group_summary_matches_its_golden_file_worst_first() -> None:
    members = [message(stall_finding(date(2026, 11, day)), Reason.FIRST) for day in range(10, 22)]
    members.append(message(FINDINGS["orchestrator_iam-missing_invoker"], Reason.FIRST))
    members.append(message(FINDINGS["missing_predictions-partial"], Reason.FIRST))
    payload = render_group(AlertGroup(reason=Reason.FIRST, members=tuple(members), limit=5)).to_dict()
    check_golden("group-first", payload)
    assert payload["blocks"][0]["text"]["text"].startswith(":red_circle: FIRING [CRITICAL] 14 alerts newly firing (13 critical, 1 warning)")
    listing = "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert listing.count("• ") == 14
    assert listing.index("orchestrator_iam") < listing.index("2026-11-21") < listing.index("[WARNING]"), "worst first"


def test_a_group_resolved_parent_edit_matches_its_golden_file() -> None:
    members = [message(stall_finding(date(2026, 11, day)), Reason.RESOLVED) for day in range(14, 21)]
    payload = render_group(AlertGroup(reason=Reason.RESOLVED, members=tuple(members), limit=5), parent_edit=True).to_dict()
    check_golden("group-resolved-parent", payload)
    assert "every alert listed here resolved" in json.dumps(payload)


def test_a_synthetic_alert_is_marked_test_everywhere() -> None:
    first = replace(message(FINDINGS["phase_stalls-stalled"], Reason.FIRST), synthetic=True)
    payload = render_alert(first).to_dict()
    check_golden("synthetic-first", payload)
    assert payload["text"].startswith("[TEST] ")
    assert "[TEST]" in payload["blocks"][0]["text"]["text"]
    assert "nothing is wrong" in payload["blocks"][-1]["elements"][0]["text"]


def test_warehouse_and_api_data_cannot_mention_or_link_anyone() -> None:
    finding = hostile_finding()
    for reason in ALERT_REASONS:
        rendered = render_alert(message(finding, reason)).to_dict()
        for text in texts(rendered):
            text = CONFIGURED_LINK.sub("", text)  # the links built from canary.toml are the only markup
            assert "<" not in text and ">" not in text, text
        dumped = json.dumps(rendered)
        assert "<!channel>" not in dumped and "<!here>" not in dumped and "<@U123" not in dumped
    first = json.dumps(render_alert(message(finding, Reason.FIRST)).to_dict())
    assert "&lt;!channel&gt;" in first and "a&amp;b" in first and "&lt;!here&gt;" in first
    group = render_group(AlertGroup(reason=Reason.FIRST, members=(message(finding, Reason.FIRST),) * 2, limit=1)).to_dict()
    assert "<!channel>" not in json.dumps(group) and "&lt;!channel&gt;" in json.dumps(group)


def test_the_arrow_in_a_transition_is_escaped_too() -> None:
    rendered = render_alert(message(stall_finding(), Reason.FIRST)).to_dict()
    section = rendered["blocks"][1]["text"]["text"]
    assert "phase_4_precompute-&gt;phase_5_predictions" in section


def test_the_text_fallback_is_the_plain_rendering_with_values_made_inert_for_mrkdwn() -> None:
    alert = message(hostile_finding(), Reason.FIRST)
    assert render_alert(alert).text == render_text(alert, inert)
    assert "&lt;!channel&gt;" in render_alert(alert).text


def test_long_data_is_cut_to_slacks_limits_with_a_visible_note() -> None:
    finding = stall_finding()
    huge = finding.model_copy(
        update={"summary": "S" * 400, "details": {**finding.details, "evidence": "& " * 4000}, "fix": "gcloud " + "x" * 5000}
    )
    rendered = render_alert(message(huge, Reason.FIRST))
    payload = rendered.to_dict()  # slack_sdk validates every block's limits here
    assert len(payload["blocks"][0]["text"]["text"]) <= MAX_HEADER_TEXT
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert all(len(s) <= MAX_SECTION_TEXT for s in sections)
    evidence = next(s for s in sections if s.startswith("*Evidence*"))
    assert evidence.endswith(TRUNCATED) and re.search(r"&(?!amp;)", evidence) is None, "no entity cut in half"
    assert len(payload["text"]) <= MAX_FALLBACK_TEXT and payload["text"].endswith(TRUNCATED)


def test_a_huge_group_stays_within_50_blocks_and_counts_what_it_left_out() -> None:
    members = tuple(
        message(stall_finding().model_copy(update={"summary": f"stall {i:04d} " + "p" * 250, "key": {"n": str(i)}}), Reason.FIRST)
        for i in range(600)
    )
    payload = render_group(AlertGroup(reason=Reason.FIRST, members=members, limit=5)).to_dict()
    assert len(payload["blocks"]) <= MAX_BLOCKS
    listed = sum(t.count("• ") for t in texts(payload)[1:])
    note = next(t for t in texts(payload) if "more, listed in the run report" in t)
    assert int(re.search(r"…and (\d+) more", note).group(1)) == 600 - listed  # type: ignore[union-attr]
    assert 0 < listed < 600


def test_a_long_group_header_is_cut_to_150_characters() -> None:
    members = tuple(message(f.model_copy(update={"monitor": "m" * 60 + k}), Reason.FIRST) for k, f in FINDINGS.items())
    header = render_group(AlertGroup(reason=Reason.FIRST, members=members, limit=5)).to_dict()["blocks"][0]["text"]["text"]
    assert len(header) == MAX_HEADER_TEXT and header.endswith(TRUNCATED)


@pytest.mark.parametrize("text,limit,expected", [("abc", 3, "abc"), ("a" * 20, 15, "aa… (truncated)"), ("x&amp;yyyyyyyyyyyyy", 16, "x… (truncated)")])
def test_clip_keeps_short_text_and_never_splits_an_entity(text: str, limit: int, expected: str) -> None:
    assert clip(text, limit) == expected


# --- the buttons on an incident's parent (issue 22) -----------------------------------------------


def _buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("acknowledged, silenced, expected", [
    (False, False, ["ack", "silence_2h", "silence_8h", "runbook"]),
    (True, False, ["unack", "silence_2h", "silence_8h", "runbook"]),
    (False, True, ["ack", "unsilence", "runbook"]),
    (True, True, ["unack", "unsilence", "runbook"]),
])
def test_a_parent_carries_the_buttons_that_apply_each_valued_with_the_fingerprint_only(
    acknowledged: bool, silenced: bool, expected: list[str]
) -> None:
    from alerts.render_slack import ACTIONS, MAX_ACTION_ID, MAX_ACTIONS_ELEMENTS, MAX_BUTTON_TEXT, Controls

    alert = message(stall_finding(), Reason.FIRST)
    payload = render_alert(alert, controls=Controls(acknowledged=acknowledged, silenced=silenced)).to_dict()
    buttons = _buttons(payload)
    assert [b["action_id"] for b in buttons] == expected
    for button in buttons:
        assert len(button["text"]["text"]) <= MAX_BUTTON_TEXT and len(button["action_id"]) <= MAX_ACTION_ID
        if button["action_id"] == "runbook":
            assert button["url"].startswith("https://") and "docs/runbook.md#phase_stalls-stalled" in button["url"] and "value" not in button
        else:
            assert button["value"] == alert.fingerprint and button["text"]["text"] == ACTIONS[button["action_id"]]
    assert len(buttons) <= MAX_ACTIONS_ELEMENTS


def test_replies_and_test_alerts_carry_no_buttons() -> None:
    from alerts.render_slack import Controls

    assert _buttons(render_alert(message(stall_finding(), Reason.REPEAT)).to_dict()) == []
    synthetic = replace(message(stall_finding(), Reason.FIRST), synthetic=True)
    assert _buttons(render_alert(synthetic, controls=Controls()).to_dict()) == []


def test_who_acted_is_a_mention_only_for_a_slack_member_id() -> None:
    from alerts.render_slack import who

    assert who("slack:U0ALICE01") == "<@U0ALICE01>"
    assert who("slack:<!channel>") == "slack:&lt;!channel&gt;"
    assert who("<!here> ana") == "&lt;!here&gt; ana"


# --- a summary that is its incidents' parent carries each one's buttons (issue 22 gap c) ---------------


def _summary_members() -> list[Any]:
    members = [message(stall_finding(date(2026, 11, day)), Reason.FIRST) for day in range(10, 22)]
    members.append(message(FINDINGS["orchestrator_iam-missing_invoker"], Reason.FIRST))
    members.append(message(FINDINGS["missing_predictions-partial"], Reason.FIRST))
    return members


def test_a_summary_parent_with_buttons_matches_its_golden_file() -> None:
    """Every member with its own buttons valued with its fingerprint; one acknowledged, one silenced (their lines
    and Unacknowledge / Unsilence), one resolved since (no buttons)."""
    from alerts.acted import Standing
    from alerts.render_slack import Controls, controls_of, render_group_parent
    from core.model import Acknowledgement, Silence, Severity

    members = _summary_members()
    acked, silenced, resolved = members[12], members[0], members[5]
    ack = Acknowledgement(fingerprint=acked.fingerprint, by="slack:U0ALICE01", at=NOW, incident_since=NOW, severity=Severity.CRITICAL)
    mute = Silence(id="s1", matchers={"monitor": silenced.monitor}, author="slack:U0BOB0001", reason="from Slack",
                   created_at=NOW, expires_at=NOW + timedelta(hours=2))
    controls = {m.fingerprint: Controls() for m in members if m is not resolved}
    controls[acked.fingerprint] = controls_of(Standing(acknowledged=True, silenced=False, ack=ack), acked.zone)
    controls[silenced.fingerprint] = controls_of(Standing(acknowledged=False, silenced=True, silence=mute), silenced.zone)
    payload = render_group_parent(AlertGroup(reason=Reason.FIRST, members=tuple(members), limit=5), controls=controls).to_dict()
    check_golden("group-first-buttons", payload)
    shown = {}
    for block in payload["blocks"]:
        if block["type"] == "actions":
            values = {e["value"] for e in block["elements"] if "value" in e}
            assert len(values) == 1 and len(block["block_id"]) <= 255
            shown[values.pop()] = [e["action_id"] for e in block["elements"]]
    assert set(shown) == {m.fingerprint for m in members} - {resolved.fingerprint}
    assert shown[acked.fingerprint][0] == "unack" and shown[silenced.fingerprint][1] == "unsilence"
    assert len({b["block_id"] for b in payload["blocks"] if "block_id" in b}) == len(shown)  # unique in the message
    said = json.dumps(payload, ensure_ascii=False)
    assert "Acknowledged by <@U0ALICE01> at Sat 2026-11-21 18:30 EST (23:30 UTC), until it resolves" in said
    assert "Silenced by <@U0BOB0001> until Sat 2026-11-21 20:30 EST (01:30 UTC)" in said
    assert f"fingerprint `{resolved.fingerprint}` · resolved" in said


@pytest.mark.parametrize("count", [6, 24, 40, 600])
def test_a_summary_parent_of_any_size_stays_within_slacks_limits_and_says_how_to_act_on_the_rest(count: int) -> None:
    from alerts.render_slack import MAX_BLOCKS_TEXT, Controls, render_group_parent, render_group_parent_parts
    from tests.servers.fake_slack import refusal

    members = tuple(
        message(stall_finding(date(2026, 11, 21)).model_copy(update={"summary": f"stall {i:04d} " + "p" * 150,
                                                                      "key": {**stall_finding().key, "n": str(i)}}), Reason.FIRST)
        for i in range(count)
    )
    group = AlertGroup(reason=Reason.FIRST, members=members, limit=5)
    payload = render_group_parent(group, controls={m.fingerprint: Controls() for m in members}).to_dict()
    assert refusal(payload["text"], payload["blocks"]) is None  # what the fake Slack (and so Slack) accepts
    assert len(payload["blocks"]) <= MAX_BLOCKS and sum(len(t) for t in texts(payload)[1:]) <= MAX_BLOCKS_TEXT
    buttoned = [b for b in payload["blocks"] if b["type"] == "actions"]
    said = "\n".join(texts(payload)[1:])
    if count <= 6:
        assert len(buttoned) == count and "Buttons for the first" not in said
        return
    assert 0 < len(buttoned) < count
    assert f"Buttons for the first {len(buttoned)} of {count} alerts" in said
    listed = [fp for fp in (m.fingerprint for m in members) if f"python main.py ack {fp}" in said]
    assert len(listed) + len(buttoned) <= count and listed
    for fp in listed:  # each listed one has its silence command too, naming exactly its labels
        assert said.count(f"python main.py ack {fp}") == 1
    assert said.count("python main.py silence --match monitor=phase_stalls") == len(listed)
    left = count - len(buttoned) - len(listed)
    parts = render_group_parent_parts(group, controls={m.fingerprint: Controls() for m in members})
    assert json.dumps(parts[0].to_dict()) == json.dumps(payload)
    later = "\n".join(t for part in parts[1:] for t in texts(part.to_dict())[1:])
    if left:
        assert f"…and {left} more, listed in the next messages of this thread; `python main.py incidents`" in said
    # Every alert is in one of the messages: with its buttons, with its commands, or in a later part.
    assert sum(later.count(f"stall {i:04d} ") for i in range(count)) == left
    for part in parts[1:]:
        assert refusal(part.text, part.to_dict()["blocks"]) is None


def test_docs_slack_md_quotes_a_summarys_note_and_commands_as_the_renderer_prints_them() -> None:
    """docs/slack.md "On a summary" quotes a summary of 40 stalls: its note and one member's commands, as Slack
    shows them (mrkdwn italics and code fences off, entities as their characters)."""
    import html

    from alerts.render_slack import Controls, render_group_parent

    days = [date(2026, 10, d) for d in range(1, 32)] + [date(2026, 11, d) for d in range(1, 10)]
    members = tuple(message(stall_finding(day), Reason.FIRST) for day in days)
    payload = render_group_parent(AlertGroup(reason=Reason.FIRST, members=members, limit=5),
                                  controls={m.fingerprint: Controls() for m in members}).to_dict()
    shown = set()
    for text in texts(payload)[1:]:
        for line in html.unescape(text).replace("```", "\n").splitlines():
            shown.add(line.strip().strip("_"))
    doc = (Path(__file__).resolve().parents[2] / "docs" / "slack.md").read_text(encoding="utf-8")
    section = doc.split("### On a summary", 1)[1].split("\n## ", 1)[0]
    quoted = [line for block in re.findall(r"```\n(.*?)\n```", section, re.S) for line in block.splitlines()]
    assert len(quoted) == 4
    for line in quoted:
        assert line in shown, f"docs/slack.md quotes a line the renderer does not print: {line!r}"


# --- an incident's parent rebuilt from its record after a click (issue 22: it keeps the evidence, fix and links) ---

ACKED_AT = FIRST_SEEN + timedelta(minutes=4)


def _first_notice_and_brief_parent(finding: Any, folder: Path, *, older_record: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """The finding's first notice delivered by the notice pipeline (its record in SQLite; New York time, production
    links), then, after an acknowledgement, its parent rebuilt from that record alone, as a click rebuilds it.
    `older_record`: the record's `shown` taken out first, as a record written before it was kept reads."""
    import sqlite3

    from alerts import acted
    from alerts.deliver import Presentation, deliver, plan
    from alerts.render_slack import Controls, render_parent
    from alerts.sqlite_state import SqliteStateStore
    from core.model import Decision
    from tests.alerts.test_causes import ALERTS, SLACK, Recorder
    from tests.slack_cases import LINKS
    from tests.scenario import NEW_YORK

    store = SqliteStateStore(path=folder / "state.sqlite3")
    notifier = Recorder()
    first = plan([Decision(fingerprint=finding.fingerprint, reason=Reason.FIRST, finding=finding)], now=FIRST_SEEN,
                 presentation=Presentation(zone=NEW_YORK, links=LINKS))
    [report] = deliver(first, store=store, notifier=notifier, owner="run-1", now=FIRST_SEEN, alerts=ALERTS,
                       channel_for=SLACK.channel_for)
    assert report.delivered
    if older_record:
        with sqlite3.connect(store.path) as db:
            record = json.loads(db.execute("SELECT record FROM alerts").fetchone()[0])
            record.pop("shown", None)
            db.execute("UPDATE alerts SET record = ?", (json.dumps(record),))
    state = store.load(fingerprints=[finding.fingerprint])[finding.fingerprint]
    assert acted.acknowledge(store, state=state, by="slack:U0ALICE01", now=ACKED_AT, duration=None, zone=NEW_YORK).acted
    view = acted.parent_view(store, state=state, now=ACKED_AT, zone=NEW_YORK, links=LINKS)
    assert view is not None and view.brief
    return render_alert(first[0].message, controls=Controls()).to_dict(), render_parent(view).to_dict()


NOT_KEPT = ("*Caused by*\n", "*Also affected*\n", "*It may still be real*\n")
"""A parent's sections about other incidents (what explains it, what it explains): the thread holds those."""


def _kept_blocks(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A parent's sections after its title: the evidence, the details, the fix and the links."""
    return [b for b in payload["blocks"][2:] if b["type"] == "section" and not b["text"]["text"].startswith(NOT_KEPT)]


def test_the_parent_rebuilt_after_an_ack_keeps_the_fix_and_matches_its_golden_file(tmp_path: Path) -> None:
    _, payload = _first_notice_and_brief_parent(FINDINGS["orchestrator_iam-missing_invoker"], tmp_path)
    check_golden("brief-parent-fix", payload)
    said = json.dumps(payload, ensure_ascii=False)
    assert "gcloud run services add-iam-policy-binding phase4-to-phase5-orchestrator --region=us-west2" in said
    assert "Acknowledged by <@U0ALICE01> at Sat 2026-11-21 15:14 EST (20:14 UTC), until it resolves" in said
    assert [e["action_id"] for e in payload["blocks"][-2]["elements"]] == ["unack", "silence_2h", "silence_8h", "runbook"]


@pytest.mark.parametrize("kind", sorted(FINDINGS) + ["hostile"])
def test_the_rebuilt_parent_shows_the_evidence_fix_and_links_exactly_as_the_first_notice_did(kind: str, tmp_path: Path) -> None:
    """The same blocks, from the same helpers: the stored text is made inert as the fresh text was (a value that
    tries to mention, link or close the code block stays data)."""
    finding = hostile_finding() if kind == "hostile" else FINDINGS[kind]
    first, brief = _first_notice_and_brief_parent(finding, tmp_path)
    kept = _kept_blocks(first)
    assert kept, "every kind shows a fix, evidence or links"
    assert _kept_blocks(brief) == kept
    for text in texts(brief):
        assert "<!" not in text and "<@U123" not in text


def test_a_fix_longer_than_a_section_is_stored_cut_and_still_renders_as_the_first_notice_did(tmp_path: Path) -> None:
    finding = FINDINGS["phase_stalls-stalled"]
    many = {f"detail_{n}": f"<value {n}> " * (n * 10) for n in range(1, 40)}
    long = finding.model_copy(update={"fix": "gcloud scheduler jobs run same-day-phase4 " + "--flag=a&b " * 700,
                                      "details": {**finding.details, **many, "evidence": "<x> " * 2000}})
    first, brief = _first_notice_and_brief_parent(long, tmp_path)
    assert _kept_blocks(brief) == _kept_blocks(first)
    assert sum(TRUNCATED in b["text"]["text"] for b in _kept_blocks(brief)) == 3  # evidence, details, fix
    import sqlite3

    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        record = json.loads(db.execute("SELECT record FROM alerts").fetchone()[0])
    # Each text is kept only as far as its section can show it: a few KiB, however long the finding's text.
    assert len(record["shown"]["fix"]) == len(record["shown"]["evidence"]) == MAX_SECTION_TEXT
    assert len(record["shown"]["facts"]) < len(long.details)
    assert len(json.dumps(record["shown"])) < 6 * MAX_SECTION_TEXT


def test_a_record_from_before_the_parent_was_kept_renders_the_brief_parent_as_before(tmp_path: Path) -> None:
    """The golden file was written by the code before this change, from the same record: nothing changes for it."""
    _, payload = _first_notice_and_brief_parent(FINDINGS["orchestrator_iam-missing_invoker"], tmp_path, older_record=True)
    check_golden("brief-parent-older-record", payload)
    assert _kept_blocks(payload) == []


def test_a_repeat_updates_what_the_record_keeps_so_the_rebuilt_parent_agrees_with_its_title(tmp_path: Path) -> None:
    """The record's title is its latest notice's; so are the evidence and the details kept beside it."""
    from alerts import acted
    from alerts.deliver import Presentation, deliver, plan
    from alerts.render_slack import render_parent
    from alerts.sqlite_state import SqliteStateStore
    from core.model import Decision
    from tests.alerts.test_causes import ALERTS, SLACK, Recorder
    from tests.scenario import NEW_YORK
    from tests.slack_cases import LINKS

    store, notifier = SqliteStateStore(path=tmp_path / "state.sqlite3"), Recorder()
    finding = FINDINGS["missing_predictions-partial"]
    worse = finding.model_copy(update={"summary": finding.summary + " (and one more game)",
                                       "details": {**finding.details, "evidence": "40 active predictions, none for 2 games"}})
    previous = None
    for at, seen in ((FIRST_SEEN, finding), (FIRST_SEEN + timedelta(hours=3), worse)):
        decision = Decision(fingerprint=seen.fingerprint, reason=Reason.REPEAT if previous else Reason.FIRST, finding=seen,
                            previous=previous)
        [report] = deliver(plan([decision], now=at, presentation=Presentation(zone=NEW_YORK, links=LINKS)), store=store,
                           notifier=notifier, owner="run", now=at, alerts=ALERTS, channel_for=SLACK.channel_for)
        assert report.delivered
        previous = store.load(fingerprints=[seen.fingerprint])[seen.fingerprint]
    assert previous is not None and previous.notify_count == 2
    view = acted.parent_view(store, state=previous, now=FIRST_SEEN + timedelta(hours=3), zone=NEW_YORK, links=LINKS)
    assert view is not None
    said = json.dumps(render_parent(view).to_dict(), ensure_ascii=False)
    assert "(and one more game)" in said and "*Evidence*\\n40 active predictions, none for 2 games" in said
    assert finding.details["evidence"] not in said
