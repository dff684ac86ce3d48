"""Plain-text rendering of an AlertMessage: the console view and Slack's `text` fallback.

Values in a message come from sources (a processor name, a game id, an IAM condition title) and are
data: `inert_text` shows every control character as an escape (`\\n`, `\\x1b`), so a value can neither
start a line of its own (a forged "fix:") nor send a terminal escape sequence (colours, a hidden
OSC 8 hyperlink, a cleared screen) to the operator's console.

The homes for making source and stored text inert, one per output: `inert_text` here for the console
and log text, `json_line` here for JSON lines (notifications.jsonl, the structured log), and
`alerts.render_slack.inert` for Slack mrkdwn. Every path that shows such text goes through one of them.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from alerts.message import AlertMessage, when
from core.environment import is_production
from core.model import Reason

SEVERITY_MARK = {"critical": "[CRITICAL]", "warning": "[WARNING]", "info": "[INFO]"}
REASON_MARK = {Reason.FIRST: "FIRING", Reason.REPEAT: "STILL FIRING", Reason.RESOLVED: "RESOLVED"}
UNVERIFIED_MARK = "NO LONGER CHECKED"
"""An incident closed without being seen healthy: never shown as resolved."""


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff]")
"""C0 and C1 controls (ESC, CSI, line breaks, tabs), Unicode line/paragraph separators, zero-width and
bidirectional controls (which can reorder what a reader sees); lone surrogates (no encoder writes them)."""

Clean = Callable[[str], str]


def visible_controls(text: str) -> str:
    """Each control character as a visible escape: '\\n', '\\x1b', '\\u202e'."""
    def show(match: re.Match[str]) -> str:
        char = match.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (
            f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
        )

    return _CONTROL.sub(show, text)


def inert_text(value: object) -> str:
    """A source value made inert for a console or a log file: one line, no escape sequences."""
    return visible_controls(str(value))


def json_line(value: Any) -> str:
    """`value` as one JSON line, readable (non-ASCII kept) yet inert: every control character, line or
    paragraph separator (U+2028, U+0085) and bidirectional control (U+202E) is a `\\uXXXX` escape, so no
    line-splitting reader sees two lines and no viewer reorders what it shows."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    # json.dumps escapes C0 controls itself; the rest can only occur inside strings, where \\uXXXX is valid JSON.
    return _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def environment_tag(environment: str) -> str:
    """'[staging] ' before everything a non-production canary sends; '' in production."""
    return "" if is_production(environment) else f"[{environment}] "


def for_environment(text: str, environment: str) -> str:
    """A rendered text (console, file, Slack fallback) that says which environment it comes from."""
    return environment_tag(environment) + text


def reason_mark(message: AlertMessage) -> str:
    return UNVERIFIED_MARK if message.unverified else REASON_MARK[message.reason]


def headline(message: AlertMessage, clean: Clean = inert_text) -> str:
    test = "[TEST] " if message.synthetic else ""
    impact = f"{clean(message.impact)}: " if message.impact else ""
    return f"{test}{reason_mark(message)} {SEVERITY_MARK[message.severity.value]} {impact}{clean(message.monitor)}: {clean(message.title)}"


def render_text(message: AlertMessage, clean: Clean = inert_text) -> str:
    """The console view; `clean` makes each value inert for where the text is shown."""
    lines = [headline(message, clean)]
    lines.append("  where: " + ", ".join(f"{clean(name)}={clean(value)}" for name, value in message.where))
    if message.since:
        lines.append(f"  since: {when(message.since, message.zone)}")
    if message.evidence:
        lines.append(f"  evidence: {clean(message.evidence)}")
    for name, value in message.facts:
        lines.append(f"  {clean(name)}: {clean(value)}")
    if message.fix:
        lines.append(f"  fix: {clean(message.fix)}")
    if message.cause:
        lines.append(f"  caused by: {clean(message.cause)}")
    if message.affects:
        lines.append("  also affected:")
        lines += [f"    - {clean(line)}" for line in message.affects]
    if message.check:
        lines.append(f"  check: {clean(message.check)}")
    for label, url in message.links:
        lines.append(f"  {clean(label)}: {clean(url)}")
    lines.append(f"  why now: {clean(message.why_now)}")
    lines.append(f"  fingerprint: {clean(message.fingerprint)}")
    return "\n".join(lines)
