"""How Slack shows the daily digest: Block Kit (slack_sdk models, imported only where Slack is used)."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from alerts.digest import MAX_INCIDENTS_LISTED, Digest, incident_line, latency_lines, render_digest_text, slate_line
from alerts.message import when
from alerts.render_slack import MAX_BLOCKS, SlackMessage, _context, _fallback, _header, _section, escape, inert, link


def render_digest_slack(digest: Digest) -> SlackMessage:
    """The digest in Block Kit: a header that says all clear (or how many are open), then the sections."""
    emoji = ":large_green_circle:" if digest.all_clear else ":clipboard:"
    blocks: list[Block] = [_header(f"{emoji} {digest.title}")]
    if digest.all_clear:
        blocks.append(_section("*All clear*: no open incident, and every monitor answered."))
    else:
        lines = []
        for incident in digest.incidents[:MAX_INCIDENTS_LISTED]:
            line = inert(incident_line(incident, digest.zone, digest.now))
            lines.append(f"• {line} {link(incident.thread_url, 'thread')}" if incident.thread_url else f"• {line}")
        if len(digest.incidents) > MAX_INCIDENTS_LISTED:
            lines.append(f"_…and {len(digest.incidents) - MAX_INCIDENTS_LISTED} more, each in its own thread_")
        blocks += [_section("*Open incidents*\n" + "\n".join(chunk)) for chunk in _chunks(lines, 10)]
    blocks.append(_section(escape(slate_line(digest))))
    latency = latency_lines(digest)
    blocks.append(_section(f"*{escape(latency[0])}*\n" + "\n".join(escape(line) for line in latency[1:])))
    outcomes = "\n".join(
        f"• {escape(m.name)}: `{m.outcome.value}`" + (f" ({inert(m.note)})" if m.note else "") for m in digest.monitors
    )
    blocks.append(_section(f"*Monitors in this run*\n{outcomes}"))
    if digest.problems:
        blocks.append(_section("*Could not read*\n" + "\n".join(f"• {inert(p)}" for p in digest.problems)))
    blocks.append(_context(f"as of {when(digest.now, digest.zone)} · fingerprint `{escape(digest.fingerprint)}`"))
    return SlackMessage(text=_fallback(render_digest_text(digest, clean=inert)), blocks=blocks[:MAX_BLOCKS])


def _chunks(lines: list[str], size: int) -> list[list[str]]:
    return [lines[i : i + size] for i in range(0, len(lines), size)] or [[]]
