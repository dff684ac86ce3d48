"""A local fake of the Slack Web API (chat.postMessage, chat.update) for the real slack_sdk WebClient.

It listens on 127.0.0.1 (a free port), checks the bearer token, keeps the channel's messages, records
every request it received, and fails on demand: 429 with Retry-After, 500, an error code, a dropped
connection. Tests point SlackNotifier (or CANARY_SLACK_BASE_URL) at `fake.base_url`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator
from urllib.parse import parse_qsl

import pytest

from tests.servers.local_http import LocalHttpServer

TOKEN = "xoxb-fake-0000-SECRET-do-not-print"

# What Slack refuses, as its docs and its users report it:
MAX_BLOCKS = 50
""""You can include up to 50 blocks in each message" (https://docs.slack.dev/reference/block-kit/blocks);
more is refused with `invalid_blocks`."""
MAX_SECTION_TEXT = 3000
"""A section block's text: 3000 characters (Block Kit reference, section block); more is `invalid_blocks`."""
MAX_HEADER_TEXT = 150
"""A header block's text: 150 characters (Block Kit reference, header block); more is `invalid_blocks`."""
MAX_BLOCKS_TEXT = 12_000
"""All block text together: undocumented; `msg_blocks_too_long` is reported from ~12,000-13,300 characters
(slackapi/bolt-js#2509). The fake refuses at the low end, so a message it accepts Slack accepts too."""
MAX_TEXT = 40_000
"""The `text` argument: Slack truncates past 40,000 characters (chat.postMessage docs); `msg_too_long` beyond."""


def _block_texts(node: Any) -> list[str]:
    """Every `text` string inside the blocks."""
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("text"), str):
            found.append(node["text"])
        for value in node.values():
            found += _block_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += _block_texts(value)
    return found


def refusal(text: str, blocks: list[dict[str, Any]]) -> str | None:
    """The error code Slack answers for a message over its limits, or None when it is accepted."""
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        inner = block.get("text") if isinstance(block.get("text"), dict) else {}
        length = len(inner.get("text", "")) if isinstance(inner, dict) else 0
        if (block.get("type") == "header" and length > MAX_HEADER_TEXT) or (block.get("type") == "section" and length > MAX_SECTION_TEXT):
            return "invalid_blocks"
    if sum(len(t) for t in _block_texts(blocks)) > MAX_BLOCKS_TEXT:
        return "msg_blocks_too_long"
    if len(text) > MAX_TEXT:
        return "msg_too_long"
    return None
RESPONSE_URL = "response_url"
RESPONSE_URL_PATH = "/actions/"
"""Where this fake's response_urls live (Slack's are https://hooks.slack.com/actions/T.../...)."""
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5-fake-signing-secret"
"""The fake app's signing secret: the tests sign clicks with it as Slack would."""


def signed_click(
    *, action_id: str, value: str | None, user: str = "U0ALICE01", action_ts: str = "1764979200.000100",
    response_url: str | None = None, timestamp: int, secret: str = SIGNING_SECRET, payload_type: str = "block_actions",
    extra: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A block_actions request as Slack sends it: a form with one `payload` field, and the v0 signature over
    `v0:timestamp:body` (https://docs.slack.dev/authentication/verifying-requests-from-slack), computed by
    slack_sdk's SignatureVerifier.generate_signature (nothing hand-rolled)."""
    from urllib.parse import urlencode

    from slack_sdk.signature import SignatureVerifier

    action: dict[str, Any] = {"type": "button", "action_id": action_id, "block_id": "canary_actions", "action_ts": action_ts,
                              "text": {"type": "plain_text", "text": "x"}}
    if value is not None:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": payload_type, "user": {"id": user, "username": "alice", "team_id": "T0TEAM"},
        "api_app_id": "A0APP", "team": {"id": "T0TEAM"}, "container": {"type": "message"},
        "trigger_id": "1.2.3", "actions": [action], **(extra or {}),
    }
    if response_url is not None:
        payload["response_url"] = response_url
    body = urlencode({"payload": json.dumps(payload)}).encode("utf-8")
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    headers = {
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }
    return body, headers


CHANNEL_IDS = {"#nba-pipeline-alerts": "C0ALERTS", "#nba-pipeline-warnings": "C0WARN", "#canary-tests": "C0TESTS"}


@dataclass(frozen=True)
class Fault:
    """One programmed failure: an HTTP status (with headers and body), a Slack error code, or a dropped connection."""

    status: int = 200
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    @classmethod
    def rate_limited(cls, retry_after: int = 0) -> Fault:
        return cls(status=429, error="ratelimited", headers={"Retry-After": str(retry_after)})

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status=status)

    @classmethod
    def slack_error(cls, code: str) -> Fault:
        return cls(error=code)

    @classmethod
    def dropped(cls) -> Fault:
        return cls(drop=True)


@dataclass(frozen=True)
class Request:
    method: str
    """The API method, e.g. chat.postMessage."""
    authorization: str | None
    content_type: str
    body: dict[str, Any]
    answered: str
    """'ok', an error code, 'http 500', 'dropped'."""


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    edits: int = 0
    broadcast: bool = False
    """Posted with reply_broadcast: the reply also shows in the channel."""


class FakeSlack(LocalHttpServer):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.messages: dict[str, Message] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._next_ts = 1_700_000_000_000_100
        self.latency_seconds = 0.0
        """How long each answer takes: a real chat.postMessage round trip is ~0.1-0.3 s."""

    # --- control ---

    @property
    def base_url(self) -> str:
        return f"{self.endpoint}/api/"

    def fail_next(self, method: str, *faults: Fault) -> None:
        """The next calls of `method` answer with these faults, in order; later calls succeed."""
        with self._lock:
            self._faults.setdefault(method, []).extend(faults)

    def calls(self, method: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def posted(self) -> list[Message]:
        """Accepted chat.postMessage messages, oldest first."""
        with self._lock:
            return sorted(self.messages.values(), key=lambda m: m.ts)

    def parents(self) -> list[Message]:
        return [m for m in self.posted() if m.thread_ts is None]

    def replies(self, thread_ts: str) -> list[Message]:
        return [m for m in self.posted() if m.thread_ts == thread_ts]

    # --- serving ---

    def _answer(self, method: str, authorization: str | None, content_type: str, body: dict[str, Any]) -> tuple[Fault | None, dict[str, Any]]:
        with self._lock:
            queue = self._faults.get(method) or []
            fault = queue.pop(0) if queue else None
            if fault is not None and (fault.drop or fault.status != 200 or fault.error):
                answered = "dropped" if fault.drop else (f"http {fault.status}" if fault.status != 200 else fault.error)
                self.requests.append(Request(method, authorization, content_type, body, str(answered)))
                return fault, {"ok": False, "error": fault.error or "internal_error"}
            result = self._handle(method, authorization, body)
            self.requests.append(Request(method, authorization, content_type, body, result.get("error", "ok")))
            return None, result

    def _handle(self, method: str, authorization: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if method == RESPONSE_URL:
            # A response_url takes a JSON message without a token (https://docs.slack.dev/interactivity/handling-user-interaction).
            return {"ok": True} if body.get("text") else {"ok": False, "error": "no_text"}
        if authorization is None:
            return {"ok": False, "error": "not_authed"}
        if authorization != f"Bearer {TOKEN}":
            return {"ok": False, "error": "invalid_auth"}
        channel = CHANNEL_IDS.get(str(body.get("channel")), str(body.get("channel")))
        if channel not in CHANNEL_IDS.values():
            return {"ok": False, "error": "channel_not_found"}
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if method in ("chat.postMessage", "chat.update"):
            refused = refusal(str(body.get("text", "")), blocks)
            if refused:
                return {"ok": False, "error": refused}
        if method == "chat.postMessage":
            if not body.get("text") and not blocks:
                return {"ok": False, "error": "no_text"}
            thread_ts = body.get("thread_ts")
            if thread_ts is not None and thread_ts not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            self._next_ts += 100
            ts = f"{self._next_ts // 1_000_000}.{self._next_ts % 1_000_000:06d}"
            broadcast = thread_ts is not None and body.get("reply_broadcast") in (True, "true", "1")
            self.messages[ts] = Message(channel, ts, str(body.get("text", "")), blocks, thread_ts, broadcast=broadcast)
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": body.get("text"), "ts": ts}}
        if method == "chat.update":
            message = self.messages.get(str(body.get("ts")))
            if message is None or message.channel != channel:
                return {"ok": False, "error": "message_not_found"}
            message.text, message.blocks = str(body.get("text", "")), blocks
            message.edits += 1
            return {"ok": True, "channel": channel, "ts": message.ts, "text": message.text}
        return {"ok": False, "error": "unknown_method"}

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None  # quiet: the test asserts on fake.requests

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                content_type = self.headers.get("Content-Type", "")
                if content_type.startswith("application/json"):
                    body = json.loads(raw or "{}")
                else:
                    body = dict(parse_qsl(raw))
                method = RESPONSE_URL if self.path.startswith(RESPONSE_URL_PATH) else self.path.rsplit("/", 1)[-1].split("?", 1)[0]
                time.sleep(fake.latency_seconds)
                fault, answer = fake._answer(method, self.headers.get("Authorization"), content_type, body)
                if fault is not None and fault.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                status = fault.status if fault is not None else 200
                payload = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (fault.headers.items() if fault is not None else ()):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()
