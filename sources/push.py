"""The push-chain port: a Cloud Run service's URLs, the project's subscriptions, and push metrics, each
in the API's own REST JSON shape (camelCase), so a `gcloud ... --format=json` answer reads the same."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

Json = dict[str, Any]

PUSH_REQUESTS = "pubsub.googleapis.com/subscription/push_request_count"
"""DELTA INT64, labels response_class and response_code: https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-pubsub"""
OLDEST_UNACKED_AGE = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
"""GAUGE INT64, seconds: https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-pubsub"""


class PushChain(Protocol):
    source: str

    def service(self, *, project: str, region: str, service: str) -> Json | None:
        """The Cloud Run Service (run v2 JSON: `urls`, `uri`, `invokerIamDisabled`); None if it does not exist."""
        ...

    def subscriptions(self, *, project: str) -> list[Json]:
        """Every subscription of the project (Pub/Sub v1 Subscription JSON: `name`, `pushConfig`, ...)."""
        ...

    def time_series(
        self, *, project: str, metric_type: str, subscription_ids: list[str], now: datetime, window: timedelta,
    ) -> list[Json]:
        """timeSeries.list's `timeSeries` of one metric for these subscriptions, with points in (now - window, now]
        (the API aggregates them to one point per series; a file holds raw points: the monitor adds them up)."""
        ...
