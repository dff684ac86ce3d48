"""scheduler_jobs: the Cloud Scheduler jobs (in [pipeline] project and region) the pipeline and its on-call depend on exist, are enabled,
succeed and run on time.

Watched: the canary's own job (deploy.sh creates it: if it stops, nothing checks anything), each
transition's `backup_job` and [pipeline] `rerun_job` (the jobs the alerts' fixes run: critical), and the
extra `jobs` of [monitors.scheduler_jobs] (warning). One listJobs call for the location, then judged.

Fields read (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#Job):
- `state`: ENABLED "executing normally"; PAUSED "paused by the user. It will not execute"; DISABLED
  "disabled by the system due to error"; UPDATE_FAILED "a failed UpdateJob operation" (retry UpdateJob).
- `status`: "The response from the target for the last attempted execution", a google.rpc.Status. Proto3
  JSON leaves out a field at its default, so a success (code 0, OK) is `"status": {}`; any other code failed
  (https://protobuf.dev/programming-guides/json/, https://cloud.google.com/apis/design/errors#error_codes).
- `scheduleTime`: "The next time the job is scheduled" (it may be a retry of a failed attempt);
  `lastAttemptTime`: "The time the last job attempt started". When scheduleTime is in the past by more than
  `late_after` and no attempt started since, the job did not run when it was due (late).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import field_validator

from core.commands import run_job_command, shell_command
from core.config import Duration, Pipeline, scheduler_job_id
from core.model import CheckResult, Finding, Judged, Severity
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from sources.errors import SourceError
from sources.scheduler import Job

NAME = "scheduler_jobs"
ENABLED = "ENABLED"


class Config(MonitorConfig):
    jobs: list[str] = []
    """Extra jobs to watch (warning); the backup and re-run jobs of [pipeline] are always watched (critical)."""
    canary_job: str | None = "pipeline-canary"
    """The canary's own job: deploy.sh creates it (--job, default pipeline-canary). Empty string: not watched."""
    late_after: Duration = timedelta(minutes=30)
    """A job is late when its scheduled time passed this long ago with no attempt since."""

    @field_validator("jobs")
    @classmethod
    def _job_ids(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            try:
                scheduler_job_id(value)
            except ValueError as error:
                raise ValueError(f"jobs[{index}]: {error}") from None
        return values

    @field_validator("canary_job")
    @classmethod
    def _canary_job_id(cls, value: str | None) -> str | None:
        return scheduler_job_id(value or None)


@dataclass(frozen=True)
class Watched:
    job: str
    severity: Severity
    role: str
    """Why it matters, for the reader: "the canary's own schedule", "backup of X->Y", ..."""


def watched_jobs(config: Config, pipeline: Pipeline) -> list[Watched]:
    """Every job to check, once each, with its highest severity (a fix's job is critical)."""
    found: dict[str, Watched] = {}

    def add(job: str, severity: Severity, role: str) -> None:
        if job in found:
            if found[job].severity is Severity.WARNING and severity is Severity.CRITICAL:
                found[job] = Watched(job, severity, role)
            return
        found[job] = Watched(job, severity, role)

    if config.canary_job:
        add(config.canary_job, Severity.CRITICAL, "the canary's own schedule: while it does not run, nothing is checked")
    for transition in pipeline.transitions:
        if transition.backup_job:
            add(transition.backup_job, Severity.CRITICAL,
                f"starts {transition.to_phase} by hand (the fix of a {transition.label} stall)")
    if pipeline.rerun_job:
        add(pipeline.rerun_job, Severity.CRITICAL, "re-runs predictions (the fix of missing predictions)")
    for job in config.jobs:
        add(job, Severity.WARNING, "listed in [monitors.scheduler_jobs] jobs")
    return list(found.values())


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def judge_job(
    watched: Watched, job: Job | None, *, now: datetime, late_after: timedelta, project: str, location: str,
) -> list[Finding]:
    """The findings of one job as read (None: it does not exist)."""
    name = watched.job
    flags = dict(location=location, project=project)

    def finding(problem: str, summary: str, fix: str, since: datetime | None = None, **details: Any) -> Finding:
        return Finding(
            monitor=NAME, severity=watched.severity, key={"job": name, "problem": problem}, summary=summary, fix=fix,
            since=since, details={"project": project, "location": location, "role": watched.role, **details},
        )

    if job is None:
        return [finding(
            "not_found", f"Cloud Scheduler job {name} does not exist in {project}/{location}",
            shell_command("gcloud", "scheduler", "jobs", "list", **flags),
            evidence=f"listJobs of projects/{project}/locations/{location} has no job {name}",
            check_first=(
                "./deploy.sh creates the canary's job; a pipeline job is recreated by its owner, or its name corrected "
                "in canary.toml (backup_job, rerun_job, [monitors.scheduler_jobs] jobs)"
            ),
        )]
    state = str(job.get("state") or "STATE_UNSPECIFIED")
    shown = {
        "state": state, "schedule": job.get("schedule"), "time_zone": job.get("timeZone"),
        "last_attempt_at": job.get("lastAttemptTime"), "next_scheduled_at": job.get("scheduleTime"),
    }
    if state != ENABLED:
        fix = (shell_command("gcloud", "scheduler", "jobs", "resume", name, **flags) if state == "PAUSED"
               else shell_command("gcloud", "scheduler", "jobs", "describe", name, **flags))
        why = {
            "PAUSED": "paused by a user: it will not run",
            "DISABLED": "disabled by Cloud Scheduler after an error: it will not run",
            "UPDATE_FAILED": "its last update failed: retry the update until it succeeds",
        }.get(state, "not enabled")
        return [finding("paused", f"Cloud Scheduler job {name} is {state}: {why}", fix,
                        evidence=f"state={state}", **shown)]
    findings: list[Finding] = []
    status = job.get("status")
    code = last_status_code(job)
    if code:
        last = _time(job.get("lastAttemptTime"))
        findings.append(finding(
            "failing", f"Cloud Scheduler job {name}: its last attempt failed (code {code})",
            shell_command(
                "gcloud", "logging", "read", f'resource.type="cloud_scheduler_job" AND resource.labels.job_id="{name}"',
                project=project, freshness="1d", limit="20",
            ),
            since=last, status_code=code, status_message=(status or {}).get("message"),
            evidence=f"status.code={code} for the attempt started at {job.get('lastAttemptTime')}", **shown,
        ))
    scheduled, last_attempt = _time(job.get("scheduleTime")), _time(job.get("lastAttemptTime"))
    if scheduled is not None and now - scheduled > late_after and (last_attempt is None or last_attempt < scheduled):
        findings.append(finding(
            "late", f"Cloud Scheduler job {name} has not run since it was due ({round((now - scheduled).total_seconds() / 60)} min ago)",
            shell_command("gcloud", "scheduler", "jobs", "describe", name, **flags),
            since=scheduled + late_after, late_after_minutes=round(late_after.total_seconds() / 60),
            evidence=f"scheduleTime {job.get('scheduleTime')} passed with no attempt since", **shown,
        ))
    return findings


def last_status_code(job: Job) -> int:
    """The google.rpc code of the job's last attempt: 0 when it succeeded (proto3 JSON omits a zero code)."""
    status = job.get("status")
    return int(status.get("code") or 0) if isinstance(status, dict) else 0


def by_id(jobs: list[Job]) -> dict[str, Job]:
    return {str(job.get("name", "")).rsplit("/", 1)[-1]: job for job in jobs}


def judge(config: Config, jobs: list[Job], ctx: CheckContext) -> CheckResult:
    """Every watched job against the location's listing, at ctx.now (pure)."""
    pipeline = ctx.pipeline
    watched = watched_jobs(config, pipeline)
    if not watched:
        return CheckResult(no_data=True, no_data_reason="no scheduler job configured (canary_job, backup_job, rerun_job, jobs)")
    location = pipeline.region  # the seeds run the jobs with --location=us-west2, the pipeline's region
    listing = by_id(jobs)
    findings = [
        f for w in watched
        for f in judge_job(w, listing.get(w.job), now=ctx.now, late_after=config.late_after, project=pipeline.project, location=location)
    ]
    return CheckResult(findings=findings, judged=Judged(label="job", targets=[w.job for w in watched]))


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    if sources.scheduler is None:
        raise SourceError("scheduler", "no Cloud Scheduler source is configured")
    return judge(config, sources.scheduler.list_jobs(project=ctx.pipeline.project, location=ctx.pipeline.region), ctx)


def confirm_jobs(findings: list[Finding], sources: Sources, pipeline: Pipeline) -> list[Finding]:
    """Findings whose fix runs a job (details["job"]), checked against Cloud Scheduler: a job it does not have
    is never presented as the fix; the fix lists the jobs and says, in a shell comment, that it was not found.
    When the jobs cannot be read the fix is left as built (scheduler_jobs reports the read failure)."""
    named = [f for f in findings if f.details.get("job")]
    if not named or sources.scheduler is None:
        return findings
    where = pipeline.region
    try:
        present = by_id(sources.scheduler.list_jobs(project=pipeline.project, location=where))
    except SourceError:
        return findings
    listing = shell_command("gcloud", "scheduler", "jobs", "list", location=where, project=pipeline.project)

    def confirmed(finding: Finding) -> Finding:
        job = str(finding.details.get("job") or "")
        if not job:
            return finding
        if job not in present:
            return finding.model_copy(update={
                "fix": f"{listing}  # job {job}: not found in {pipeline.project}/{where}, so it cannot be run",
                "details": {**finding.details, "job_found": False},
            })
        code = last_status_code(present[job])
        if code and finding.fix:
            # Running a job whose target refused its last attempt (the demo's same-day-phase4: code 7, the
            # service's invoker binding is gone) fails the same way: the fix says so instead of promising a rerun.
            return finding.model_copy(update={
                "fix": f"{finding.fix}  # job {job}: its last attempt failed (code {code}): fix what refused it first "
                       "(its scheduler_jobs alert), or this run fails the same way",
                "details": {**finding.details, "job_last_status_code": code},
            })
        return finding

    return [confirmed(f) for f in findings]


def job_fix(job: str, pipeline: Pipeline) -> str:
    """The fix that runs a job of [pipeline] (its project and region)."""
    return run_job_command(job, project=pipeline.project, location=pipeline.region)


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="scheduler",
    no_history=(
        "reads Cloud Scheduler's jobs as they are now (state, last attempt, next scheduled time); past states "
        "are not kept, so there is no history to replay"
    ),
    key_labels=frozenset({"job", "problem"}),
    problems=("not_found", "paused", "failing", "late"),
)


def with_job_fix(finding: Finding, job: str | None, pipeline: Pipeline) -> Finding:
    """The finding with its fix running `job` (None: unchanged); confirm_jobs later checks the job exists."""
    if job is None:
        return finding
    return finding.model_copy(update={"fix": job_fix(job, pipeline), "details": {**finding.details, "job": job}})
