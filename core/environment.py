"""The environment a canary belongs to (production, staging, ...): the one place that names what it stores.

Two canaries of different environments may share one Firestore database or one local folder; they never
see each other's records because every store is named per environment here: production keeps the bare
names it always had (no migration), any other environment's are `<name>__<environment>`. A Firestore
collection, a SQLite file and whatever store comes next (acknowledgements) take their name from
`scoped_name`/`scoped_file`, so a new kind of record is per environment without knowing it.

Fingerprints stay environment-free: the store, not the record's identity, separates environments, so
silences, digest claims and acknowledgements separate too (they are not matched by fingerprint), and the
same finding has the same fingerprint in staging and production (an operator can compare the two).
"""

from __future__ import annotations

import re

PRODUCTION = "production"
SEPARATOR = "__"
"""Between a store's name and the environment; configured collection names may not contain it, so an
environment's name can never be another's (or production's) bare name."""
MAX_ENVIRONMENT_CHARS = 12
"""deploy.sh derives Google Cloud names from it: the service accounts `pipeline-canary-<env>` and
`canary-scheduler-<env>` must fit a service account id's 30 characters
(https://cloud.google.com/iam/docs/service-accounts-create#creating)."""
ENVIRONMENT_PATTERN = re.compile(rf"^[a-z](?:[a-z0-9-]{{0,{MAX_ENVIRONMENT_CHARS - 2}}}[a-z0-9])?$")
ENVIRONMENT_RULE = (
    f"1 to {MAX_ENVIRONMENT_CHARS} characters: lowercase letters, digits and hyphens, starting with a letter and "
    "not ending with a hyphen (e.g. staging)"
)


def environment_problem(name: str) -> str | None:
    """Why `name` cannot be an environment's name, or None."""
    if not ENVIRONMENT_PATTERN.match(name):
        return f"{name[:64]!r} is not an environment name: {ENVIRONMENT_RULE}"
    return None


def is_production(environment: str) -> bool:
    return environment == PRODUCTION


def scoped_name(base: str, *, environment: str) -> str:
    """A store's name (a Firestore collection, a table) for `environment`: production keeps `base`."""
    return base if is_production(environment) else f"{base}{SEPARATOR}{environment}"


def scoped_file(filename: str, *, environment: str) -> str:
    """A local file's name for `environment`: 'state.sqlite3' -> 'state__staging.sqlite3' (production: as is)."""
    stem, dot, suffix = filename.partition(".")
    return f"{scoped_name(stem, environment=environment)}{dot}{suffix}"
