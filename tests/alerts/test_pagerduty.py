"""The Events API v2 client against a stand-in that answers as PagerDuty documents (tests/servers/fake_pagerduty.py)."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from alerts.pagerduty import MAX_SUMMARY, PagerDutyEvents, PagerError
from tests.servers.fake_pagerduty import ROUTING_KEY, FakePagerDuty, fake_pagerduty  # noqa: F401  (fixture)

TRIGGER = {
    "event_action": "trigger", "dedup_key": "abc123",
    "payload": {"summary": "IAM binding missing", "source": "nba-props-platform", "severity": "critical"},
}


def client(fake: FakePagerDuty, key: str = ROUTING_KEY) -> PagerDutyEvents:
    return PagerDutyEvents(routing_key=SecretStr(key), base_url=fake.endpoint)


def test_an_accepted_event_answers_its_dedup_key_and_carries_the_routing_key(fake_pagerduty: FakePagerDuty) -> None:
    assert client(fake_pagerduty).send(TRIGGER) == "abc123"
    assert fake_pagerduty.events == [{**TRIGGER, "routing_key": ROUTING_KEY}]


def test_a_400_is_a_configuration_error_with_pagerdutys_reason_and_never_the_key(fake_pagerduty: FakePagerDuty) -> None:
    wrong = "short-" + ROUTING_KEY[:20]
    with pytest.raises(PagerError) as caught:
        client(fake_pagerduty, wrong).send(TRIGGER)
    assert caught.value.configuration and not caught.value.retry
    assert "Length of 'routing_key' is incorrect" in str(caught.value)
    assert "CANARY_PAGERDUTY_ROUTING_KEY" in str(caught.value)
    assert wrong not in str(caught.value) and ROUTING_KEY not in str(caught.value)
    assert fake_pagerduty.events == []


def test_an_over_long_summary_is_refused_by_the_stand_in_as_pagerduty_does(fake_pagerduty: FakePagerDuty) -> None:
    event = {**TRIGGER, "payload": {**TRIGGER["payload"], "summary": "x" * (MAX_SUMMARY + 1)}}
    with pytest.raises(PagerError, match="longer than 1024"):
        client(fake_pagerduty).send(event)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_429_and_5xx_are_left_for_the_next_run(fake_pagerduty: FakePagerDuty, status: int) -> None:
    fake_pagerduty.fail_with = status
    with pytest.raises(PagerError) as caught:
        client(fake_pagerduty).send(TRIGGER)
    assert caught.value.retry and not caught.value.configuration
    assert f"HTTP {status}" in str(caught.value) and "next run" in str(caught.value)
    assert fake_pagerduty.requests == 1  # no retry inside the run (no wall-clock backoff)
    assert ROUTING_KEY not in str(caught.value)


def test_a_dropped_connection_and_a_refused_one_are_left_for_the_next_run(fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.drop = True
    with pytest.raises(PagerError) as dropped:
        client(fake_pagerduty).send(TRIGGER)
    assert dropped.value.retry
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = PagerDutyEvents(routing_key=SecretStr(ROUTING_KEY), base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(PagerError, match="cannot reach") as caught:
        refused.send(TRIGGER)
    assert caught.value.retry
    for error in (dropped.value, caught.value):
        assert ROUTING_KEY not in str(error)


def test_the_client_never_shows_its_key() -> None:
    shown = repr(PagerDutyEvents(routing_key=SecretStr(ROUTING_KEY)))
    assert ROUTING_KEY not in shown and "events.pagerduty.com" in shown
