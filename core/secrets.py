"""Secrets never leave the process: the values to hide, and a scrubber for anything about to be shown.

A secret is hidden by every fragment that could identify it, not only whole: an error message may
carry a URL's host or path without the rest (urllib's "Invalid IPv6 URL", a parser quoting the part it
choked on). For a URL-shaped secret (the heartbeat ping URL) its host and its path, and each path
segment long enough to be the secret part (a healthchecks UUID), are secrets too.
"""

from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "[redacted]"
SECRET_ENV = ("CANARY_SLACK_BOT_TOKEN", "CANARY_HEARTBEAT_URL", "CANARY_SLACK_SIGNING_SECRET")
MIN_FRAGMENT = 8
"""Shorter pieces ('/', 'ping', 'https') identify nothing and would blank out ordinary words."""

# Not urllib.parse: it raises on the malformed URLs ("https://[host]/x") whose fragments matter most.
_URL = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://(?P<netloc>[^/?#\s]*)(?P<path>[^?#\s]*)(?:\?(?P<query>[^#\s]*))?(?:#(?P<fragment>\S*))?")


def fragments(secret: str) -> list[str]:
    """The pieces of `secret` that identify it on their own: itself, and for a URL its host and path."""
    found = [secret]
    match = _URL.match(secret)
    if match:
        netloc = match.group("netloc")
        host = netloc.rsplit("@", 1)[-1]
        found += [netloc, host, host.strip("[]"), re.sub(r":\d*$", "", host).strip("[]")]
        if "@" in netloc:
            found += re.split(r"[:@]", netloc.rsplit("@", 1)[0])
        path = match.group("path")
        found += [path, path.strip("/")] + path.split("/")
        if match.group("query"):
            found += [match.group("query")] + re.split(r"[&=]", match.group("query"))
        if match.group("fragment"):
            found += [match.group("fragment")]
    return [piece for piece in found if len(piece) >= MIN_FRAGMENT]


def secret_values(*known: str | None) -> list[str]:
    """Every value that must never be shown: `known` ones and the secret variables' raw values
    (read from the environment too, in case the settings failed to load), with their fragments;
    longest first, so a whole secret is replaced before its pieces."""
    values = [os.environ.get(name, "") for name in SECRET_ENV] + [v or "" for v in known]
    pieces = {piece for value in values if len(value) >= MIN_FRAGMENT for piece in fragments(value)}
    return sorted(pieces, key=len, reverse=True)


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
