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
    assert "phase_stalls" in text.stdout.split("PagerDuty pages under [escalation]")[1]
    report = json.loads(run_cli("replay", "--from", first, "--to", last, "--config", str(config), "--json").stdout)
    assert report["pages"] == 1 and [p["monitor"] for p in report["paged"]] == ["phase_stalls"]
    plain = run_cli("replay", "--from", first, "--to", last)
    assert "PagerDuty pages: none ([escalation] is not configured)" in plain.stdout
