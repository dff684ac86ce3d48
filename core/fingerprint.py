"""A finding's identity: a stable hash of its monitor and its sorted key labels."""

from __future__ import annotations

import hashlib
import json


def fingerprint_of(monitor: str, key: dict[str, str]) -> str:
    """Hash monitor + sorted key; counts and times never take part, so a finding keeps its identity."""
    canonical = json.dumps([monitor, sorted(key.items())], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
