"""The one builder of the shell commands an alert tells its reader to run: every value is quoted."""

from __future__ import annotations

import shlex


def shell_command(*words: str, **flags: str | None) -> str:
    """`words` then `--flag=value` pairs (underscores become dashes), each shell-quoted; None flags are left out.

    A word read from a source (a subscription id, a service name) that starts with '-' would be parsed as an
    option: then the flags come first and `--` ends them, so every word after it is a positional argument
    (gcloud and the other CLIs parse `--` so, as argparse does)."""
    options = [f"--{name.replace('_', '-')}={shlex.quote(value)}" for name, value in flags.items() if value is not None]
    quoted = [shlex.quote(word) for word in words]
    first_dash = next((i for i, word in enumerate(words) if i > 0 and word.startswith("-")), None)
    if first_dash is None:
        return " ".join(quoted + options)
    return " ".join(quoted[:first_dash] + options + ["--"] + quoted[first_dash:])


def run_job_command(job: str, *, project: str, location: str) -> str:
    """The command that runs a Cloud Scheduler job now (https://cloud.google.com/sdk/gcloud/reference/scheduler/jobs/run)."""
    return shell_command("gcloud", "scheduler", "jobs", "run", job, location=location, project=project)
