"""How Slack shows an alert: pure Block Kit rendering (slack_sdk models) with a plain `text` fallback.

Everything that came from the warehouse or an API goes through `inert()`, so a value is shown as text
and nothing else: a processor named `<!channel>` pings nobody, and a game id holding a line break and
`*Fix*` cannot add a block of its own. Every piece is cut to Slack's limits with a visible note.

Slack documents only `&`, `<` and `>` as control characters to escape
(https://api.slack.com/reference/surfaces/formatting#escaping); its mrkdwn has no escape for `*`, `_`,
`~` or backticks (https://api.slack.com/reference/surfaces/formatting#basics), so those are replaced by
look-alikes, and mrkdwn text objects are `verbatim` (no auto-linking of URLs or channel names:
https://api.slack.com/reference/block-kit/composition-objects#text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from alerts.group import AlertGroup, group_headline, group_why_now, member_line, render_group_text
from alerts.message import AlertMessage
from alerts.render_text import REASON_MARK, SEVERITY_MARK, headline, render_text, visible_controls
from core.model import Reason

MAX_BLOCKS = 50
"""Blocks in one message."""
MAX_SECTION_TEXT = 3000
"""Characters in a section's (or a context element's) text."""
MAX_HEADER_TEXT = 150
"""Characters in a header block's plain text."""
MAX_FIELD_TEXT = 2000
"""Characters in one section field."""
MAX_FALLBACK_TEXT = 4000
"""Characters of the `text` fallback Slack shows in notifications (it truncates past 40,000)."""

TRUNCATED = "… (truncated)"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_REASON_EMOJI = {Reason.FIRST: ":rotating_light:", Reason.REPEAT: ":repeat:", Reason.RESOLVED: ":white_check_mark:"}


@dataclass(frozen=True)
class SlackMessage:
    """The `text` and `blocks` arguments of chat.postMessage / chat.update."""

    text: str
    blocks: list[Block]

    def to_dict(self) -> dict[str, Any]:
        """The JSON Slack receives; slack_sdk validates every block's limits here."""
        return {"text": self.text, "blocks": [block.to_dict() for block in self.blocks]}


def escape(text: str) -> str:
    """Slack's three control characters as entities: data can neither mention nor link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LOOKALIKES = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "\u02cb"})
"""Bold, strike and code markers as look-alikes (asterisk operator, tilde operator, modifier grave)."""
_FORMATTING_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
"""An underscore that could open or close italics; one inside a word (phase_4_precompute) cannot, and stays."""


def inert(value: object) -> str:
    """A source value made inert for Slack mrkdwn: one line (controls shown as escapes), no mention or
    link (`& < >` as entities), no bold, italics, strike or code (look-alike characters)."""
    text = escape(visible_controls(str(value))).translate(_LOOKALIKES)
    return _FORMATTING_UNDERSCORE.sub("\u02cd", text)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with a visible note; an escaped entity is never split."""
    if len(text) <= limit:
        return text
    kept = _PARTIAL_ENTITY.sub("", text[: limit - len(TRUNCATED)])
    return kept + TRUNCATED


def _section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(mrkdwn, MAX_SECTION_TEXT), verbatim=True))


def _header(text: str) -> HeaderBlock:
    # Plain text is not parsed for mentions; look-alike angle quotes make sure no client ever does.
    plain = visible_controls(text).replace("<", "\u2039").replace(">", "\u203a")
    return HeaderBlock(text=PlainTextObject(text=clip(plain, MAX_HEADER_TEXT), emoji=True))


def _context(mrkdwn: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(mrkdwn, MAX_SECTION_TEXT), verbatim=True)])


def _fallback(text: str) -> str:
    # The fallback is parsed as mrkdwn too (and shown in push notifications): its values come in inert.
    return clip(text, MAX_FALLBACK_TEXT)


def _code(text: str) -> str:
    """A code block: inside it only a backtick (which could close it) and line breaks matter."""
    return "```" + escape(visible_controls(text)).replace("`", "\u02cb") + "```"


def _where_line(message: AlertMessage) -> str:
    return ", ".join(f"{inert(name)}=`{inert(value)}`" for name, value in message.where)


def _title(message: AlertMessage) -> str:
    """The header: reason, severity and monitor; the finding's own title follows in bold below it."""
    emoji = _REASON_EMOJI[message.reason] if message.reason is Reason.RESOLVED else _SEVERITY_EMOJI[message.severity.value]
    test = "[TEST] " if message.synthetic else ""
    return f"{emoji} {test}{REASON_MARK[message.reason]} {SEVERITY_MARK[message.severity.value]} {message.monitor}"


def _footer(message: AlertMessage) -> ContextBlock:
    parts = [f"fingerprint `{inert(message.fingerprint)}`"]
    if message.first_notified and message.reason is not Reason.FIRST:
        parts.append(f"first notified {message.first_notified:%Y-%m-%d %H:%M} UTC")
    if message.synthetic:
        parts.append("synthetic test alert: nothing is wrong")
    return _context(" · ".join(parts))


def render_alert(message: AlertMessage) -> SlackMessage:
    """A notice: the parent of a new incident, or a repeat / resolved reply in its thread."""
    fields = [
        MarkdownTextObject(text=f"*Severity*\n{message.severity.value}", verbatim=True),
        MarkdownTextObject(text=clip(f"*Monitor*\n{inert(message.monitor)}", MAX_FIELD_TEXT), verbatim=True),
    ]
    if message.since:
        fields.append(MarkdownTextObject(text=f"*Since*\n{message.since:%Y-%m-%d %H:%M} UTC", verbatim=True))
    blocks: list[Block] = [
        _header(_title(message)),
        SectionBlock(text=MarkdownTextObject(text=clip(f"*{inert(message.title)}*\n*Where:* {_where_line(message)}", MAX_SECTION_TEXT), verbatim=True), fields=fields),
    ]
    if message.evidence:
        blocks.append(_section(f"*Evidence*\n{inert(message.evidence)}"))
    if message.facts:
        blocks.append(_section("\n".join(f"*{inert(name)}:* {inert(value)}" for name, value in message.facts)))
    if message.fix:
        blocks.append(_section(f"*Fix*\n{_code(message.fix)}"))
    blocks.append(_context(f"*Why now:* {inert(message.why_now)}"))
    blocks.append(_footer(message))
    return SlackMessage(text=_fallback(render_text(message, inert)), blocks=blocks)


def render_resolved_parent(message: AlertMessage) -> SlackMessage:
    """The incident's parent message after it resolved (chat.update): what it was and how long it lasted."""
    blocks: list[Block] = [
        _header(_title(message)),
        _section(f"*{inert(message.title)}*\n*Where:* {_where_line(message)}"),
        _context(f"*{inert(message.why_now)}*. The thread below holds the incident's history."),
        _footer(message),
    ]
    return SlackMessage(text=_fallback(headline(message, inert) + f" ({inert(message.why_now)})"), blocks=blocks)


def _member_sections(lines: Sequence[str], *, room: int) -> list[Block]:
    """Bulleted lines packed into at most `room` sections; what does not fit is counted in a last line."""
    sections: list[str] = []
    current = ""
    for index, line in enumerate(lines):
        bullet = "• " + clip(line, MAX_SECTION_TEXT - 200)
        if current and len(current) + 1 + len(bullet) <= MAX_SECTION_TEXT - 100:
            current += "\n" + bullet
            continue
        if current:
            sections.append(current)
        if len(sections) == room:
            sections[-1] += f"\n_…and {len(lines) - index} more, listed in the run report and in this thread_"
            current = ""
            break
        current = bullet
    if current:
        sections.append(current)
    return [_section(text) for text in sections]


def render_group(group: AlertGroup, *, parent_edit: bool = False) -> SlackMessage:
    """Many notices of one reason as one message: a summary parent, or one reply in a shared thread."""
    emoji = _REASON_EMOJI[group.reason] if group.reason is Reason.RESOLVED else _SEVERITY_EMOJI[group.severity.value]
    why = "every alert listed here resolved; the thread below holds their history" if parent_edit else group_why_now(group)
    head: list[Block] = [_header(f"{emoji} {group_headline(group)}")]
    tail: list[Block] = [_context(f"*Why now:* {inert(why)}")]
    if group.synthetic:
        tail.append(_context("synthetic test alerts: nothing is wrong"))
    room = MAX_BLOCKS - len(head) - len(tail) - 1  # one divider
    lines = [member_line(m, inert) for m in group.ordered]
    blocks = head + [DividerBlock()] + _member_sections(lines, room=room) + tail
    return SlackMessage(text=_fallback(render_group_text(group, inert)), blocks=blocks)
