"""Escalation as a user meets it in the CLI: canary.toml's [escalation] uncommented, `replay` prints the page count."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from core.config import DEFAULT_CONFIG_PATH
from tests.conftest import run_cli


def uncommented_escalation(path: Path) -> Path:
    """canary.toml with its [escalation] example turned on, as its comment says to."""
    lines = []
    for line in DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines():
        if line.startswith("# [escalation]"):
            line = "[escalation]"
        elif line.startswith(("# after = ", "# severities = ", "# mention = ")):
            line = line.removeprefix("# ")
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_replay_prints_how_many_pages_the_configured_policy_would_have_cost(local_dir: Path, tmp_path: Path) -> None:
    demo = run_cli("demo", "--history-days", "2", "--json")
    assert demo.code == 0, demo.stderr
    today = date.fromisoformat(json.loads(demo.stdout)["today"])
    config = uncommented_escalation(tmp_path / "escalating.toml")
    assert run_cli("check-config", str(config)).code == 0
    first, last = (today - timedelta(days=2)).isoformat(), today.isoformat()
    text = run_cli("replay", "--from", first, "--to", last, "--config", str(config))
    assert text.code == 0, text.stderr
    # The broken day's two critical incidents of their own page: the 3->4 stall (the missing predictions it explains
    # never page) and yesterday's incomplete phase 3, each 30 minutes after its first notice.
    assert "PagerDuty pages under [escalation], nobody acknowledging: 2" in text.stdout
    assert "phase_stalls" in text.stdout.split("PagerDuty pages under [escalation]")[1].split("totals:")[0]
    report = json.loads(run_cli("replay", "--from", first, "--to", last, "--config", str(config), "--json").stdout)
    assert report["pages"] == 2 and [p["monitor"] for p in report["paged"]] == ["phase_stalls", "phase_stalls"]
    plain = run_cli("replay", "--from", first, "--to", last)
    assert plain.code == 0 and "PagerDuty pages" not in plain.stdout  # no [escalation]: nothing about pages


def test_the_routing_key_appears_in_no_output_on_any_failure_path(local_dir: Path, tmp_path: Path,
                                                                   monkeypatch) -> None:
    from tests.servers.fake_pagerduty import ROUTING_KEY, FakePagerDuty

    fake = FakePagerDuty().start()
    try:
        # after = "0m": the demo's own run escalates, so every later run at the demo's moment retries the page.
        config = uncommented_escalation(tmp_path / "escalating.toml")
        config.write_text(config.read_text().replace('after = "30m"', 'after = "0m"'))
        for name, value in {"CANARY_CONFIG": str(config), "CANARY_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
                            "CANARY_PAGERDUTY_URL": fake.endpoint}.items():
            monkeypatch.setenv(name, value)
        # A stand-in URL without CANARY_ALLOW_TEST_ENDPOINTS=1: refused, naming the variable, not the key.
        refused = run_cli("demo", "--history-days", "1")
        assert refused.code == 2 and "CANARY_ALLOW_TEST_ENDPOINTS=1" in refused.stderr
        outputs = [refused.stdout, refused.stderr]
        monkeypatch.setenv("CANARY_ALLOW_TEST_ENDPOINTS", "1")
        fake.fail_with = 503
        demo = run_cli("demo", "--history-days", "1", "--json")
        assert demo.code == 1, demo.stderr  # the page failed: the run says so
        now = json.loads(demo.stdout)["now"]
        outputs += [demo.stdout, demo.stderr]
        for fault in ("429", "dropped", "400"):
            fake.fail_with, fake.drop = (429, False) if fault == "429" else (None, fault == "dropped")
            if fault == "400":
                monkeypatch.setenv("CANARY_PAGERDUTY_ROUTING_KEY", ROUTING_KEY[:31])  # one character short: 400
            for as_json in ((), ("--json",)):
                result = run_cli("run", "--now", now, *as_json)
                assert result.code == 1, (fault, result.stdout, result.stderr)  # the page failed: it stays due
                outputs += [result.stdout, result.stderr]
            if fault == "400":
                assert "Length of 'routing_key' is incorrect" in result.stdout
        outputs.append((local_dir / "notifications.jsonl").read_text())
        for key in (ROUTING_KEY, ROUTING_KEY[:31]):
            for shown in outputs:
                assert key not in shown
        assert fake.events == []  # nothing was accepted: every failure left the pages due
        monkeypatch.setenv("CANARY_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
        fake.drop = False
        sent = run_cli("run", "--now", now)
        assert sent.code == 0 and ROUTING_KEY not in sent.stdout + sent.stderr
        assert fake.actions() and set(fake.actions()) == {"trigger"}  # each page due since the demo, sent once
        assert len({e["dedup_key"] for e in fake.events}) == len(fake.events)
    finally:
        fake.stop()
