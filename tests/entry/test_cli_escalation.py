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
    assert "PagerDuty pages under [escalation], nobody acknowledging: 1" in text.stdout
    assert "phase_stalls" in text.stdout.split("PagerDuty pages under [escalation]")[1].split("totals:")[0]
    report = json.loads(run_cli("replay", "--from", first, "--to", last, "--config", str(config), "--json").stdout)
    assert report["pages"] == 1 and [p["monitor"] for p in report["paged"]] == ["phase_stalls"]
    plain = run_cli("replay", "--from", first, "--to", last)
    assert plain.code == 0 and "PagerDuty pages" not in plain.stdout  # no [escalation]: nothing about pages


def test_the_routing_key_appears_in_no_output_on_any_failure_path(local_dir: Path, tmp_path: Path,
                                                                   monkeypatch) -> None:
    from tests.servers.fake_pagerduty import ROUTING_KEY, FakePagerDuty

    fake = FakePagerDuty().start()
    try:
        config = uncommented_escalation(tmp_path / "escalating.toml")
        monkeypatch.setenv("CANARY_CONFIG", str(config))
        monkeypatch.setenv("CANARY_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
        demo = run_cli("demo", "--history-days", "1", "--json")
        assert demo.code == 0, demo.stderr
        now = json.loads(demo.stdout)["now"]
        outputs = [demo.stdout, demo.stderr]

        # A stand-in URL without CANARY_ALLOW_TEST_ENDPOINTS=1: refused, naming the variable, not the key.
        monkeypatch.setenv("CANARY_PAGERDUTY_URL", fake.endpoint)
        refused = run_cli("run", "--now", now)
        assert refused.code == 2 and "CANARY_ALLOW_TEST_ENDPOINTS=1" in refused.stderr
        outputs += [refused.stdout, refused.stderr]
        monkeypatch.setenv("CANARY_ALLOW_TEST_ENDPOINTS", "1")

        from datetime import datetime

        at = datetime.fromisoformat(now.replace("Z", "+00:00"))
        for minutes, fault in ((31, "503"), (32, "429"), (33, "dropped"), (34, "400")):
            fake.fail_with, fake.drop = (int(fault), False) if fault.isdigit() and fault != "400" else (None, fault == "dropped")
            if fault == "400":
                monkeypatch.setenv("CANARY_PAGERDUTY_ROUTING_KEY", ROUTING_KEY[:31])  # one character short: 400
            for as_json in ((), ("--json",)):
                result = run_cli("run", "--now", (at + timedelta(minutes=minutes)).isoformat(), *as_json)
                assert result.code == 1, (fault, result.stdout, result.stderr)  # the event failed: it stays due
                outputs += [result.stdout, result.stderr]
            if fault == "400":
                assert "Length of 'routing_key' is incorrect" in result.stdout
        outputs.append((local_dir / "notifications.jsonl").read_text())
        for key in (ROUTING_KEY, ROUTING_KEY[:31]):
            for shown in outputs:
                assert key not in shown
        assert fake.events == []  # nothing was accepted: every failure left the page due
    finally:
        fake.stop()
