"""The Slack Notifier: chat.postMessage / chat.update through slack_sdk's WebClient with a bot token.

Transient failures (connection errors, HTTP 429 honouring Retry-After, 5xx) are retried a bounded number
of times; a permanent refusal fails at once. No message this module raises ever holds the token.
"""

from __future__ import annotations

import threading
import time
from http.client import RemoteDisconnected
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional
from urllib.error import URLError
from urllib.parse import urlsplit

from pydantic import SecretStr
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from alerts.acted import Acted, ParentView
from alerts.digest import Digest
from alerts.escalate import Action, EscalationNotice
from alerts.render_digest import render_digest_slack
from alerts.group import AlertGroup
from alerts.message import AlertMessage
from alerts.notifier import DeliveryError, Receipt, ThreadRef
from alerts.render_slack import (
    Controls, SlackMessage, for_environment_slack, render_alert, render_note, render_note_subject, render_group,
    render_group_parent_parts, render_group_parts, render_parent, render_resolved_parent, who,
)
from core.environment import PRODUCTION
from core.model import Reason, Severity

if TYPE_CHECKING:
    from slack_sdk import WebClient

TOKEN_ENV = "CANARY_SLACK_BOT_TOKEN"
DEFAULT_BASE_URL = "https://slack.com/api/"
MAX_RETRIES = 3
"""Retries of one API call after a transient failure (the first attempt not counted)."""
MAX_RETRY_AFTER_SECONDS = 30
"""A 429 asking to wait longer than this fails the delivery now; the next run sends it again."""
TIMEOUT_SECONDS = 10
"""One HTTP request's timeout."""

# Slack error codes that no retry can fix, with what the reader should do about each.
PERMANENT_ERRORS = {
    "invalid_auth": f"the bot token in {TOKEN_ENV} was refused; check the secret",
    "not_authed": f"no bot token reached Slack; check {TOKEN_ENV}",
    "account_inactive": f"the bot token in {TOKEN_ENV} belongs to a deactivated user or app",
    "token_revoked": f"the bot token in {TOKEN_ENV} was revoked; install the app again",
    "token_expired": f"the bot token in {TOKEN_ENV} expired",
    "missing_scope": "the bot token lacks the chat:write scope",
    "channel_not_found": "the channel does not exist or the bot cannot see it; fix [slack] in canary.toml",
    "not_in_channel": "the bot is not a member of the channel; /invite it",
    "is_archived": "the channel is archived; fix [slack] in canary.toml",
    "msg_too_long": "the message is longer than Slack accepts",
    "msg_blocks_too_long": "the blocks hold more text than Slack accepts (about 12,000 characters together)",
    "invalid_blocks": "Slack refused the message's blocks",
}


def retry_after_seconds(headers: Mapping[str, Any]) -> float | None:
    """The Retry-After header of a 429 answer, in seconds (None when absent or unreadable)."""
    for name, values in headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


class _InjectedSleep:
    """Retry handler mixin: waits through a given `sleep`, so tests (and a run's budget) control the pause."""

    interval_calculator: Any

    def __init__(self, *, max_retry_count: int, sleep: Callable[[float], None], **kwargs: Any) -> None:
        super().__init__(max_retry_count=max_retry_count, **kwargs)  # type: ignore[call-arg]
        self._sleep = sleep

    def wait_seconds(self, *, state: RetryState, response: Optional[HttpResponse]) -> float:
        return float(self.interval_calculator.calculate_sleep_duration(state.current_attempt))

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: Optional[HttpResponse] = None,
        error: Optional[Exception] = None,
    ) -> None:
        state.next_attempt_requested = True
        self._sleep(self.wait_seconds(state=state, response=response))
        state.increment_current_attempt()


class RateLimitRetry(_InjectedSleep, RateLimitErrorRetryHandler):
    """HTTP 429: wait exactly what Retry-After asks (1 s when absent), unless that is too long."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: Optional[HttpResponse] = None, error: Optional[Exception] = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = retry_after_seconds(response.headers) if response is not None else None
        return wait is None or wait <= MAX_RETRY_AFTER_SECONDS

    def wait_seconds(self, *, state: RetryState, response: Optional[HttpResponse]) -> float:
        wait = retry_after_seconds(response.headers) if response is not None else None
        return 1.0 if wait is None else wait


class ServerErrorRetry(_InjectedSleep, ServerErrorRetryHandler):
    """Any HTTP 5xx (slack_sdk's own handler retries only 500 and 503), with exponential backoff."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: Optional[HttpResponse] = None, error: Optional[Exception] = None) -> bool:
        return response is not None and 500 <= response.status_code <= 599


class ConnectionRetry(_InjectedSleep, ConnectionErrorRetryHandler):
    """A refused, reset or dropped connection, with exponential backoff."""


def retry_handlers(*, max_retries: int, sleep: Callable[[float], None]) -> list[Any]:
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5)
    return [
        ConnectionRetry(
            max_retry_count=max_retries,
            sleep=sleep,
            interval_calculator=backoff,
            error_types=[URLError, ConnectionError, RemoteDisconnected],
        ),
        RateLimitRetry(max_retry_count=max_retries, sleep=sleep),
        ServerErrorRetry(max_retry_count=max_retries, sleep=sleep, interval_calculator=backoff),
    ]


class SlackNotifier:
    """Posts notices with chat.postMessage (a reply when given a thread) and edits parents with chat.update."""

    def __init__(
        self,
        *,
        token: SecretStr | None,
        base_url: str | None,
        channel_for: Callable[[Severity], str],
        max_retries: int = MAX_RETRIES,
        timeout_seconds: int = TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        environment: str = PRODUCTION,
    ) -> None:
        self._token = token
        self.environment = environment
        self.base_url = base_url or DEFAULT_BASE_URL
        self.channel_for = channel_for
        self.max_retries = max_retries
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep
        self._client: WebClient | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SlackNotifier(base_url={self.base_url!r}, token={'set' if self._token else 'unset'})"

    # --- the Notifier port ---

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        """Post one notice; a reply in `thread` when given."""
        # A new incident's parent carries the buttons (Acknowledge, Silence, the runbook): main.slack_actions.
        rendered = render_alert(message, controls=Controls() if thread is None else None)
        return self._post(rendered, severity=message.severity, thread=thread, broadcast=message.broadcast)

    def mark_resolved(self, message: AlertMessage, *, thread: ThreadRef) -> None:
        """Edit the incident's parent to show it resolved and how long it lasted."""
        self._update(render_resolved_parent(message), thread=thread)

    def edit_parent(self, parent: ParentView) -> None:
        """Rewrite a parent that is still open (chat.update), e.g. to list the findings it explains: one
        incident or a summary, each with its current standing (alerts/render_slack.py render_parent)."""
        self._update(render_parent(parent), thread=parent.thread)

    def announce(self, parent: ParentView, acted: Acted | None, *, about: AlertMessage) -> None:
        """Someone acted on the incident `about`: its parent is re-rendered with every incident's current standing
        (chat.update), and a reply in its thread says what was done (none when nothing changed)."""
        line = acted.line(who(acted.by), about.zone) if acted is not None else None
        ended = line if acted is not None and acted.kind in ("unack", "unsilence") else None
        self._update(render_parent(parent, note=ended), thread=parent.thread)
        if line is not None:
            if parent.group is not None or (parent.message is not None and parent.message.fingerprint != about.fingerprint):
                line = f"{render_note_subject(about)}: {line}"
            self._post(render_note(line), severity=about.severity, thread=parent.thread)

    # --- grouping (alerts.deliver uses these when present) ---

    def send_group(self, group: AlertGroup, *, thread: ThreadRef | None) -> Receipt:
        """Post one summary of many notices (a reply in `thread` when given), split into several messages
        when one would pass Slack's limits: the first is the receipt, the rest follow in its thread. A summary
        of new incidents that is their parent carries each one's buttons instead (as many as fit; the others
        with their commands)."""
        if thread is None and group.reason is Reason.FIRST and not group.synthetic:
            parts = render_group_parent_parts(group, controls={m.fingerprint: Controls() for m in group.members})
        else:
            parts = render_group_parts(group)
        receipt = self._post(parts[0], severity=group.severity, thread=thread, broadcast=group.broadcast)
        channel = receipt.channel or (thread.channel if thread else self.channel_for(group.severity))
        rest_thread = thread or (ThreadRef(channel=channel, ts=receipt.ts) if receipt.ts else None)
        for part in parts[1:]:
            self._post(part, severity=group.severity, thread=rest_thread)
        return receipt

    def mark_group_resolved(self, group: AlertGroup, *, thread: ThreadRef) -> None:
        """Edit a summary parent once every alert it listed has resolved."""
        self._update(render_group(group, parent_edit=True), thread=thread)

    # --- the daily digest (run.digest uses this when present) ---

    def send_digest(self, digest: Digest) -> Receipt:
        """Post the daily digest to the main channel (a parent of its own)."""
        return self._post(render_digest_slack(digest), severity=Severity.INFO, thread=None)

    # --- escalations (alerts/escalate.py) ---

    def send_escalation(self, notice: EscalationNotice, *, thread: ThreadRef | None) -> Receipt:
        """The mention in the incident's thread when it escalates (its text holds no source data: the
        validated mention, the monitor's name, the fingerprint and the canary's own words)."""
        if notice.event is not Action.TRIGGER:
            return Receipt(channel=None, ts=None)  # acknowledged / resolved: the thread already says so
        channel = thread.channel if thread else self.channel_for(notice.severity)
        arguments: dict[str, Any] = {"channel": channel, "text": notice.text, "unfurl_links": False, "unfurl_media": False}
        if thread is not None:
            arguments["thread_ts"] = thread.ts
        answer = self._call("chat.postMessage", channel=channel, arguments=arguments)
        return Receipt(channel=answer.get("channel") or channel, ts=answer.get("ts"))

    # --- Slack calls ---

    def _post(self, rendered: SlackMessage, *, severity: Severity, thread: ThreadRef | None, broadcast: bool = False) -> Receipt:
        channel = thread.channel if thread else self.channel_for(severity)
        rendered = for_environment_slack(rendered, self.environment)
        arguments: dict[str, Any] = {"channel": channel, **rendered.to_dict(), "unfurl_links": False, "unfurl_media": False}
        if thread is not None:
            arguments["thread_ts"] = thread.ts
            if broadcast:
                # chat.postMessage `reply_broadcast`: the reply is also shown in the channel
                # (https://docs.slack.dev/reference/methods/chat.postMessage; a thread_broadcast message).
                arguments["reply_broadcast"] = True
        answer = self._call("chat.postMessage", channel=channel, arguments=arguments)
        return Receipt(channel=answer.get("channel") or channel, ts=answer.get("ts"))

    def _update(self, rendered: SlackMessage, *, thread: ThreadRef) -> None:
        rendered = for_environment_slack(rendered, self.environment)
        arguments = {"channel": thread.channel, "ts": thread.ts, **rendered.to_dict()}
        self._call("chat.update", channel=thread.channel, arguments=arguments)

    def client(self) -> WebClient:
        """The WebClient, built on first use (a run with nothing to send never imports or builds it)."""
        if self._token is None or not self._token.get_secret_value():
            raise DeliveryError(f"{TOKEN_ENV} is not set: cannot post to Slack")
        with self._lock:
            if self._client is None:
                from slack_sdk import WebClient

                self._client = WebClient(
                    token=self._token.get_secret_value(),
                    base_url=self.base_url,
                    timeout=self.timeout_seconds,
                    retry_handlers=retry_handlers(max_retries=self.max_retries, sleep=self._sleep),
                )
            return self._client

    def _call(self, method: str, *, channel: str, arguments: dict[str, Any]) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError, SlackClientError

        client = self.client()
        try:
            response = client.api_call(method, json=arguments)
        except SlackApiError as error:
            raise DeliveryError(self._scrub(self._describe(method, channel, error.response))) from None
        except (SlackClientError, URLError, OSError, RemoteDisconnected) as error:
            reason = getattr(error, "reason", None) or error
            host = urlsplit(self.base_url).netloc
            raise DeliveryError(
                self._scrub(f"Slack {method} to {channel}: cannot reach {host} after {self.max_retries} retries ({type(error).__name__}: {reason})")
            ) from None
        except ValueError as error:  # an answer that is not JSON (a proxy's error page, a truncated body)
            host = urlsplit(self.base_url).netloc
            raise DeliveryError(self._scrub(f"Slack {method} to {channel}: unreadable answer from {host} ({type(error).__name__})")) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _describe(self, method: str, channel: str, response: Any) -> str:
        status = getattr(response, "status_code", None)
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        code = str(data.get("error") or f"HTTP {status}")
        where = f"Slack {method} to {channel}"
        if code in PERMANENT_ERRORS:
            return f"{where} refused: {code} ({PERMANENT_ERRORS[code]})"
        if status == 429:
            headers = response.headers or {}
            wait = retry_after_seconds(headers)
            if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
                return f"{where}: rate limited, and Slack asked to wait {wait:g} s (over {MAX_RETRY_AFTER_SECONDS} s); the next run sends it"
            return f"{where}: still rate limited (HTTP 429, Retry-After {'?' if wait is None else f'{wait:g}'} s) after {self.max_retries} retries"
        if status is not None and status >= 500:
            return f"{where}: Slack answered HTTP {status} after {self.max_retries} retries"
        return f"{where} refused: {code}"

    def _scrub(self, text: str) -> str:
        """Belt and braces: whatever a library put in an error, the token never leaves this object."""
        secret = self._token.get_secret_value() if self._token else ""
        return text.replace(secret, "[redacted]") if secret else text
