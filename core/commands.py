"""The one builder of the shell commands an alert tells its reader to run: every value is quoted."""

from __future__ import annotations

import shlex


def shell_command(*words: str, **flags: str | None) -> str:
    """`words` then `--flag=value` pairs (underscores become dashes), each shell-quoted; None flags are left out."""
    parts = [shlex.quote(word) for word in words]
    parts += [f"--{name.replace('_', '-')}={shlex.quote(value)}" for name, value in flags.items() if value is not None]
    return " ".join(parts)


def run_job_command(job: str, *, project: str, location: str) -> str:
    """The command that runs a Cloud Scheduler job now (https://cloud.google.com/sdk/gcloud/reference/scheduler/jobs/run)."""
    return shell_command("gcloud", "scheduler", "jobs", "run", job, location=location, project=project)
