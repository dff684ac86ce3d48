"""The docs (README.md, docs/*.md): every link between them lands, and every demo figure they quote is what
the program prints.

A quote is a fenced block right after a marker `<!-- demo-output: NAME YYYY-MM-DD -->`: NAME is one of the
commands below (run here on a fresh demo, as a user runs them), the date is the demo's "today" when the
quote was taken. The demo runs at the latest 18:30 New York time, so dates (and with them the weekday, EST
or EDT and the UTC clock) change with the day; they are the only thing normalised. Each quoted line must
be a whole line of the output, in order; `...` inside a line stands for any text (run ids, durations),
and a line that is only `...` stands for lines left out.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.alerts.test_links_runbook import github_anchors

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!-- demo-output: (\S+) (\d{4}-\d\d-\d\d) -->\n```[^\n]*\n(.*?)\n```", re.S)
ONE_TABLE = "[monitors.phase_stalls]\nlookback_days = 1\n"
"""check-config's example of a file with only one monitor's table (docs/configuration.md)."""


def normalise(text: str, today: date) -> str:
    for offset in range(-70, 3):
        day = today + timedelta(days=offset)
        text = text.replace(day.isoformat(), f"{{D{offset:+d}}}").replace(day.strftime("%Y%m%d"), f"{{C{offset:+d}}}")
    text = re.sub(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b", "Ddd", text)
    text = re.sub(r"\bE[SD]T\b", "ET", text)
    text = re.sub(r"\d\d:\d\d UTC", "hh:mm UTC", text)
    return re.sub(r"T\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", "Thh:mm:ssZ", text)


def quotes() -> list[tuple[str, str, str, str]]:
    """(doc, name, reference date, block) for every marked quote of the docs."""
    found = []
    for doc in DOCS:
        for match in MARKER.finditer(doc.read_text(encoding="utf-8")):
            found.append((doc.relative_to(ROOT).as_posix(), match.group(1), match.group(2), match.group(3)))
    return found


def _run(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode in (0, 2), done.stderr[-2000:]
    return done.stdout + done.stderr


HTTP_DRY_RUN = """
import sys, functions_framework
app = functions_framework.create_app(target="run_canary", source=sys.argv[1])
print(app.test_client().get("/?dry_run=true&now=" + sys.argv[2]).get_data(as_text=True))
"""


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[date, dict[str, str]]:
    """One fresh demo (in a temporary CANARY_LOCAL_DIR) and the commands the docs quote, run on it."""
    folder = tmp_path_factory.mktemp("demo-figures")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANARY_") and k != "FIRESTORE_EMULATOR_HOST"}
    env["CANARY_LOCAL_DIR"] = str(folder / ".canary")
    out: dict[str, str] = {"demo": _run("demo", env=env, cwd=folder)}
    now = re.search(r"--now (\S+)\)", out["demo"]).group(1)
    today = date.fromisoformat(now[:10]) if now.endswith("T23:30:00Z") or now.endswith("T22:30:00Z") else None
    assert today is not None, now
    window = ("--from", (today - timedelta(days=7)).isoformat(), "--to", today.isoformat())
    out["replay"] = _run("replay", *window, env=env, cwd=folder)
    proposed = folder / "proposed.toml"
    proposed.write_text((ROOT / "canary.toml").read_text().replace('max_delay = "60m"', 'max_delay = "20m"'))
    out["replay-20m"] = _run("replay", *window, "--config", str(proposed), env=env, cwd=folder)
    out["replay-stalls"] = _run("replay", "--from", (today - timedelta(days=1)).isoformat(), "--to", today.isoformat(),
                                "--monitors", "phase_stalls", env=env, cwd=folder)
    served = subprocess.run(
        [sys.executable, "-c", HTTP_DRY_RUN, str(ROOT / "main.py"), now], env=env, cwd=folder, capture_output=True,
        text=True, timeout=300,
    )
    out["http-dry-run"] = served.stdout + served.stderr
    out["check-config"] = _run("check-config", str(ROOT / "canary.toml"), env=env, cwd=ROOT)
    (folder / "one.toml").write_text(ONE_TABLE)
    out["check-config-one-table"] = _run("check-config", "one.toml", env=env, cwd=folder)
    later = (datetime.fromisoformat(now) + timedelta(hours=2)).isoformat()
    out["run-later"] = _run("run", "--now", later, env=env, cwd=folder)
    out["incidents-later"] = _run("incidents", env=env, cwd=folder)
    return today, {name: normalise(text, today) for name, text in out.items()}


def test_the_docs_quote_the_demo() -> None:
    names = {name for _, name, _, _ in quotes()}
    assert {"demo", "replay", "http-dry-run", "check-config-one-table"} <= names, names


@pytest.mark.parametrize("doc, name, taken, block", quotes(), ids=[f"{d}:{n}:{i}" for i, (d, n, _, _) in enumerate(quotes())])
def test_every_quoted_line_is_what_the_program_prints(outputs, doc: str, name: str, taken: str, block: str) -> None:
    _, printed = outputs
    assert name in printed, f"{doc}: unknown demo-output {name!r} (known: {', '.join(printed)})"
    lines = printed[name].splitlines()
    at = 0
    for quoted in normalise(block, date.fromisoformat(taken)).splitlines():
        if quoted.strip() == "...":
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in quoted.rstrip().split("...")))
        hit = next((i for i in range(at, len(lines)) if pattern.fullmatch(lines[i].rstrip())), None)
        assert hit is not None, f"{doc} ({name}): not printed (in this order): {quoted!r}"
        at = hit + 1


def test_normalising_keeps_the_figures() -> None:
    line = "DIGEST Daily digest for Sat 2026-12-05: 6 open incident(s) ... 8 game(s) 19:00 EST (00:00 UTC)"
    assert normalise(line, date(2026, 12, 5)) == "DIGEST Daily digest for Ddd {D+0}: 6 open incident(s) ... 8 game(s) 19:00 ET (hh:mm UTC)"
    assert normalise(line, date(2026, 12, 5)) != normalise(line.replace("6 open", "7 open"), date(2026, 12, 5))
    assert json.dumps(normalise("2026-12-05T23:30:00Z", date(2026, 12, 5))) == '"{D+0}Thh:mm:ssZ"'


# --- links between the docs ---------------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")


def links() -> list[tuple[str, str]]:
    return [
        (doc.relative_to(ROOT).as_posix(), target)
        for doc in DOCS
        for target in LINK.findall(doc.read_text(encoding="utf-8"))
        if not target.startswith(("http://", "https://", "mailto:"))
    ]


def test_the_docs_link_each_other() -> None:
    assert len(links()) > 20


@pytest.mark.parametrize("doc, target", links())
def test_a_link_lands_on_a_file_and_heading(doc: str, target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (ROOT / doc).parent / path if path else ROOT / doc
    assert file.exists(), f"{doc}: link to {target}: no file {file.relative_to(ROOT)}"
    if anchor:
        assert anchor in github_anchors(file.read_text(encoding="utf-8")), f"{doc}: link to {target}: no such heading"
