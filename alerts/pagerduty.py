"""PagerDuty Events API v2: send one event (trigger, acknowledge, resolve) and say what PagerDuty answered.

Plain HTTP (requests), not the `pagerduty` package: that client is built on httpx (a second HTTP stack in a
function whose cold start is measured) and retries 429/5xx inside the call with sleeps (a wall-clock
backoff that holds the run); here a refused event fails at once and stays due, so the next scheduled run
sends it again, which is the retry PagerDuty asks for ("retry after some time").

Responses as documented (https://developer.pagerduty.com/docs/events-api-v2/overview#response-codes--retry-logic,
source: github.com/PagerDuty/developer-docs docs/events-API-v2/01-Overview.md): 202 accepted (no retry);
400 the event is invalid (no retry: a configuration error, its `errors` name why); 429 too many events and
5xx a PagerDuty failure (retry later); a network error (retry later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from core.secrets import scrub, secret_values

ROUTING_KEY_ENV = "CANARY_PAGERDUTY_ROUTING_KEY"
DEFAULT_BASE_URL = "https://events.pagerduty.com"
ENQUEUE_PATH = "/v2/enqueue"
MAX_SUMMARY = 1024
"""payload.summary: "The maximum permitted length of this property is 1024 characters" (Send an Alert Event)."""
MAX_DEDUP_KEY = 255
"""dedup_key: at most 255 characters (Send an Alert Event); a fingerprint is far shorter."""
MAX_EVENT_BYTES = 512 * 1024
"""Events API payloads are limited to 512 KB (Events API v2 overview, Size Limits)."""
TIMEOUT_SECONDS = 10
SEVERITIES = ("critical", "error", "warning", "info")
"""payload.severity: one of these (Send an Alert Event)."""


class PagerError(Exception):
    """PagerDuty did not accept the event; the message never holds the routing key."""

    def __init__(self, message: str, *, retry: bool, configuration: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
        self.configuration = configuration


@dataclass
class PagerDutyEvents:
    """The Events API v2 client: POST <base_url>/v2/enqueue with the routing key in the body."""

    routing_key: SecretStr
    base_url: str = DEFAULT_BASE_URL
    timeout_seconds: float = TIMEOUT_SECONDS

    def __repr__(self) -> str:
        return f"PagerDutyEvents(base_url={self.base_url!r})"

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + ENQUEUE_PATH

    def send(self, event: dict[str, Any]) -> str:
        """Enqueue `event` (without its routing_key: added here); the dedup_key PagerDuty answered."""
        import json

        import requests

        body = json.dumps({**event, "routing_key": self.routing_key.get_secret_value()})
        if len(body.encode()) > MAX_EVENT_BYTES:
            raise PagerError(f"the event is over PagerDuty's {MAX_EVENT_BYTES // 1024} KB limit", retry=False)
        action = event.get("event_action", "event")
        try:
            answer = requests.post(
                self.url, data=body, headers={"Content-Type": "application/json"}, timeout=self.timeout_seconds,
            )
        except requests.RequestException as error:
            raise PagerError(self._scrub(
                f"PagerDuty {action}: cannot reach {self._host()} ({type(error).__name__}); the next run sends it again"
            ), retry=True) from None
        data = _json(answer)
        if answer.status_code == 202:
            return str(data.get("dedup_key") or event.get("dedup_key") or "")
        if answer.status_code == 400:
            errors = data.get("errors") if isinstance(data.get("errors"), list) else []
            why = "; ".join(str(e)[:200] for e in errors[:5]) or str(data.get("message") or "no reason given")[:200]
            raise PagerError(self._scrub(
                f"PagerDuty refused the {action} event as invalid (HTTP 400: {why}): a configuration error; check "
                f"{ROUTING_KEY_ENV} is the integration key of an Events API v2 integration"
            ), retry=False, configuration=True)
        if answer.status_code == 429:
            raise PagerError(f"PagerDuty {action}: too many events (HTTP 429); the next run sends it again", retry=True)
        if answer.status_code >= 500:
            raise PagerError(
                f"PagerDuty {action}: PagerDuty failed (HTTP {answer.status_code}); the next run sends it again", retry=True
            )
        raise PagerError(self._scrub(f"PagerDuty {action}: unexpected HTTP {answer.status_code}"), retry=True)

    def _host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.base_url).netloc

    def _scrub(self, text: str) -> str:
        return scrub(text, secret_values(self.routing_key.get_secret_value()))


def _json(answer: Any) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
