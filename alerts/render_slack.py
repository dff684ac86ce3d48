"""How Slack shows an alert: pure Block Kit rendering (slack_sdk models) with a plain `text` fallback.

Everything that came from the warehouse or an API is escaped for mrkdwn, so a processor named
`<!channel>` reads as text and pings nobody; every piece is cut to Slack's limits with a visible note.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from slack_sdk.models.blocks import (
    ActionsBlock, Block, ButtonElement, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, PlainTextObject,
    SectionBlock,
)

from alerts.acted import ParentView, Standing
from alerts.group import AlertGroup, group_headline, group_why_now, member_line, render_group_text
from alerts.links import RUNBOOK_LABEL
from alerts.message import AlertMessage, when
from alerts.render_text import SEVERITY_MARK, environment_tag, headline, reason_mark, render_text, visible_controls
from core.config import SLACK_USER_ID
from core.model import Reason, Shown, ShownFact, ShownLink

MAX_BLOCKS = 50
"""Blocks in one message: "You can include up to 50 blocks in each message"
(https://docs.slack.dev/reference/block-kit/blocks); more is refused with `invalid_blocks`."""
MAX_BLOCKS_TEXT = 12_000
"""Characters of text in all of a message's blocks together. Undocumented: Slack refuses longer block
text with `msg_blocks_too_long`, reported at ~13,200 characters (slackapi/bolt-js#2509; 12,000 is the
figure its reporter read for one markdown block). A summary is split into several messages below it."""
BLOCKS_TEXT_BUDGET = MAX_BLOCKS_TEXT - 1_000
"""What one part of a split summary may fill: a margin under MAX_BLOCKS_TEXT for the header and footer."""
MAX_SECTION_TEXT = 3000
"""Characters in a section's (or a context element's) text."""
MAX_HEADER_TEXT = 150
"""Characters in a header block's plain text."""
MAX_FIELD_TEXT = 2000
"""Characters in one section field."""
MAX_FALLBACK_TEXT = 4000
"""Characters of the `text` fallback Slack shows in notifications (it truncates past 40,000)."""

# Block Kit's button and actions limits (https://docs.slack.dev/reference/block-kit/block-elements/button-element,
# https://docs.slack.dev/reference/block-kit/blocks/actions-block): slack_sdk refuses a block past them.
MAX_BUTTON_TEXT = 75
"""Characters of a button's plain_text label."""
MAX_BUTTON_VALUE = 2000
"""Characters of a button's value (here: the incident's fingerprint, nothing else)."""
MAX_ACTION_ID = 255
"""Characters of an action_id."""
MAX_BUTTON_URL = 3000
"""Characters of a link button's url."""
MAX_ACTIONS_ELEMENTS = 25
"""Elements in one actions block."""
MAX_BLOCK_ID = 255
"""Characters of a block_id; it "should be unique for each message and each iteration of a message. If a message
is updated, use a new block_id" (https://docs.slack.dev/reference/block-kit/blocks/actions-block)."""
BLOCKS_PER_BUTTONED_MEMBER = 2
"""A summary's member with buttons: its section and its actions block (action_ids are unique per block, so
each member's block can carry the same ack/silence ids, valued with its own fingerprint)."""
CLI = ("python", "main.py")
"""How an alert names this canary's command line (as its other fixes do): run where main.py reaches the alert state."""

ACTIONS = {
    "ack": "Acknowledge", "unack": "Unacknowledge", "silence_2h": "Silence 2 h", "silence_8h": "Silence 8 h",
    "unsilence": "Unsilence",
}
"""The buttons slack_actions handles (action_id -> label); the runbook button is a link it ignores."""
RUNBOOK_ACTION = "runbook"
ACTIONS_BLOCK_ID = "canary_actions"

TRUNCATED = "… (truncated)"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_REASON_EMOJI = {Reason.FIRST: ":rotating_light:", Reason.REPEAT: ":repeat:", Reason.RESOLVED: ":white_check_mark:"}
_UNVERIFIED_EMOJI = ":grey_question:"


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


_SHORTCODE = re.compile(r"(?:(?<=[0-9])|(?<![0-9])()):(?=([A-Za-z0-9_+'.-]+):)")
"""A colon that opens an emoji shortcode (`:white_check_mark:`, `:+1::skin-tone-2:`): Slack renders
`:name:` as an emoji in mrkdwn, verbatim or not (https://docs.slack.dev/messaging/formatting-message-text)."""


def _shortcode_opener(match: re.Match[str]) -> str:
    # A clock's colons (23:30:00) stay: digits on both sides are a time, not an emoji name.
    after_digit = match.group(1) is None
    return ":" if after_digit and match.group(2).isdigit() else "\u2236"


def inert(value: object) -> str:
    """A source value made inert for Slack mrkdwn (the one place for it): one line (controls shown as
    escapes), no mention or link (`& < >` as entities), no bold, italics, strike or code, and no emoji
    (look-alike characters: the ratio sign for a shortcode's opening colon)."""
    text = escape(visible_controls(str(value))).translate(_LOOKALIKES)
    text = _SHORTCODE.sub(_shortcode_opener, text)
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


CODE_FENCE = "```"


def _code_section(title: str, text: str) -> SectionBlock:
    """A titled code block in one section: inside it only a backtick (which could close it) and line breaks
    matter; a long text is clipped inside the fences, so the block always closes within MAX_SECTION_TEXT."""
    head = f"*{title}*\n{CODE_FENCE}"
    body = clip(escape(visible_controls(text)).replace("`", "\u02cb"), MAX_SECTION_TEXT - len(head) - len(CODE_FENCE))
    return _section(head + body + CODE_FENCE)


def _where_line(message: AlertMessage) -> str:
    return ", ".join(f"{inert(name)}=`{inert(value)}`" for name, value in message.where)


def _title(message: AlertMessage) -> str:
    """The header: reason, severity and monitor; the finding's own title follows in bold below it."""
    if message.unverified:
        emoji = _UNVERIFIED_EMOJI
    elif message.reason is Reason.RESOLVED:
        emoji = _REASON_EMOJI[message.reason]
    else:
        emoji = _SEVERITY_EMOJI[message.severity.value]
    test = "[TEST] " if message.synthetic else ""
    impact = f"{message.impact} ({message.monitor})" if message.impact else message.monitor
    return f"{emoji} {test}{reason_mark(message)} {SEVERITY_MARK[message.severity.value]} {impact}"


def link(url: str, label: str) -> str:
    """A mrkdwn link; both parts escaped, so neither can close it early, choose its label or add another."""
    return f"<{escape(visible_controls(url)).replace('|', '%7C')}|{escape(label).replace('|', '/')}>"


def _links(message: AlertMessage) -> SectionBlock | None:
    if not message.links:
        return None
    return _section("*Links:* " + " · ".join(link(url, label) for label, url in message.links))


def _evidence(message: AlertMessage) -> SectionBlock | None:
    return _section(f"*Evidence*\n{inert(message.evidence)}") if message.evidence else None


def _fix(message: AlertMessage) -> SectionBlock | None:
    return _code_section("Fix", message.fix) if message.fix else None


def _facts(message: AlertMessage) -> SectionBlock | None:
    if not message.facts:
        return None
    return _section("\n".join(f"*{inert(name)}:* {inert(value)}" for name, value in message.facts))


def _fitting(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs that start within one section's MAX_SECTION_TEXT characters, each cut to it: the section shows no
    more (rendering only lengthens text: escapes, entities), so it reads the same from what is kept."""
    kept: list[tuple[str, str]] = []
    room = MAX_SECTION_TEXT
    for first, second in pairs:
        if room <= 0:
            break
        kept.append((first[:MAX_SECTION_TEXT], second[:MAX_SECTION_TEXT]))
        room -= len(first) + len(second)
    return kept


def shown_of(message: AlertMessage) -> Shown | None:
    """What a notice's parent shows that its record does not otherwise hold (evidence, details, fix, links), for the
    record: a parent rebuilt from it (alerts/acted.py parent_message) renders them with the same helpers. Each text
    is cut to MAX_SECTION_TEXT, past which its section is clipped anyway (so the parent reads the same), the details
    and the links to those a section of MAX_SECTION_TEXT can show: a few KiB in a Firestore document or SQLite row."""
    facts = [ShownFact(name=name, value=value) for name, value in _fitting(message.facts)]
    links = [ShownLink(label=label, url=url) for label, url in _fitting(message.links)]
    if not (message.evidence or facts or message.fix or links):
        return None
    return Shown(
        evidence=message.evidence[:MAX_SECTION_TEXT] if message.evidence else None,
        facts=facts,
        fix=message.fix[:MAX_SECTION_TEXT] if message.fix else None,
        links=links,
    )


def _footer(message: AlertMessage) -> ContextBlock:
    parts = [f"fingerprint `{inert(message.fingerprint)}`"]
    if message.first_notified and message.reason is not Reason.FIRST:
        parts.append(f"first notified {when(message.first_notified, message.zone)}")
    if message.synthetic:
        parts.append("synthetic test alert: nothing is wrong")
    return _context(" · ".join(parts))


def for_environment_slack(rendered: SlackMessage, environment: str) -> SlackMessage:
    """Any message of a non-production canary names its environment first: in its header and its fallback."""
    tag = environment_tag(environment)
    if not tag:
        return rendered
    blocks = list(rendered.blocks)
    if blocks and isinstance(blocks[0], HeaderBlock) and blocks[0].text is not None:
        blocks[0] = _header(tag + blocks[0].text.text)
    else:
        blocks.insert(0, _context(escape(tag.strip())))
    return SlackMessage(text=_fallback(escape(tag) + rendered.text), blocks=blocks)


@dataclass(frozen=True)
class Controls:
    """The buttons on an incident's parent: which of them depends on what was done to it; `lines` say who has
    it ('Acknowledged by <@U> at ...', 'Silenced by <@U> until ...'), mrkdwn made inert by their maker."""

    acknowledged: bool = False
    silenced: bool = False
    lines: tuple[str, ...] = field(default_factory=tuple)


def controls_of(standing: Standing, zone: Any) -> Controls:
    """What a parent shows of an incident's standing (alerts/acted.py): the one conversion every parent edit uses."""
    return Controls(acknowledged=standing.acknowledged, silenced=standing.silenced, lines=tuple(standing.lines(who, zone)))


def actions_block_id(fingerprint: str, controls: Controls) -> str:
    """One per incident and per state of its buttons, so an edited message never reuses a block_id for other buttons."""
    state = ("a" if controls.acknowledged else "-") + ("s" if controls.silenced else "-")
    return f"{ACTIONS_BLOCK_ID}:{fingerprint}:{state}"[:MAX_BLOCK_ID]


def action_buttons(message: AlertMessage, controls: Controls) -> ActionsBlock:
    """Acknowledge (or Unacknowledge), Silence 2 h and 8 h (or Unsilence), and the runbook as a link button.

    Each value is the fingerprint and nothing else: slack_actions acts on the record it names."""
    ids = ["unack" if controls.acknowledged else "ack"]
    ids += ["unsilence"] if controls.silenced else ["silence_2h", "silence_8h"]
    elements = [
        ButtonElement(text=PlainTextObject(text=clip(ACTIONS[i], MAX_BUTTON_TEXT)), action_id=i,
                      value=message.fingerprint[:MAX_BUTTON_VALUE], style="primary" if i == "ack" else None)
        for i in ids
    ]
    runbook = next((url for label, url in message.links if label == RUNBOOK_LABEL), None)
    if runbook is not None and len(runbook) <= MAX_BUTTON_URL:
        elements.append(ButtonElement(text=PlainTextObject(text=RUNBOOK_LABEL), action_id=RUNBOOK_ACTION, url=runbook))
    return ActionsBlock(block_id=actions_block_id(message.fingerprint, controls), elements=elements[:MAX_ACTIONS_ELEMENTS])


def who(by: str) -> str:
    """Who acted, for mrkdwn: a Slack member as a mention (`slack:U123` -> <@U123>), anyone else as inert text."""
    member = by.removeprefix("slack:")
    if by.startswith("slack:") and SLACK_USER_ID.match(member):
        return f"<@{member}>"
    return inert(by)


def render_note_subject(message: AlertMessage) -> str:
    """Which incident a reply in a shared thread (a summary's, a cause's) is about: monitor, title, fingerprint."""
    return clip(f"*{inert(message.monitor)}*: {inert(message.title)} (`{inert(message.fingerprint)}`)", MAX_SECTION_TEXT // 2)


def render_note(line: str) -> SlackMessage:
    """A one-line reply whose mrkdwn was made inert by its maker (who acted on an incident)."""
    return SlackMessage(text=_fallback(line), blocks=[_section(line)])


def render_alert(message: AlertMessage, *, controls: Controls | None = None) -> SlackMessage:
    """A notice: the parent of a new incident, or a repeat / resolved reply in its thread (a parent with
    `controls` carries the action buttons)."""
    fields = [
        MarkdownTextObject(text=f"*Severity*\n{message.severity.value}", verbatim=True),
        MarkdownTextObject(text=clip(f"*Monitor*\n{inert(message.monitor)}", MAX_FIELD_TEXT), verbatim=True),
    ]
    if message.since:
        fields.append(MarkdownTextObject(text=f"*Since*\n{when(message.since, message.zone)}", verbatim=True))
    blocks: list[Block] = [
        _header(_title(message)),
        SectionBlock(text=MarkdownTextObject(text=clip(f"*{inert(message.title)}*\n*Where:* {_where_line(message)}", MAX_SECTION_TEXT), verbatim=True), fields=fields),
    ]
    blocks += [b for b in (_evidence(message), _facts(message), _fix(message)) if b is not None]
    if message.cause:
        blocks.append(_section(f"*Caused by*\n{inert(message.cause)}"))
    if message.affects:
        blocks.append(_section("*Also affected*\n" + "\n".join(f"• {inert(line)}" for line in message.affects)))
    if message.check:
        blocks.append(_section(f"*It may still be real*\n{inert(message.check)}"))
    links = _links(message)
    if links is not None:
        blocks.append(links)
    blocks.append(_context(f"*Why now:* {inert(message.why_now)}"))
    if controls is not None and not message.synthetic:
        if controls.lines:
            blocks.append(_context("\n".join(controls.lines)))
        blocks.append(action_buttons(message, controls))
    blocks.append(_footer(message))
    return SlackMessage(text=_fallback(render_text(message, inert)), blocks=blocks)


def render_brief_parent(message: AlertMessage, *, controls: Controls, note: str | None = None) -> SlackMessage:
    """An incident's parent rebuilt from its record (a click has no finding at hand): what is open, since when,
    what its record kept of its latest notice (evidence, details, fix, links: absent in a record from before they
    were kept), who has it, and the buttons that apply. `note` (mrkdwn made inert by its maker): what was just ended."""
    lines = [*controls.lines, *([note] if note else [])]
    blocks: list[Block] = [
        _header(_title(message)),
        _section(f"*{inert(message.title)}*\n*Where:* {_where_line(message)}"),
    ]
    if message.since:
        blocks.append(_context(f"*Since* {when(message.since, message.zone)}"))
    blocks += [b for b in (_evidence(message), _facts(message), _fix(message)) if b is not None]
    # The runbook alone is its button already; other links are listed as the first notice listed them.
    links = _links(message) if any(label != RUNBOOK_LABEL for label, _ in message.links) else None
    if links is not None:
        blocks.append(links)
    if lines:
        blocks.append(_context(clip("\n".join(lines), MAX_SECTION_TEXT)))
    blocks += [action_buttons(message, controls), _footer(message)]
    said = f" ({'; '.join(lines)})" if lines else ""
    return SlackMessage(text=_fallback(headline(message, inert) + said), blocks=blocks)


def render_parent(parent: ParentView, *, note: str | None = None) -> SlackMessage:
    """Every edit of a parent that is still open: one incident or a summary, each open incident with its current
    standing (who has it, the buttons that apply) as the stored acknowledgements and silences say."""
    if parent.group is not None:
        zone = parent.group.members[0].zone
        controls = {fp: controls_of(standing, zone) for fp, standing in parent.standings.items()}
        return render_group_parent(parent.group, controls=controls)
    message = parent.message
    assert message is not None
    standing = parent.standings.get(message.fingerprint)
    controls = controls_of(standing, message.zone) if standing is not None else Controls()
    if parent.brief:
        return render_brief_parent(message, controls=controls, note=note)
    return render_alert(message, controls=controls)


def render_resolved_parent(message: AlertMessage) -> SlackMessage:
    """The incident's parent message after it resolved (chat.update): what it was and how long it lasted."""
    blocks: list[Block] = [
        _header(_title(message)),
        _section(f"*{inert(message.title)}*\n*Where:* {_where_line(message)}"),
        _context(f"*{inert(message.why_now)}*. The thread below holds the incident's history."),
    ]
    if message.check:
        blocks.append(_section(f"*It may still be real*\n{inert(message.check)}"))
    blocks.append(_footer(message))
    return SlackMessage(text=_fallback(headline(message, inert) + f" ({inert(message.why_now)})"), blocks=blocks)


def _member_sections(lines: Sequence[str], *, room: int) -> list[Block]:
    """Bulleted lines packed into at most `room` sections; what does not fit is counted in a last line."""
    sections = _pack_sections(lines)
    if len(sections) > room:
        listed = sum(len(text.split("\n")) for text in sections[:room])
        sections = sections[:room]
        sections[-1] += f"\n_…and {len(lines) - listed} more, listed in the run report and in this thread_"
    return [_section(text) for text in sections]


def _pack_sections(lines: Sequence[str]) -> list[str]:
    """Bulleted lines packed into as few section texts as fit (each well under MAX_SECTION_TEXT)."""
    sections: list[str] = []
    current = ""
    for line in lines:
        bullet = "• " + clip(line.replace("\n", " "), MAX_SECTION_TEXT - 200)
        if current and len(current) + 1 + len(bullet) <= MAX_SECTION_TEXT - 100:
            current += "\n" + bullet
            continue
        if current:
            sections.append(current)
        current = bullet
    if current:
        sections.append(current)
    return sections


def _group_frame(group: AlertGroup, *, parent_edit: bool, part: str = "") -> tuple[list[Block], list[Block]]:
    if group.reason is Reason.RESOLVED:
        emoji = _UNVERIFIED_EMOJI if group.unverified else _REASON_EMOJI[group.reason]
    else:
        emoji = _SEVERITY_EMOJI[group.severity.value]
    if parent_edit and group.unverified:
        why = (
            f"every alert listed here closed; {group.unverified} of them are no longer checked, not seen healthy, "
            "and may still be real; the thread below holds their history"
        )
    elif parent_edit:
        why = "every alert listed here resolved; the thread below holds their history"
    else:
        why = group_why_now(group)
    head: list[Block] = [_header(f"{emoji} {group_headline(group)}{part}")]
    tail: list[Block] = [_context(f"*Why now:* {inert(why)}")]
    if group.synthetic:
        tail.append(_context("synthetic test alerts: nothing is wrong"))
    return head, tail


def render_group(group: AlertGroup, *, parent_edit: bool = False) -> SlackMessage:
    """Many notices of one reason as one message (a parent edit: what does not fit is counted, not listed)."""
    head, tail = _group_frame(group, parent_edit=parent_edit)
    room = MAX_BLOCKS - len(head) - len(tail) - 1  # one divider
    room = min(room, BLOCKS_TEXT_BUDGET // MAX_SECTION_TEXT)
    lines = [member_line(m, inert) for m in group.ordered]
    blocks = head + [DividerBlock()] + _member_sections(lines, room=room) + tail
    return SlackMessage(text=_fallback(render_group_text(group, clean=inert)), blocks=blocks)


def render_group_parts(group: AlertGroup, *, members: Sequence[AlertMessage] | None = None, before: int = 0) -> list[SlackMessage]:
    """A summary split into as many messages as Slack's limits need (50 blocks, ~12,000 characters of block
    text): every alert is listed in one of them, worst first; parts after the first say which part they are.
    `members`/`before`: only these, in parts that follow `before` parts already sent (a summary with buttons)."""
    members = group.ordered if members is None else list(members)
    sections = _pack_sections([member_line(m, inert) for m in members])
    head, tail = _group_frame(group, parent_edit=False, part=" (part 9 of 9)")
    frame = sum(len(b.to_dict().get("text", {}).get("text", "")) for b in head) + sum(
        len(e["text"]) for b in tail for e in b.to_dict()["elements"]
    )
    room = MAX_BLOCKS - len(head) - len(tail) - 1
    parts: list[list[str]] = [[]]
    used = frame
    for text in sections:
        if parts[-1] and (len(parts[-1]) == room or used + len(text) > BLOCKS_TEXT_BUDGET):
            parts.append([])
            used = frame
        parts[-1].append(text)
        used += len(text)
    rendered = []
    offset = 0
    for index, texts in enumerate(parts):
        count = sum(text.count("\n") + 1 for text in texts)
        total = len(parts) + before
        label = f" (part {index + 1 + before} of {total})" if total > 1 else ""
        head, tail = _group_frame(group, parent_edit=False, part=label)
        blocks = head + [DividerBlock()] + [_section(text) for text in texts] + tail
        fallback = render_group_text(group, members[offset : offset + count], clean=inert) + label
        rendered.append(SlackMessage(text=_fallback(fallback), blocks=blocks))
        offset += count
    return rendered


def ack_command(fingerprint: str) -> str:
    """`main.py ack` for one incident, runnable as printed."""
    return " ".join([*CLI, "ack", shlex.quote(fingerprint)])


def silence_command(message: AlertMessage, duration: str) -> str:
    """`main.py silence` of exactly this incident (its monitor and every label of its key: the record the
    Silence buttons make), runnable as printed."""
    matchers = [("monitor", message.monitor), *message.where]
    words = [*CLI, "silence"]
    for name, value in matchers:
        words += ["--match", shlex.quote(f"{name}={value}")]
    reason = f"silenced for {duration} from the summary in Slack"
    return " ".join([*words, "--for", shlex.quote(duration), "--reason", shlex.quote(reason)])


def _commands(message: AlertMessage) -> str:
    """The commands in a code block: only a backtick could close it (escaped as _code_section does)."""
    commands = [ack_command(message.fingerprint), silence_command(message, "2h")]
    return CODE_FENCE + "\n".join(escape(visible_controls(c)).replace("`", "\u02cb") for c in commands) + CODE_FENCE


def _member_text(message: AlertMessage, controls: Controls | None) -> str:
    line = clip(member_line(message, inert).replace("\n", " "), MAX_SECTION_TEXT // 3)
    text = f"{line}\nfingerprint `{inert(message.fingerprint)}`"
    if controls is None:
        return text + " · resolved"
    return "\n".join([text, *controls.lines])


def _text_of(blocks: Sequence[Block]) -> int:
    """Characters of text in `blocks`, counted as Slack's msg_blocks_too_long counts them (every text string)."""
    def count(node: Any) -> int:
        if isinstance(node, dict):
            own = len(node["text"]) if isinstance(node.get("text"), str) else 0
            return own + sum(count(v) for v in node.values())
        if isinstance(node, list):
            return sum(count(v) for v in node)
        return 0

    return count([b.to_dict() for b in blocks])


def render_group_parent(group: AlertGroup, *, controls: Mapping[str, Controls]) -> SlackMessage:
    """A summary that is its incidents' parent, with each open incident's buttons (`controls`: fingerprint ->
    its standing; a member without one has resolved and shows none). Worst first, as many members with buttons
    as Slack's limits allow (MAX_BLOCKS, BLOCKS_TEXT_BUDGET); the others are listed with the exact commands
    that acknowledge or silence each, and what still does not fit is counted (render_group_parent_parts lists
    it in the thread)."""
    return render_group_parent_parts(group, controls=controls)[0]


def render_group_parent_parts(group: AlertGroup, *, controls: Mapping[str, Controls]) -> list[SlackMessage]:
    """render_group_parent, then the members it could only count, listed in further parts (its thread's replies)."""
    head, tail = _group_frame(group, parent_edit=False)
    members = group.ordered
    reserved = len(head) + 1 + len(tail) + 2  # the divider; the note on the others and their commands
    used_blocks, used_text = reserved, _text_of(head + tail) + 400
    shown: list[Block] = []
    count = 0
    for member in members:
        own = controls.get(member.fingerprint)
        blocks: list[Block] = [_section(_member_text(member, own))]
        if own is not None and not member.synthetic:
            blocks.append(action_buttons(member, own))
        cost = _text_of(blocks)
        if used_blocks + len(blocks) > MAX_BLOCKS or used_text + cost > BLOCKS_TEXT_BUDGET:
            break
        shown += blocks
        used_blocks += len(blocks)
        used_text += cost
        count += 1
    rest = members[count:]
    body = shown
    if rest:
        listed, texts = 0, [""]
        room = BLOCKS_TEXT_BUDGET - used_text
        for member in rest:
            entry = f"• {clip(member_line(member, inert).replace(chr(10), ' '), 400)}\n{_commands(member)}"
            if len(entry) + 1 > room or len(entry) > MAX_SECTION_TEXT - 100:
                break
            if texts[-1] and len(texts[-1]) + 1 + len(entry) > MAX_SECTION_TEXT - 100:
                if used_blocks + 1 > MAX_BLOCKS:
                    break
                texts.append("")
                used_blocks += 1
            texts[-1] = f"{texts[-1]}\n{entry}" if texts[-1] else entry
            room -= len(entry) + 1
            listed += 1
        left = len(rest) - listed
        note = (
            f"_Buttons for the first {count} of {len(members)} alerts (a Slack message holds {MAX_BLOCKS} blocks); "
            f"act on the other {len(rest)} with the commands below each, where `python main.py` reaches this canary's "
            "alert state._"
        )
        if left:
            note += (
                f"\n_…and {left} more, listed in the next messages of this thread; `python main.py incidents` lists "
                "them with their fingerprints._"
            )
        body = shown + [_context(note)] + [_section(t) for t in texts if t]
        unlisted = rest[listed:]
    else:
        unlisted = []
    blocks = head + [DividerBlock()] + body + tail
    parent = SlackMessage(text=_fallback(render_group_text(group, clean=inert)), blocks=blocks)
    return [parent, *(render_group_parts(group, members=unlisted, before=1) if unlisted else [])]
