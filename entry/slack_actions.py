"""The buttons' endpoint (main.slack_actions): a signed Slack click acknowledges or silences an incident.

Slack POSTs an interaction as `application/x-www-form-urlencoded` with one field, `payload` (JSON), and
signs it: X-Slack-Signature = v0=HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp + ":" +
body), the timestamp within five minutes ("Verifying requests from Slack",
https://docs.slack.dev/authentication/verifying-requests-from-slack). slack_sdk's SignatureVerifier does
that check (constant-time compare); nothing here computes a signature. Anything unsigned is 401 and
changes nothing. Slack wants a 200 within 3 seconds and shows the user an error otherwise; messages to
the clicking user go to the payload's `response_url` ("Handling user interaction",
https://docs.slack.dev/interactivity/handling-user-interaction).

Only the action_id and the value (a fingerprint) of the payload are used, and only after both match
what this canary renders; the user id is used after it matches Slack's member-id form. No other text of
the payload is trusted or echoed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, TextIO
from urllib.parse import parse_qs, urlsplit

import flask
from pydantic import BaseModel, ConfigDict, ValidationError

from alerts import acted as acting
from alerts.acted import ACTION_KEY_RETENTION, SILENCE_BUTTONS
from alerts.render_slack import ACTIONS, MAX_ACTION_ID, MAX_BUTTON_VALUE
from alerts.state import StateError
from core.config import SLACK_USER_ID, ConfigError
from core.secrets import scrub
from run.observe import emit_log
from run.steps import presentation

MAX_BODY_BYTES = 64 * 1024
"""A block_actions payload with a message's blocks is a few KiB; anything near this is not a click."""
FORM = "application/x-www-form-urlencoded"
SIGNING_SECRET_ENV = "CANARY_SLACK_SIGNING_SECRET"
RESPONSE_URL_HOST = "hooks.slack.com"
"""Where Slack's response_url points; anything else in a payload is not Slack's and is not called."""
RESPONSE_URL_TIMEOUT_SECONDS = 1.0
"""Within Slack's 3 seconds, with the store write and the chat.update beside it."""
FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
"""core.fingerprint: 16 hex digits. A button's value is exactly that, or it is refused."""


class Refused(Exception):
    """A request that acts on nothing; the message is safe to show (it quotes nothing from the request)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


class _Action(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action_id: str
    value: str | None = None
    action_ts: str | None = None


class _Payload(BaseModel):
    """The fields of a block_actions payload this endpoint reads (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload)."""

    model_config = ConfigDict(extra="ignore")
    type: str
    user: _User
    actions: list[_Action]
    response_url: str | None = None


@dataclass
class ActionsInstance:
    """What main.py builds once per instance of the slack_actions function."""

    settings: Any
    config: Any
    canary: Any


def _verifier(secret: str, now: dt.datetime) -> Any:
    from slack_sdk.signature import Clock, SignatureVerifier

    class _At(Clock):
        def now(self) -> float:
            return now.timestamp()

    return SignatureVerifier(signing_secret=secret, clock=_At())


def handle(
    request: flask.Request, *, instance: Callable[[], ActionsInstance], now: dt.datetime, stream: TextIO | None = None,
    post: Callable[[str, dict[str, Any]], None] | None = None,
) -> flask.Response:
    """One click: 200 (done, refused politely, or not ours), or 4xx with nothing changed."""
    out = stream or sys.stdout
    started = time.perf_counter()
    secrets: list[str] = []

    def respond(status: int, body: dict[str, Any]) -> flask.Response:
        text = json.dumps(scrub(body, secrets), separators=(",", ":"))
        response = flask.Response(text + "\n", status=status, mimetype="application/json")
        response.headers["Cache-Control"] = "no-store"
        return response

    def log(record: dict[str, Any]) -> None:
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        emit_log(scrub(record, secrets), stream=out)

    try:
        built = instance()
        secrets = built.settings.secrets()
        result = _handle(request, built=built, now=now, post=post or _post_response)
        log({"severity": "INFO", "message": "pipeline-canary slack action", "event": "canary_slack_action", **result})
        return respond(200, {"ok": True})
    except Refused as refused:
        log({"severity": "WARNING", "message": "pipeline-canary slack action refused", "event": "canary_slack_action_refused",
             "status": refused.status, "error": str(refused)})
        return respond(refused.status, {"error": str(refused)})
    except ConfigError as error:
        log({"severity": "ERROR", "message": "pipeline-canary configuration error", "event": "canary_config_error",
             "error": str(error)})
        return respond(500, {"error": f"configuration error: {error}"})
    except StateError as error:
        log({"severity": "ERROR", "message": "pipeline-canary slack action: alert state", "event": "canary_slack_action_failed",
             "error": str(error)})
        return respond(503, {"error": "the alert state could not be read or written; try again"})
    except Exception as error:  # noqa: BLE001 - one line, never a traceback to the caller
        log({"severity": "ERROR", "message": "pipeline-canary slack action failed", "event": "canary_crash",
             "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()})
        return respond(500, {"error": "internal error"})


def _body(request: flask.Request) -> bytes:
    if request.method != "POST":
        raise Refused(405, "only POST: this endpoint takes Slack's interaction requests")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise Refused(413, f"body over {MAX_BODY_BYTES} bytes")
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, f"body over {MAX_BODY_BYTES} bytes")
    return body


def _verify(request: flask.Request, body: bytes, *, secret: str, now: dt.datetime) -> None:
    timestamp = request.headers.get("X-Slack-Request-Timestamp")
    signature = request.headers.get("X-Slack-Signature")
    if not timestamp or not signature:
        raise Refused(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not timestamp.isdigit():
        raise Refused(401, "X-Slack-Request-Timestamp is not a Unix time")
    if not _verifier(secret, now).is_valid(body=body, timestamp=timestamp, signature=signature):
        raise Refused(401, "signature not valid, or timestamp not within 5 minutes")


def _payload(request: flask.Request, body: bytes) -> _Payload:
    if request.mimetype != FORM:
        raise Refused(415, f"expected {FORM} (Slack's interaction requests)")
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "body is not a form") from None
    if list(fields) != ["payload"] or len(fields["payload"]) != 1:
        raise Refused(400, "expected exactly one field, payload")
    try:
        payload = _Payload.model_validate_json(fields["payload"][0])
    except ValidationError:
        raise Refused(400, "payload is not a block_actions payload") from None
    if payload.type != "block_actions":
        raise Refused(400, "only block_actions payloads are handled")
    if len(payload.actions) != 1:
        raise Refused(400, "expected one action per click")
    return payload


def _handle(
    request: flask.Request, *, built: ActionsInstance, now: dt.datetime, post: Callable[[str, dict[str, Any]], None]
) -> dict[str, Any]:
    body = _body(request)
    token = built.settings.slack_signing_secret
    if token is None or not token.get_secret_value():
        raise ConfigError(f"{SIGNING_SECRET_ENV} is not set: no click can be verified")
    _verify(request, body, secret=token.get_secret_value(), now=now)
    payload = _payload(request, body)
    action = payload.actions[0]
    if action.action_id not in ACTIONS:
        return {"handled": False, "why": "not a canary action (a link button, or another app's)"}
    if len(action.action_id) > MAX_ACTION_ID or action.value is None or len(action.value) > MAX_BUTTON_VALUE:
        raise Refused(400, "action value missing or over Block Kit's limits")
    if not FINGERPRINT.match(action.value):
        raise Refused(400, "action value is not an incident fingerprint")
    user = payload.user.id
    if not SLACK_USER_ID.match(user):
        raise Refused(400, "user id is not a Slack member id")
    if not action.action_ts or not re.match(r"^\d{1,12}\.\d{1,9}$", action.action_ts):
        raise Refused(400, "action_ts missing or not a Slack timestamp")
    config, store = built.config, built.canary.store
    allowed = config.slack.actions.allowed_users
    if allowed and user not in allowed:
        _ephemeral(payload, built, post, "You are not allowed to act on pipeline-canary alerts ([slack.actions] allowed_users).")
        return {"handled": False, "user": user, "action": action.action_id, "why": "user not in allowed_users"}
    state = store.load(fingerprints=[action.value]).get(action.value)
    if state is None or not state.firing:
        raise Refused(404, "no open incident has this fingerprint (it resolved, or it is not this canary's)")
    # One click, one act: Slack may deliver the same request again; its action_ts, user and action name it.
    # The key is taken only once the click has acted and been shown: a store failure on the way (a 503) leaves
    # it untaken, so the retry acts, and each act is idempotent for its click (an acknowledgement is a
    # compare-and-set, a silence's id is made from the key), so a retry after a partial failure acts once.
    key = click_key(action_ts=action.action_ts, user=user, action_id=action.action_id, fingerprint=action.value)
    if store.action_taken(key, now=now):
        return {"handled": False, "user": user, "action": action.action_id, "fingerprint": state.fingerprint,
                "why": "this click was already handled"}
    outcome = _act(action.action_id, store=store, state=state, by=f"slack:{user}", now=now, zone=config.zone, click=key)
    record: dict[str, Any] = {"handled": True, "user": user, "action": action.action_id, "fingerprint": state.fingerprint,
                              "changed": outcome.acted is not None}
    if outcome.acted is None:
        _ephemeral(payload, built, post, outcome.said)
    # The parent is shown as it stands now, also when nothing changed (it may show stale buttons).
    failed = acting.announce(
        built.canary.notifier, store, state=state, acted=outcome.acted, now=now, zone=config.zone,
        links=presentation(config).links, group_after=config.alerts.group_after,
    )
    if failed:
        record["announce_error"] = failed
    store.record_action(key, now=now, expire_at=now + ACTION_KEY_RETENTION)
    return record


def click_key(*, action_ts: str, user: str, action_id: str, fingerprint: str) -> str:
    """The idempotency key of one click: the same for every delivery of it, different for another click."""
    return hashlib.sha256(f"{action_ts}|{user}|{action_id}|{fingerprint}".encode()).hexdigest()[:40]


def _act(action_id: str, *, store: Any, state: Any, by: str, now: dt.datetime, zone: Any, click: str) -> acting.Outcome:
    if action_id == "ack":
        return acting.acknowledge(store, state=state, by=by, now=now, duration=None, zone=zone)
    if action_id == "unack":
        return acting.unacknowledge(store, state=state, by=by, now=now)
    if action_id in SILENCE_BUTTONS:
        return acting.silence(store, state=state, by=by, now=now, duration=SILENCE_BUTTONS[action_id], click=click)
    return acting.unsilence(store, state=state, by=by, now=now)


def response_url_allowed(url: str, *, slack_base_url: str | None) -> bool:
    """Slack's hooks host over HTTPS, or (tests) the host of the configured Slack base URL."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname == RESPONSE_URL_HOST:
        return True
    if slack_base_url:
        base = urlsplit(slack_base_url)
        return parts.scheme == base.scheme and parts.netloc == base.netloc
    return False


def _ephemeral(payload: _Payload, built: ActionsInstance, post: Callable[[str, dict[str, Any]], None], text: str) -> None:
    """A message only the clicking user sees, through the payload's response_url (when it is Slack's)."""
    url = payload.response_url
    if not url or not response_url_allowed(url, slack_base_url=built.settings.slack_base_url):
        return
    try:
        post(url, {"response_type": "ephemeral", "replace_original": False, "text": text})
    except Exception:  # noqa: BLE001 - a courtesy: the refusal stands whether or not the user saw it
        pass


def _post_response(url: str, body: dict[str, Any]) -> None:
    from slack_sdk.webhook import WebhookClient

    WebhookClient(url=url, timeout=int(max(1, RESPONSE_URL_TIMEOUT_SECONDS))).send_dict(body)


def slack_manifest(*, url: str, name: str) -> dict[str, Any]:
    """The Slack app manifest (https://docs.slack.dev/reference/app-manifest): a bot that may post and
    edit its own messages (chat:write), and interactivity sent to the slack_actions function."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ConfigError(f"--url: Slack sends clicks only to an https:// URL, got {url[:100]!r}")
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name[:35],
            "description": "Alerts about the NBA props pipeline, with Acknowledge and Silence buttons",
        },
        "features": {"bot_user": {"display_name": name[:80], "always_online": False}},
        "oauth_config": {"scopes": {"bot": ["chat:write"]}},
        "settings": {
            "interactivity": {"is_enabled": True, "request_url": url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
