"""The HTTP entry: validate the request, run once (or send the test alert), answer with JSON.

main.run_canary hands every request here with the instance's objects (built lazily, once), the run's
clock and id. Every answer is JSON; a bad request gets 400/404/405/413 naming the problem, a server
fault gets 500 without a traceback, and no answer or log line ever holds a secret.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, TextIO

import flask
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from alerts.state import StateError
from core.config import CanaryConfig, ConfigError, Settings
from core.inputs import check_not_ahead, parse_game_date, parse_instant
from core.model import RunReport
from core.secrets import scrub, secret_values
from run.configure import load_all
from run.observe import emit_log, observed_run
from run.steps import Canary, RequestError, RunRequest, check_replay, select_monitors
from run.synthetic import send_test_alert

MAX_BODY_BYTES = 16 * 1024
"""A run's parameters fit in a few hundred bytes; anything near this is a mistake or an attack."""
RUN_PATH = "/"
HEALTH_PATHS = ("/healthz", "/health")
"""Cloud Run reserves some paths ending in 'z' (https://cloud.google.com/run/docs/known-issues):
/healthz may never reach the function there, so /health answers the same."""
RUN_METHODS = ("GET", "POST")
"""A run that may send (the scheduler's) only by POST; GET serves dry runs, which send nothing."""
MAX_LOGGED_PATH = 200
"""Characters of a rejected request's path in its log line: a 1 MB path must not become a 1 MB log entry."""
MAX_LOGGED_METHOD = 16


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"

HEALTH_METHODS = ("GET", "HEAD")
INCIDENTS_PATH = "/incidents"

_MONITOR_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class HttpError(Exception):
    """A request that cannot be served; its message is safe to show the caller."""

    def __init__(self, status: int, message: str, *, problems: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems
        self.headers = headers or {}


# --- the parameters ---------------------------------------------------------------------------


def _monitor_names(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        names = [name.strip() for name in value.split(",")]
    elif isinstance(value, list) and all(isinstance(name, str) for name in value):
        names = [name.strip() for name in value]
    else:
        raise ValueError("expected a comma-separated string or a JSON list of monitor names")
    names = [name for name in names if name]
    if not names:
        raise ValueError("give at least one monitor name")
    bad = [name for name in names if not _MONITOR_NAME.match(name)]
    if bad:
        raise ValueError(f"not a monitor name: {bad[0][:64]!r}")
    return tuple(names)


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true or false")


def _game_date(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expected a league-local game date YYYY-MM-DD, e.g. 2026-11-21")
    return parse_game_date(value)


def _instant(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 time with a UTC offset, e.g. 2026-11-21T23:30:00Z")
    return parse_instant(value)


class RunParams(BaseModel):
    """What a caller may ask for, from the query string or a JSON object body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["run", "test_alert"] = "run"
    monitors: Annotated[tuple[str, ...] | None, BeforeValidator(_monitor_names)] = None
    dry_run: Annotated[bool, BeforeValidator(_boolean)] = False
    date: Annotated[dt.date | None, BeforeValidator(_game_date)] = None
    now: Annotated[dt.datetime | None, BeforeValidator(_instant)] = None
    """The run's clock; only on the local backend (tests, demos)."""


KNOWN_PARAMS = tuple(RunParams.model_fields)


def _describe(error: ValidationError) -> list[dict[str, str]]:
    problems = []
    for problem in error.errors():
        param = ".".join(str(part) for part in problem["loc"]) or "(body)"
        if problem["type"] == "extra_forbidden":
            text = f"unknown parameter (known: {', '.join(KNOWN_PARAMS)})"
        elif problem["type"] == "literal_error":
            text = "expected 'run' or 'test_alert'"
        else:
            text = problem["msg"].removeprefix("Value error, ")
        problems.append({"param": param[:64], "problem": text})
    return problems


def read_params(request: flask.Request) -> RunParams:
    """The query string and the JSON body, merged; a parameter given twice is an error."""
    values: dict[str, Any] = {}
    for name in request.args:
        given = request.args.getlist(name)
        if len(given) > 1:
            raise HttpError(400, f"parameter {name[:64]!r} is given more than once")
        values[name] = given[0]
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise HttpError(413, f"request body too large: {request.content_length} bytes (limit {MAX_BODY_BYTES})")
    try:
        raw = request.stream.read(MAX_BODY_BYTES + 1)
    except Exception as error:  # the server's body reader: bad chunked framing, a client gone mid-body
        raise HttpError(400, f"cannot read the request body ({type(error).__name__})") from None
    if len(raw) > MAX_BODY_BYTES:
        raise HttpError(413, f"request body too large (limit {MAX_BODY_BYTES} bytes)")
    if raw.strip():
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: thousands of nested [ or {
            raise HttpError(400, "request body is not JSON (send a JSON object, e.g. {\"dry_run\": true})") from None
        if not isinstance(body, dict):
            raise HttpError(400, f"request body must be a JSON object, not {type(body).__name__}")
        for name, value in body.items():
            if name in values:
                raise HttpError(400, f"parameter {name[:64]!r} is given in both the query string and the body")
            values[name] = value
    try:
        return RunParams.model_validate(values)
    except ValidationError as error:
        problems = _describe(error)
        message = "; ".join(f"{p['param']}: {p['problem']}" for p in problems)
        raise HttpError(400, f"bad parameter: {message}", problems=problems) from None


# --- handling one request ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """What main.py builds once per instance."""

    settings: Settings
    config: CanaryConfig
    canary: Canary


@dataclass
class Call:
    request: flask.Request
    instance: Callable[[], Instance]
    now: dt.datetime
    run_id: str
    stream: TextIO
    started: float
    settings: Settings | None = None

    def secrets(self) -> list[str]:
        return self.settings.secrets() if self.settings is not None else secret_values()

    def respond(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> flask.Response:
        text = json.dumps(scrub(body, self.secrets()), separators=(",", ":"), default=str)
        response = flask.Response(text + "\n", status=status, mimetype="application/json", headers=headers or {})
        response.headers["Cache-Control"] = "no-store"
        return response

    def log(self, record: dict[str, Any]) -> None:
        emit_log(scrub(record, self.secrets()), stream=self.stream)

    def duration_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


def handle(
    request: flask.Request,
    *,
    instance: Callable[[], Instance],
    now: dt.datetime,
    run_id: str,
    stream: TextIO | None = None,
) -> flask.Response:
    call = Call(request=request, instance=instance, now=now, run_id=run_id, stream=stream or sys.stdout,
                started=time.perf_counter())
    try:
        return _route(call)
    except HttpError as error:
        body: dict[str, Any] = {"error": str(error)}
        if error.problems:
            body["problems"] = error.problems
        call.log({"severity": "WARNING", "message": "pipeline-canary request rejected", "event": "canary_rejected",
                  "status": error.status, "error": str(error), "method": request.method[:MAX_LOGGED_METHOD],
                  "path": _bounded(request.path, MAX_LOGGED_PATH),
                  "user_agent": request.headers.get("User-Agent", "")[:200]})
        return call.respond(error.status, body, error.headers)
    except ConfigError as error:
        # The deploy's own configuration is broken: loud (500, ERROR log) and precise, never a traceback.
        call.log({"severity": "ERROR", "message": "pipeline-canary configuration error", "event": "canary_config_error",
                  "run_id": run_id, "error": str(error)})
        return call.respond(500, {"error": f"configuration error: {error}", "run_id": run_id})
    except Exception as error:
        call.log({"severity": "ERROR", "message": "pipeline-canary run failed: internal error", "event": "canary_crash",
                  "run_id": run_id, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()})
        return call.respond(500, {"error": "internal error", "run_id": run_id})


def _route(call: Call) -> flask.Response:
    request = call.request
    path = request.path.rstrip("/") or "/"
    if path in HEALTH_PATHS:
        if request.method not in HEALTH_METHODS:
            raise _not_allowed(request.method, HEALTH_METHODS)
        return _health(call)
    if path == INCIDENTS_PATH:
        return _incidents(call)
    if path != RUN_PATH:
        raise HttpError(404, f"no such path {path[:100]!r} (runs: POST /; dry runs: GET /?dry_run=true; liveness: GET /health)")
    if request.method not in RUN_METHODS:
        raise _not_allowed(request.method, RUN_METHODS)
    params = read_params(request)
    if request.method != "POST" and (params.action == "test_alert" or not params.dry_run):
        # A crawler, a link preview or a browser tab must never run the canary for real and post to Slack.
        raise HttpError(405, f"a {'test alert' if params.action == 'test_alert' else 'run that sends'} needs POST; "
                             "GET serves dry runs only (add dry_run=true)", headers={"Allow": "POST"})
    built = call.instance()
    call.settings = built.settings
    if params.now is not None and built.settings.backend != "local":
        raise HttpError(400, "bad parameter: now: only accepted on the local backend (production runs on the real clock)")
    if params.now is not None and params.action == "test_alert":
        # A test alert is not a what-if run: set in the future, its record would block every later run at an
        # explicit time. A run at a later `now` is the local backend's replay clock (README: +2 h), allowed.
        try:
            check_not_ahead(params.now, real_now=call.now, name="now")
        except ValueError as error:
            raise HttpError(400, f"bad parameter: {error}") from None
    if params.action == "test_alert":
        return _test_alert(call, built, params)
    return _run(call, built, params)


def _health(call: Call) -> flask.Response:
    """Liveness, and whether the configuration loads (503 with the reason when not); no source is read."""
    try:
        load_all()
    except ConfigError as error:
        return call.respond(503, {"status": "error", "error": f"configuration error: {error}"})
    return call.respond(200, {"status": "ok"})


def _not_allowed(method: str, allowed: tuple[str, ...]) -> HttpError:
    return HttpError(405, f"method {method} not allowed here (use {' or '.join(allowed)})",
                     headers={"Allow": ", ".join(allowed)})


def _run(call: Call, built: Instance, params: RunParams) -> flask.Response:
    run_request = RunRequest(
        run_id=call.run_id, now=params.now or call.now, monitors=params.monitors, dry_run=params.dry_run,
        game_date=params.date,
    )
    try:
        select_monitors(built.config, run_request.monitors)
    except RequestError as error:
        raise HttpError(400, f"bad parameter: monitors: {error}") from None
    try:
        check_replay(built.canary, run_request, explicit_now=params.now is not None, backend=built.settings.backend,
                     now_name="now", dry_run_name="dry_run=true")
    except RequestError as error:
        raise HttpError(400, f"bad parameter: {error}") from None
    try:
        report, record = observed_run(
            built.canary, run_request, heartbeat_url=built.settings.heartbeat_url, secrets=call.secrets(),
            started=call.started,
        )
    except RequestError as error:
        raise HttpError(400, f"bad parameter: {error}") from None
    call.log(record)
    # 503 makes Cloud Scheduler retry; deduplication makes the retry safe. Errored monitors raise their
    # own "canary degraded" alert, so they answer 200 with the errors listed in the report.
    return call.respond(503 if report.delivery_failed else 200, _report_json(report))


def _report_json(report: RunReport) -> dict[str, Any]:
    return report.model_dump(mode="json")


def _test_alert(call: Call, built: Instance, params: RunParams) -> flask.Response:
    extra = [name for name in ("monitors", "date", "dry_run") if name in params.model_fields_set]
    if extra:
        raise HttpError(400, f"bad parameter: {extra[0]}: does not apply to action=test_alert")

    if params.now is not None:  # a test alert records notices like a run: not before the latest one on record
        store = built.canary.store
        try:
            latest = store.latest_notice()
        except StateError:
            latest = None  # the test alert itself reports the unreadable state
        if latest is not None and params.now < latest:
            raise HttpError(
                400, f"bad parameter: now {params.now:%Y-%m-%dT%H:%M:%SZ} is before the latest notice on record "
                f"({latest.astimezone(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ}, {store.location}): a test alert there would "
                "be recorded out of order; leave now out (the real clock) or give a later now",
            )
    result = send_test_alert(built.canary, run_id=call.run_id, now=params.now or call.now)
    failed = bool(result.get("error")) or result.get("delivered") is False
    call.log({"severity": "ERROR" if failed else "INFO", "message": "pipeline-canary test alert",
              "event": "canary_test_alert", "run_id": call.run_id, "delivered": not failed,
              "error": result.get("error"), "duration_ms": round(call.duration_ms(), 1)})
    return call.respond(503 if failed else 200, {"run_id": call.run_id, "action": "test_alert", **result})


def _incidents(call: Call) -> flask.Response:
    """GET /incidents: {"incidents": [...]}, the open incidents grouped by cause (alerts/incidents.py)."""
    from alerts.incidents import incidents_json, open_incidents
    from alerts.state import StateError

    if call.request.method not in HEALTH_METHODS:
        raise _not_allowed(call.request.method, HEALTH_METHODS)
    built = call.instance()
    call.settings = built.settings
    store = built.canary.store
    try:
        firing = store.load_firing()
        listed = open_incidents(
            firing, acknowledgements=store.acknowledgements(fingerprints=firing), silences=store.silences(now=call.now),
            now=call.now,
        )
    except StateError as error:
        return call.respond(503, {"error": f"alert state: {error}"})
    return call.respond(200, incidents_json(listed))
