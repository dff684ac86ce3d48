"""Helpers for tests that start a real local server as a child process: a free port, readiness, stop by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


class ServerFailed(RuntimeError):
    """The server exited or never answered; the message says which and how long it was given."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(process: subprocess.Popen[bytes], url: str, *, timeout_s: float, name: str) -> float:
    """Poll `url` until it answers 200; seconds waited. Raises ServerFailed if the process exits or time runs out."""
    started = time.perf_counter()
    while True:
        if process.poll() is not None:
            raise ServerFailed(f"{name} exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, OSError):
            pass
        if time.perf_counter() - started > timeout_s:
            stop_process_group(process)
            raise ServerFailed(f"{name} did not answer {url} within {timeout_s:g} s")
        time.sleep(0.05)


def stop_process_group(process: subprocess.Popen[bytes], *, grace_s: float = 10) -> None:
    """SIGTERM the process group of a child started with start_new_session=True, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue
