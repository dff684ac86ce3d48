"""The production configuration (canary.toml) as tests read it: its values are stated there only."""

from __future__ import annotations

from core.config import DEFAULT_CONFIG_PATH
from run.configure import load_config

CONFIG = load_config(DEFAULT_CONFIG_PATH)
PIPELINE = CONFIG.pipeline
SERVICES = tuple(PIPELINE.services)
"""Every service that starts a phase (the orchestrators and the phase-3 trigger)."""
PUSH_MEMBER = CONFIG.monitors["orchestrator_iam"].member
PRODUCTION_TOML = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
"""canary.toml's text: a test writes its own configuration file as this with one value replaced."""


def production_toml(old: str, new: str) -> str:
    """canary.toml with the one line `old` replaced by `new` (which must be found: a test of nothing fails)."""
    assert PRODUCTION_TOML.count(old) == 1, f"{old!r} is not one line of canary.toml"
    return PRODUCTION_TOML.replace(old, new)
