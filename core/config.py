"""Configuration: canary.toml (what to check) validated by pydantic, and CANARY_* environment settings."""

from __future__ import annotations

import os
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from core.environment import PRODUCTION, SEPARATOR, environment_problem
from core.model import Severity
from core.secrets import secret_values
from core.urls import url_problem

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The folder of main.py: canary.toml and the local backend's `.canary` are found here by default,
whatever the working directory."""
DEFAULT_CONFIG_PATH = PROJECT_DIR / "canary.toml"
DEFAULT_LOCAL_DIR = PROJECT_DIR / ".canary"
LOCAL_DATA_FILES = ("warehouse.duckdb", "iam_policies.json")
"""What the local backend reads; a folder with neither has nothing to check (run `main.py demo`)."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=366)
"""No setting waits longer than a year; a larger value is a typo, and one near timedelta's own limit
(999999999 days) would overflow the first `now + duration` of every run."""
DURATION_RULE = "a duration from 0s to 366d such as '30m', '2h' or '1d'"


class ConfigError(Exception):
    """A configuration problem, worded for the person who has to fix it."""


def parse_duration(value: Any) -> Any:
    """Accept '90s', '30m', '2h', '1d' (and timedelta) from 0s to MAX_DURATION; pydantic reports anything else."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"expected a duration such as '30m', '2h' or '1d', got {value[:64]!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds > MAX_DURATION.total_seconds():
            raise ValueError(f"expected {DURATION_RULE}, got {value[:64]!r}")
        return timedelta(seconds=seconds)
    if isinstance(value, timedelta):
        if not timedelta(0) <= value <= MAX_DURATION:
            raise ValueError(f"expected {DURATION_RULE}, got {value}")
        return value
    raise ValueError(f"expected a duration such as '30m', '2h' or '1d', got {str(value)[:64]!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepeatIntervals(StrictModel):
    critical: Duration = timedelta(hours=2)
    warning: Duration = timedelta(hours=12)
    info: Duration = timedelta(hours=24)

    def for_severity(self, severity: Severity) -> timedelta:
        return getattr(self, severity.value)


MIN_CLAIM_LEASE, MAX_CLAIM_LEASE = timedelta(minutes=1), timedelta(hours=1)


class AlertsConfig(StrictModel):
    repeat_after: RepeatIntervals = RepeatIntervals()
    group_after: int = Field(default=5, ge=1)
    """More notifications than this in one run go out as one summary message."""
    resolved_retention: Duration = timedelta(days=30)
    """How long a resolved incident's record is kept (Firestore TTL on expire_at)."""
    claim_lease: Duration = timedelta(minutes=5)
    """A claim older than this belongs to a sender that died; another run may take it over."""
    effect_grace: Duration | None = None
    """How long an effect still firing stays in its resolved cause's thread (to clear there by itself) before it
    gets a parent of its own, from the moment the cause resolved; not set: the effect's own repeat interval."""

    def grace_for(self, severity: Severity) -> timedelta:
        return self.effect_grace if self.effect_grace is not None else self.repeat_after.for_severity(severity)

    @field_validator("claim_lease")
    @classmethod
    def _lease_bounds(cls, value: timedelta) -> timedelta:
        if not MIN_CLAIM_LEASE <= value <= MAX_CLAIM_LEASE:
            raise ValueError(
                "expected a duration from 1m to 1h: a claim must outlive one delivery with its retries, and a "
                "notice whose sender died waits this long before another run sends it"
            )
        return value


SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
"""A Slack member id as an interaction payload's user.id carries it (U..., or W... on Enterprise Grid)."""


class SlackActionsConfig(StrictModel):
    """[slack.actions]: who may press the buttons on an alert (main.py slack_actions)."""

    allowed_users: list[str] = Field(default_factory=list)
    """Slack member ids allowed to act; empty: anyone in the workspace who can see the message."""

    @field_validator("allowed_users")
    @classmethod
    def _member_ids(cls, value: list[str]) -> list[str]:
        bad = [user for user in value if not SLACK_USER_ID.match(user)]
        if bad:
            raise ValueError(
                f"not Slack member ids: {', '.join(repr(u[:30]) for u in bad)} (expected e.g. 'U012AB3CD': "
                "a profile's \"Copy member ID\")"
            )
        return value


class SlackConfig(StrictModel):
    channel: str = "#nba-pipeline-alerts"
    channels: dict[Severity, str] = Field(default_factory=dict)
    """Optional per-severity routing; a severity not listed goes to `channel`."""
    actions: SlackActionsConfig = Field(default_factory=SlackActionsConfig)

    def channel_for(self, severity: Severity) -> str:
        return self.channels.get(severity, self.channel)


class LinksConfig(StrictModel):
    """Where an alert's links point: the Google Cloud console, the runbook, Slack threads, the canary itself."""

    console: str = "https://console.cloud.google.com"
    runbook: str = "https://github.com/nba-props-platform/pipeline-canary/blob/main/docs/runbook.md"
    """The runbook (docs/runbook.md) as published; each alert links `<runbook>#<monitor>-<problem>`."""
    slack_archive: str = "https://slack.com/archives"
    """Thread links are `<slack_archive>/<channel id>/p<ts without the dot>`."""
    logs_before: Duration = timedelta(hours=1)
    """A logs link starts this long before the alert's condition began (and ends at the run's time)."""
    canary_service: str = "pipeline-canary"
    """The canary's own function (Cloud Run service) name: its logs, and the URL of a retry."""
    canary_url: str | None = None
    """The canary's HTTPS URL for the retry command of "canary degraded"; default
    https://<region>-<project>.cloudfunctions.net/<canary_service>."""

    @field_validator("console", "runbook", "slack_archive", "canary_url")
    @classmethod
    def _usable_url(cls, value: str | None) -> str | None:
        # Every alert prints links built from these: a placeholder left in ("https://...") would print broken ones.
        problem = url_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"{value!r} {problem}")
        return value

    def canary_endpoint(self, pipeline: Pipeline) -> str:
        return self.canary_url or f"https://{pipeline.region}-{pipeline.project}.cloudfunctions.net/{self.canary_service}"


class DigestConfig(StrictModel):
    """The daily all-clear: posted by the first full scheduled run at or after `at` (league-local)."""

    enabled: bool = True
    at: time = time(9, 0)


SLACK_USER_GROUP_MENTION = re.compile(r"^<!subteam\^S[A-Z0-9]{2,20}>$")
"""A Slack user group mention: `<!subteam^ID>` with the group's id (S...), as Slack's "Formatting text for
app surfaces" documents it (https://docs.slack.dev/messaging/formatting-message-text#mentioning-groups)."""


class EscalationConfig(StrictModel):
    """[escalation]: an unacknowledged, unsilenced incident of these severities escalates once, `after` its
    first notice: the mention in its thread, then a PagerDuty event (alerts/escalate.py). The table's
    presence turns it on."""

    after: Duration = timedelta(minutes=30)
    severities: list[Severity] = Field(default_factory=lambda: [Severity.CRITICAL])
    mention: str | None = None
    """Who is mentioned in the incident's thread: a Slack user group, `<!subteam^S123ABC>`."""
    at_once_when_predictions_due_within: Duration | None = None
    """The league's day: when tonight's predictions are due within this long (the slate the digest reads),
    an incident escalates at its first notice instead of waiting `after`."""

    @field_validator("after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 0 or value > timedelta(days=1):
            raise ValueError("give a duration from '0m' to '1d'")
        return value

    @field_validator("severities")
    @classmethod
    def _pages_criticals(cls, value: list[Severity]) -> list[Severity]:
        if not value:
            raise ValueError("list at least one severity (e.g. [\"critical\"]); remove [escalation] to turn it off")
        if Severity.INFO in value:
            raise ValueError("info never pages (give \"critical\", and \"warning\" only if a warning should wake someone)")
        return list(dict.fromkeys(value))

    @field_validator("mention")
    @classmethod
    def _user_group(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_USER_GROUP_MENTION.match(value):
            raise ValueError(
                f"not a Slack user group mention: {value[:40]!r} (expected '<!subteam^S0123ABCD>' with the group's id)"
            )
        return value


def _collection_name(value: str) -> str:
    if SEPARATOR in value:
        raise ValueError(f"{value[:64]!r}: {SEPARATOR!r} is reserved for an environment's suffix (canary_alerts__staging)")
    return value


CollectionName = Annotated[
    str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"), BeforeValidator(_collection_name),
]
"""A Firestore collection id this canary owns: a letter, then up to 63 letters, digits, '_' or '-'."""


class FirestoreConfig(StrictModel):
    """The collections' names in production; another environment's are `<name>__<environment>`
    (core/environment.py), in the same database."""

    alerts_collection: CollectionName = "canary_alerts"
    silences_collection: CollectionName = "canary_silences"
    acks_collection: CollectionName = "canary_acks"
    """Acknowledgements, one document per fingerprint (alerts/acks.py)."""
    slack_actions_collection: CollectionName = "canary_slack_actions"
    """One document per Slack click handled (its id is the click's key): a click delivered twice acts once."""


SCHEDULER_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
"""A Cloud Scheduler JOB_ID "can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or
underscores (_). The maximum length is 500 characters"
(https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#Job)."""
_RUNS_A_JOB = re.compile(r"\bscheduler\s+jobs\s+run\b")


def scheduler_job_id(value: str | None) -> str | None:
    """A job id as Cloud Scheduler allows it (not a full resource name), or a ValueError saying why not."""
    if value is not None and not SCHEDULER_JOB_ID.match(value):
        raise ValueError(
            f"{value[:80]!r} is not a Cloud Scheduler job id (letters, digits, '-' and '_' only, at most 500; "
            "the id, not projects/.../jobs/ID)"
        )
    return value


def not_a_job_command(value: str | None, *, key: str) -> str | None:
    """A hand-written command may not run a scheduler job: such a fix is built from `key`, so it can be confirmed."""
    if value is not None and _RUNS_A_JOB.search(value):
        raise ValueError(f"runs a Cloud Scheduler job: name the job in `{key}` instead (the fix command is built from it)")
    return value


SchedulerJobId = Annotated[str, AfterValidator(scheduler_job_id)]


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


TOPIC_ID = r"^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$"
"""A Pub/Sub topic id: starts with a letter, 3-255 letters, digits or - _ . ~ + %, not 'goog...'
(https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names)."""


class PushHop(StrictModel):
    """One Cloud Run service on a transition's push path, and the topic whose push subscription reaches it."""

    service: str = Field(min_length=1)
    topic: str | None = Field(default=None, pattern=TOPIC_ID)

    @field_validator("topic")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value is not None and value.lower().startswith("goog"):
            raise ValueError(f"not a Pub/Sub topic id: {value[:100]!r} (an id cannot start with 'goog')")
        return value
    """The Pub/Sub topic published to by the hop before it (shown in alerts; the subscription is found by its endpoint)."""


class Hop(StrictModel):
    """A service's place on one transition's push path (1-based `position`), for the alerts that name it."""

    transition: str
    position: int
    of: int
    """How many hops the transition's push path has."""
    service: str
    topic: str | None = None

    def describe(self, *, with_transition: bool = False) -> str:
        """'second hop: nba-phase4-trigger -> nba-phase4-precompute-processors' (with_transition: 'second hop of
        phase_3_analytics->phase_4_precompute: ...')."""
        ordinal = f"{_ORDINALS[self.position - 1]} hop" if self.position <= len(_ORDINALS) else f"hop {self.position}"
        if with_transition:
            ordinal += f" of {self.transition}"
        return f"{ordinal}: {self.topic} -> {self.service}" if self.topic else f"{ordinal}: {self.service}"


class Transition(StrictModel):
    """One hand-off of the pipeline: `from` phase complete -> `to` phase starts, within `max_delay`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_phase: str = Field(alias="from")
    to_phase: str = Field(alias="to")
    service: str | None = None
    """The Cloud Run service whose Pub/Sub push starts the downstream phase (an orchestrator, or the
    phase-3 trigger), when one does; its IAM and push problems explain this transition's stalls."""
    services: list[Annotated[str, Field(min_length=1)] | PushHop] | None = None
    """Every service on the push path, in hop order, when there is more than one (give `service` or
    `services`): e.g. the orchestrator, then `{ service = ..., topic = ... }` that its topic pushes to.
    A problem of any hop explains this transition's stalls."""
    complete_by: Duration | None = None
    """The upstream phase, once started for a game date, must be complete this long after 00:00 league
    time of that date ("36h": noon of the next day); not set: not judged."""
    min_processors: int | None = Field(default=None, ge=1)
    """The upstream phase is complete when this many distinct processors succeeded..."""
    required_processors: list[str] | None = None
    """...or when every one of these did (give exactly one of the two)."""
    max_delay: Duration
    """How long after the upstream phase completed the downstream phase may take to start."""
    next_step: str | None = None
    """What to run by hand to push the downstream phase (shown in the alert's fix)."""
    backup_job: SchedulerJobId | None = None
    """The Cloud Scheduler job (in [pipeline] project and region) that starts the downstream phase by hand:
    the stall's fix runs it, and scheduler_jobs checks it exists, is enabled and succeeds."""

    @field_validator("next_step")
    @classmethod
    def _next_step_runs_no_job(cls, value: str | None) -> str | None:
        return not_a_job_command(value, key="backup_job")

    @model_validator(mode="after")
    def _one_fix(self) -> Transition:
        if self.backup_job and self.next_step:
            raise ValueError("give one of backup_job or next_step (the fix runs the backup job)")
        return self

    @model_validator(mode="after")
    def _one_completeness_rule(self) -> Transition:
        if (self.min_processors is None) == (not self.required_processors):
            raise ValueError("give exactly one of min_processors or required_processors")
        return self

    @model_validator(mode="after")
    def _one_push_path(self) -> Transition:
        if self.service is not None and self.services is not None:
            raise ValueError("give `service` (one hop) or `services` (every hop, in order), not both")
        if self.services is not None and not self.services:
            raise ValueError("services: empty, so no hop of its push path would be checked (list them, or leave it out)")
        names = [hop.service for hop in self.push_path]
        if len(set(names)) != len(names):
            raise ValueError(f"services: a service is listed twice ({', '.join(names)})")
        return self

    @property
    def push_path(self) -> list[PushHop]:
        """The services whose Pub/Sub pushes start the downstream phase, in hop order (empty: none is named)."""
        if self.services is not None:
            return [PushHop(service=h) if isinstance(h, str) else h for h in self.services]
        return [PushHop(service=self.service)] if self.service else []

    @property
    def hops(self) -> list[Hop]:
        path = self.push_path
        return [
            Hop(transition=self.label, position=index, of=len(path), service=h.service, topic=h.topic)
            for index, h in enumerate(path, start=1)
        ]

    @property
    def label(self) -> str:
        return f"{self.from_phase}->{self.to_phase}"


def phase_name_problems(phases: list[str], predictions_phase: str | None, transitions: list[tuple[Any, Any]]) -> list[str]:
    """Every name of [pipeline] that its `phases` do not have, each with its key (all at once: a fix per
    attempt is an operator's afternoon). A None name is missing, which the model reports itself."""
    known = ", ".join(phases)
    problems: list[str] = []
    if len(set(phases)) != len(phases):
        problems.append(f"phases: a phase is listed twice ({known})")
    if predictions_phase is not None and predictions_phase not in phases:
        problems.append(f"predictions_phase: unknown phase {predictions_phase!r} (known: {known})")
    seen: set[str] = set()
    for index, (from_phase, to_phase) in enumerate(transitions):
        # A transition by its from->to, as every other message names it; by index only when a side is missing.
        named = isinstance(from_phase, str) and isinstance(to_phase, str)
        where = f"transitions[{from_phase}->{to_phase}]" if named else f"transitions[{index}]"
        unknown = [(side, phase) for side, phase in (("from", from_phase), ("to", to_phase))
                   if phase is not None and phase not in phases]
        problems += [f"{where}.{side}: unknown phase {phase!r} (known: {known})" for side, phase in unknown]
        if unknown or not named:
            continue
        label = f"{from_phase}->{to_phase}"
        if phases.index(from_phase) >= phases.index(to_phase):
            problems.append(f"{where}: runs against the order of phases ({known})")
        if label in seen:
            problems.append(f"{where}: listed twice")
        seen.add(label)
    return problems


class Pipeline(StrictModel):
    """The pipeline's shape, stated once: its phases in order, the hand-offs between them, and the
    service that starts each downstream phase. Monitors and the dependency rules read it from here."""

    project: str
    region: str
    phases: list[str] = Field(min_length=2)
    predictions_phase: str
    """The phase that writes player_prop_predictions: a stall at or before it explains missing predictions."""
    transitions: list[Transition] = Field(min_length=1)
    rerun_job: SchedulerJobId | None = None
    """The Cloud Scheduler job (in `project` and `region`) that re-runs predictions: missing_predictions'
    fix runs it, and scheduler_jobs checks it."""

    @model_validator(mode="after")
    def _names_exist(self) -> Pipeline:
        problems = phase_name_problems(
            self.phases, self.predictions_phase, [(t.from_phase, t.to_phase) for t in self.transitions]
        )
        if problems:
            raise ValueError("; pipeline.".join(problems))
        return self

    @property
    def services(self) -> list[str]:
        """Every service on a push path that starts a phase (every hop), in pipeline and hop order."""
        return list(dict.fromkeys(hop.service for t in self.transitions for hop in t.push_path))

    def transitions_started_by(self, service: str) -> list[Transition]:
        """The transitions whose push path has `service` as one of its hops: its problems explain their stalls."""
        return [t for t in self.transitions if any(hop.service == service for hop in t.push_path)]

    def hops_of(self, service: str) -> list[Hop]:
        """Where `service` sits on the push paths (one Hop per transition it helps start)."""
        return [hop for t in self.transitions for hop in t.hops if hop.service == service]

    def transitions_into(self, phase: str) -> list[Transition]:
        """The transitions that start `phase`: their stalls and their hops' problems explain its partial runs."""
        return [t for t in self.transitions if t.to_phase == phase]

    def position(self, phase: str) -> int:
        return self.phases.index(phase)


DatasetPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]*$", max_length=64)]


def _environment(value: Any) -> Any:
    problem = environment_problem(value) if isinstance(value, str) else "expected a string"
    if problem:
        raise ValueError(problem)
    return value


Environment = Annotated[str, BeforeValidator(_environment)]


class CanaryConfig(StrictModel):
    environment: Environment = PRODUCTION
    """Which deployment this is: everything it stores is per environment (core/environment.py), and the
    messages of any environment but production say which one they come from."""
    timezone: str = "America/New_York"
    dataset_prefix: DatasetPrefix = ""
    """Prefixes every dataset of every query (staging: 'test_' reads test_nba_raw, test_nba_orchestration...)."""
    monitor_timeout: Duration = timedelta(seconds=60)
    alerts: AlertsConfig = AlertsConfig()
    slack: SlackConfig = SlackConfig()
    firestore: FirestoreConfig = FirestoreConfig()
    links: LinksConfig = LinksConfig()
    digest: DigestConfig = DigestConfig()
    escalation: EscalationConfig | None = None
    """None (no [escalation] table): nothing escalates."""
    pipeline: Pipeline
    monitors: dict[str, Any] = Field(default_factory=dict)
    """Per-monitor tables; load_config validates each with its monitor's own Config model."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as 'America/New_York')")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_PROJECT_ID = re.compile(r"^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
"""A Google Cloud project id (https://cloud.google.com/resource-manager/docs/creating-managing-projects)."""

def heartbeat_url_problem(url: str) -> str | None:
    """What is wrong with a CANARY_HEARTBEAT_URL (never quoting it), or None: the one check and message of it."""
    problem = url_problem(url)
    return None if problem is None else f"{problem}; heartbeat disabled"


TEST_ENDPOINT_SETTINGS = {
    "bigquery_endpoint": "CANARY_BIGQUERY_ENDPOINT",
    "run_endpoint": "CANARY_RUN_ENDPOINT",
    "resource_manager_endpoint": "CANARY_RESOURCE_MANAGER_ENDPOINT",
    "monitoring_endpoint": "CANARY_MONITORING_ENDPOINT",
    "scheduler_endpoint": "CANARY_SCHEDULER_ENDPOINT",
    "logging_endpoint": "CANARY_LOGGING_ENDPOINT",
    "slack_base_url": "CANARY_SLACK_BASE_URL",
    "firestore_emulator_host": "FIRESTORE_EMULATOR_HOST",
    "pagerduty_url": "CANARY_PAGERDUTY_URL",
    "pubsub_emulator_host": "PUBSUB_EMULATOR_HOST",
}
"""Settings that point a production client at a local stand-in (unauthenticated, or given the token)."""


SETTINGS_PREFIX = "CANARY_"


class Settings(BaseModel):
    """Environment settings (prefix CANARY_); endpoints are for local servers and unset in production.

    Validated at load: a bad required setting is a configuration error naming the variable. A bad
    optional one (the heartbeat URL) must not stop monitoring: it is kept out of use and reported by
    `problems()`, which every run raises as a "canary degraded" alert naming the variable.

    A plain model filled from os.environ rather than pydantic-settings: that library imports asyncio and
    its cloud-secret providers, a third of a cold start, for what `_from_environment` does in ten lines.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    backend: Literal["local", "gcp"] = "local"
    config: Path = DEFAULT_CONFIG_PATH
    local_dir: Path = DEFAULT_LOCAL_DIR
    """The local backend's folder: `.canary` beside main.py unless CANARY_LOCAL_DIR says otherwise."""
    gcp_project: str = "nba-props-platform"
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    """The Slack app's signing secret (CANARY_SLACK_SIGNING_SECRET): only the slack_actions function reads it."""
    slack_channel: str | None = None
    """Overrides [slack] channel of the configuration file (deploy.sh sets it)."""
    dataset_prefix: DatasetPrefix | None = None
    """Overrides dataset_prefix of the configuration file (deploy.sh --dataset-prefix sets it; '' clears it)."""
    environment: Environment | None = None
    """CANARY_ENVIRONMENT: overrides `environment` of the configuration file (deploy.sh --environment sets it)."""
    function: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,62}$")
    """CANARY_FUNCTION: this deployment's own function (deploy.sh sets it): its logs and its retry URL."""
    bigquery_endpoint: str | None = None
    run_endpoint: str | None = None
    resource_manager_endpoint: str | None = None
    monitoring_endpoint: str | None = None
    """host:port of a gRPC stand-in of Cloud Monitoring (google-cloud-monitoring has only gRPC transports)."""
    scheduler_endpoint: str | None = None
    """A REST stand-in of Cloud Scheduler (http://host:port)."""
    logging_endpoint: str | None = None
    """A REST stand-in of Cloud Logging's entries.list (http://host:port)."""
    slack_base_url: str | None = None
    firestore_emulator_host: str | None = Field(default=None, validation_alias="FIRESTORE_EMULATOR_HOST")
    """Read by the Firestore client library itself; named here so the gcp backend can refuse it."""
    pubsub_emulator_host: str | None = Field(default=None, validation_alias="PUBSUB_EMULATOR_HOST")
    """Read by the Pub/Sub client library itself (it then sends no credentials); refused like the above."""
    allow_test_endpoints: bool = False
    """CANARY_ALLOW_TEST_ENDPOINTS=1: the gcp backend may use the endpoint settings above (tests only)."""
    heartbeat_url: str | None = None
    pagerduty_routing_key: SecretStr | None = None
    """CANARY_PAGERDUTY_ROUTING_KEY: the Events API v2 integration key escalations page with (Secret Manager in
    production); unset, an escalation is recorded and shown but nobody is paged."""
    pagerduty_url: str | None = None
    """CANARY_PAGERDUTY_URL: a stand-in's base URL (events go to <url>/v2/enqueue); tests only."""

    @field_validator("pagerduty_url")
    @classmethod
    def _pagerduty_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        problem = url_problem(value)
        if problem:
            raise ValueError(f"{problem} (expected e.g. http://127.0.0.1:9060)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _pagerduty_stand_in_for_tests_only(self) -> Settings:
        if self.pagerduty_url is not None and not self.allow_test_endpoints:
            raise ValueError(
                "CANARY_PAGERDUTY_URL points escalations (and the routing key) at a stand-in of PagerDuty: it is "
                "accepted only with CANARY_ALLOW_TEST_ENDPOINTS=1 (tests); unset it to page PagerDuty itself"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, given: Any) -> Any:
        """Each field not given as an argument comes from its variable: CANARY_<NAME>, or the field's own
        validation alias (FIRESTORE_EMULATOR_HOST); names match in any case, as on Cloud Run."""
        if not isinstance(given, dict):
            return given
        environ = {name.upper(): value for name, value in os.environ.items()}
        values = {}
        for name, field in cls.model_fields.items():
            variable = field.validation_alias if isinstance(field.validation_alias, str) else SETTINGS_PREFIX + name.upper()
            key = field.validation_alias if isinstance(field.validation_alias, str) else name
            if variable.upper() in environ:
                values[key] = environ[variable.upper()]
        return values | given

    @field_validator("gcp_project")
    @classmethod
    def _project_id(cls, value: str) -> str:
        if not _PROJECT_ID.match(value):
            raise ValueError(f"not a Google Cloud project id: {value[:64]!r}")
        return value

    @field_validator("bigquery_endpoint", "run_endpoint", "slack_base_url", "scheduler_endpoint", "logging_endpoint")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        problem = url_problem(value)
        if problem:
            raise ValueError(f"{problem} (expected e.g. http://127.0.0.1:9050)")
        return value

    @field_validator("environment", "function", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("slack_channel", "heartbeat_url", "firestore_emulator_host", "pubsub_emulator_host")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _production_talks_to_google_and_slack_only(self) -> Settings:
        if self.backend != "gcp" or self.allow_test_endpoints:
            return self
        stray = [name for field, name in TEST_ENDPOINT_SETTINGS.items() if getattr(self, field)]
        if stray:
            raise ValueError(
                f"{', '.join(stray)} set on the gcp backend: these point the production clients (and the Slack "
                f"token) at a test stand-in; unset them, or set CANARY_ALLOW_TEST_ENDPOINTS=1 in a test"
            )
        return self

    def problems(self) -> dict[str, str]:
        """Bad optional settings, by variable name: each is left unused and reported, never a crash."""
        found = {}
        if self.heartbeat_url is not None:
            problem = heartbeat_url_problem(self.heartbeat_url)
            if problem:
                found["CANARY_HEARTBEAT_URL"] = problem
        return found

    def missing_local_data(self) -> str | None:
        """Why a local run would have nothing to read (no folder, or neither source file in it), or None."""
        if self.backend != "local":
            return None
        if not self.local_dir.is_dir():
            return f"no local data folder {self.local_dir}"
        if not any((self.local_dir / name).exists() for name in LOCAL_DATA_FILES):
            return f"the local data folder {self.local_dir} has neither {' nor '.join(LOCAL_DATA_FILES)}"
        return None

    def secrets(self) -> list[str]:
        """Every value of these settings that must never be shown (the token, the heartbeat URL)."""
        token = self.slack_bot_token.get_secret_value() if self.slack_bot_token is not None else None
        signing = self.slack_signing_secret.get_secret_value() if self.slack_signing_secret is not None else None
        routing = self.pagerduty_routing_key.get_secret_value() if self.pagerduty_routing_key is not None else None
        return secret_values(token, self.heartbeat_url, signing, routing)


PATTERN_RULES = {
    r"^[A-Za-z0-9_]*$": "letters, digits and underscores only",
    r"^[a-z0-9][a-z0-9_-]{0,63}$": "1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit",
}
"""Each pattern a setting is checked against, said in words (an error never shows the regex)."""


def _location(loc: tuple[Any, ...], raw: Any = None) -> str:
    """`pipeline.transitions[phase_2->phase_3].max_delay`: a transition by its from->to, other list items by index."""
    text = ""
    node = raw
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            named = isinstance(item, dict) and isinstance(item.get("from"), str) and isinstance(item.get("to"), str)
            text += f"[{item['from']}->{item['to']}]" if named else f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
            item = node.get(part) if isinstance(node, dict) else None
        node = item
    return text or "(top level)"


def _known_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The keys the table at `loc` accepts (as the user writes them: aliases), for an "unknown key" error."""
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) or next(
            (f for f in model.model_fields.values() if f.alias == part), None)
        annotation = field.annotation if field is not None else None
        args = getattr(annotation, "__args__", ()) or ()
        model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _settings_name(loc: tuple[Any, ...]) -> str:
    """A Settings field as the user writes it: its environment variable (CANARY_BACKEND)."""
    if not loc:
        return "environment"
    field = Settings.model_fields.get(str(loc[0]))
    alias = field.validation_alias if field is not None else None
    return alias if isinstance(alias, str) else f"CANARY_{str(loc[0]).upper()}"


def describe_settings_error(error: ValidationError) -> str:
    """One line per bad environment setting, each named as it is set (CANARY_BACKEND, not CANARY.backend)."""
    return "; ".join(
        f"{_settings_name(tuple(problem['loc']))}: {_problem_text(problem, known=[])}" for problem in error.errors()
    )


def _problem_text(problem: Any, *, known: list[str]) -> str:
    if problem["type"] == "extra_forbidden":
        return f"unknown key (known: {', '.join(known)})" if known else "unknown key"
    if problem["type"] == "string_pattern_mismatch":
        pattern = (problem.get("ctx") or {}).get("pattern", "")
        return f"expected {PATTERN_RULES.get(pattern, 'a value of the documented form')}"
    return str(problem["msg"]).removeprefix("Value error, ")


def describe_validation_error(
    error: ValidationError, *, prefix: str = "", raw: Any = None, model: type[BaseModel] | None = None
) -> str:
    """One line per problem: the key (a transition by its from->to) and what was expected, in words."""
    lines = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        where = _location(loc, raw)
        if prefix:
            where = f"{prefix}.{where}" if where != "(top level)" else prefix
        known = _known_keys(model, loc[:-1]) if problem["type"] == "extra_forbidden" else []
        lines.append(f"{where}: {_problem_text(problem, known=known)}")
    return "; ".join(lines)
