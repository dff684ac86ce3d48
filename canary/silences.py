"""The silence commands: mute matching first/repeat notices until an expiry (resolved notices still go)."""

from __future__ import annotations

import argparse
import getpass
import uuid
from datetime import datetime
from typing import TextIO

from alerts.state import StateStore
from canary.config import ConfigError, parse_duration
from canary.model import Silence

MAX_SILENCE_DAYS = 30


class SilenceError(ConfigError):
    """A silence that cannot be created as asked."""


def parse_matchers(pairs: list[str]) -> dict[str, str]:
    matchers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SilenceError(f"--match: expected LABEL=VALUE, got {pair!r}")
        matchers[name.strip()] = value.strip()
    return matchers


def new_silence(*, matchers: dict[str, str], duration: str, reason: str, author: str, now: datetime) -> Silence:
    try:
        length = parse_duration(duration)
    except ValueError as error:
        raise SilenceError(f"--for: {error}") from None
    if length.total_seconds() <= 0 or length.days > MAX_SILENCE_DAYS:
        raise SilenceError(f"--for: give a duration from 1m to {MAX_SILENCE_DAYS}d")
    if not reason.strip():
        raise SilenceError("--reason: say why (it is shown to whoever wonders where the alert went)")
    return Silence(
        id=uuid.uuid4().hex[:10], matchers=matchers, author=author, reason=reason.strip(), created_at=now,
        expires_at=now + length,
    )


def cli_silence(*, store: StateStore, args: argparse.Namespace, now: datetime, stdout: TextIO) -> int:
    silence = new_silence(
        matchers=parse_matchers(args.match),
        duration=args.duration,
        reason=args.reason,
        author=args.author or getpass.getuser(),
        now=now,
    )
    store.add_silence(silence)
    labels = ", ".join(f"{k}={v}" for k, v in silence.matchers.items())
    print(f"silence {silence.id} created: {labels} until {silence.expires_at:%Y-%m-%d %H:%M} UTC ({silence.reason})", file=stdout)
    return 0


def cli_silences(*, store: StateStore, now: datetime, stdout: TextIO) -> int:
    active = store.silences(now=now)
    if not active:
        print("no active silences", file=stdout)
    for s in active:
        labels = ", ".join(f"{k}={v}" for k, v in s.matchers.items())
        print(f"{s.id}  {labels}  until {s.expires_at:%Y-%m-%d %H:%M} UTC  by {s.author}: {s.reason}", file=stdout)
    return 0
