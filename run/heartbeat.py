"""Watching the watcher: healthchecks.io-style pings around a run (`/start`, the URL itself, `/fail`).

`/start` and `/fail` go at the end of the URL's path, before its query: healthchecks documents
`https://hc-ping.com/<uuid>/start?rid=<uuid>` (https://blog.healthchecks.io/2022/11/using-run-ids-to-track-run-times-of-overlapping-jobs/)
and `https://hc-ping.com/<ping-key>/<slug>?create=1` (https://healthchecks.io/docs/slug_urls/), so a
suffix after the query would land on the success URL. A fragment is never sent (nor shown).

A canary that stops running raises nothing by itself; an outside service that expects a ping every
30 minutes notices the silence. Pings are best effort: a heartbeat failure never fails the run, and
its error text never holds the URL (a healthchecks ping URL is a secret: anyone who has it can ping).
https://healthchecks.io/docs/http_api/
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit
from typing import TYPE_CHECKING, Any, Callable

from core.config import heartbeat_url_problem

if TYPE_CHECKING:
    from core.model import RunReport

DEFAULT_TIMEOUT_SECONDS = 3.0
MAX_BODY_BYTES = 10_000
"""healthchecks keeps up to 100 kB of a ping's body; the run's log line is far smaller."""

Opener = Callable[..., Any]


class Heartbeat:
    """Pings `<url>/start` before a run, `<url>` after a good one and `<url>/fail` after a bad one."""

    def __init__(self, url: str | None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, opener: Opener | None = None) -> None:
        self.timeout = timeout
        self._opener = opener or urllib.request.urlopen
        self._url: str | None = None
        self.problem: str | None = None
        if url:
            # Checked, never parsed blindly: urlsplit raises on a bracketed host ('https://[hc-ping.com]/x'),
            # and a heartbeat setting must not stop a run. The problem text never quotes the URL.
            problem = heartbeat_url_problem(url)
            if problem is None:
                self._url = url
            else:
                self.problem = f"CANARY_HEARTBEAT_URL {problem}"

    @property
    def enabled(self) -> bool:
        return self._url is not None

    def start(self) -> str:
        return self._ping("/start", b"")

    def finish(self, *, ok: bool, body: str = "") -> str:
        return self._ping("" if ok else "/fail", body.encode("utf-8")[:MAX_BODY_BYTES])

    def _ping(self, suffix: str, data: bytes) -> str:
        """'ok', 'disabled' or 'failed: <reason>' (the reason never contains the URL)."""
        if self._url is None:
            return self.problem or "disabled"
        try:
            request = urllib.request.Request(
                ping_url(self._url, suffix), data=data, method="POST", headers={"User-Agent": "pipeline-canary"}
            )
            with self._opener(request, timeout=self.timeout) as response:
                response.read(1024)
        except urllib.error.HTTPError as error:
            return f"failed: HTTP {error.code}"
        except urllib.error.URLError as error:
            return f"failed: {_reason(error.reason)}"
        except TimeoutError:
            return f"failed: timed out after {self.timeout:g}s"
        except Exception as error:  # a heartbeat must never fail the run
            return f"failed: {type(error).__name__}"
        return "ok"


def ping_url(url: str, suffix: str) -> str:
    """`url` with `suffix` ('/start', '/fail' or '') at the end of its path, its query kept, its fragment dropped."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + suffix, parts.query, ""))


def run_ok(report: RunReport) -> bool:
    """Success ping or /fail: every due notice delivered and no monitor errored."""
    return not report.delivery_failed and not any(m.outcome.value == "error" for m in report.monitors)


def _reason(reason: Any) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__
