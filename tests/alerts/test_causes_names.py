"""Cause rules name monitors that exist: a renamed or removed monitor fails here, not silently in threading."""

from __future__ import annotations

from alerts import causes
from monitors.registry import MONITORS


def test_every_monitor_a_cause_rule_names_is_registered() -> None:
    missing = [name for name in causes.RULE_MONITORS if name not in MONITORS]
    assert missing == [], f"cause rules name monitors that monitors/registry.py does not register: {missing}"


def test_the_rules_list_every_monitor_name_the_module_uses() -> None:
    """RULE_MONITORS is the list the test above checks: every monitor constant of alerts/causes.py is in it."""
    assert {causes.IAM, causes.PUSH, causes.STALLS, causes.PREDICTIONS} == set(causes.RULE_MONITORS)
    assert len(set(causes.RULE_MONITORS)) == 4
