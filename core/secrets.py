"""Secrets never leave the process: the values to hide, and a scrubber for anything about to be shown."""

from __future__ import annotations

import os
from typing import Any

REDACTED = "[redacted]"
SECRET_ENV = ("CANARY_SLACK_BOT_TOKEN", "CANARY_HEARTBEAT_URL")


def secret_values(*known: str | None) -> list[str]:
    """Every value that must never be shown: `known` ones and the secret variables' raw values
    (read from the environment too, in case the settings failed to load)."""
    values = [os.environ.get(name, "") for name in SECRET_ENV] + [v or "" for v in known]
    return sorted({v for v in values if len(v) >= 8}, key=len, reverse=True)


def scrub(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret replaced, through dicts and lists (a last line of defence)."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    return value
