"""The production push-chain source: run_v2 get_service, Pub/Sub list_subscriptions and Cloud Monitoring
list_time_series, each client imported and built on first use (`import main` loads none of them).

Answers are turned into the APIs' REST JSON (camelCase) so the monitor reads the same shape as the
local files. Endpoints for tests: CANARY_RUN_ENDPOINT (REST), PUBSUB_EMULATOR_HOST (honoured by the
Pub/Sub client itself), CANARY_MONITORING_ENDPOINT (gRPC host:port: google-cloud-monitoring has no REST
transport).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.json_format import MessageToDict

from sources.cloud_run_iam import api_error
from sources.errors import SourceError
from sources.push import OLDEST_UNACKED_AGE, Json

RUN, PUBSUB, MONITORING = "cloud_run", "pubsub", "monitoring"


def _json(message: Any) -> Json:
    return MessageToDict(getattr(message, "_pb", message), preserving_proto_field_name=False)


def time_series_request(
    *, project: str, metric_type: str, subscription_ids: list[str], now: datetime, window: timedelta,
) -> dict[str, Any]:
    """One ListTimeSeries request for every subscription: the window as one alignment period.

    The filter names a single metric type, as the API requires; `one_of` selects the subscriptions
    (https://cloud.google.com/monitoring/api/v3/filters). A delta count is ALIGN_SUM'd then REDUCE_SUM'd
    per subscription, response_class and response_code; a gauge (age) ALIGN_MAX'd and REDUCE_MAX'd per
    subscription (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list#Aggregation).
    """
    ids = ",".join(f'"{i}"' for i in subscription_ids)
    gauge = metric_type == OLDEST_UNACKED_AGE
    seconds = int(window.total_seconds())
    return {
        "name": f"projects/{project}",
        "filter": f'metric.type="{metric_type}" AND resource.type="pubsub_subscription" '
                  f"AND resource.labels.subscription_id=one_of({ids})",
        "interval": {"start_time": now - window, "end_time": now},
        "aggregation": {
            "alignment_period": {"seconds": seconds},
            "per_series_aligner": "ALIGN_MAX" if gauge else "ALIGN_SUM",
            "cross_series_reducer": "REDUCE_MAX" if gauge else "REDUCE_SUM",
            "group_by_fields": ["resource.labels.subscription_id"] if gauge else [
                "resource.labels.subscription_id", "metric.labels.response_class", "metric.labels.response_code",
            ],
        },
        "view": "FULL",
    }


class GcpPushChain:
    source = "push_chain"

    def __init__(self, *, run_endpoint: str | None = None, monitoring_endpoint: str | None = None, timeout_seconds: float = 30.0) -> None:
        self.run_endpoint = run_endpoint
        self.monitoring_endpoint = monitoring_endpoint
        self.timeout_seconds = timeout_seconds
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, which: str) -> Any:
        with self._lock:
            if which not in self._clients:
                self._clients[which] = self._build(which)
            return self._clients[which]

    def _build(self, which: str) -> Any:
        from google.auth.credentials import AnonymousCredentials

        if which == RUN:
            from google.cloud import run_v2

            if self.run_endpoint:
                return run_v2.ServicesClient(transport="rest", client_options={"api_endpoint": self.run_endpoint}, credentials=AnonymousCredentials())
            return run_v2.ServicesClient(transport="rest")
        if which == PUBSUB:
            from google.cloud import pubsub_v1

            return pubsub_v1.SubscriberClient()  # PUBSUB_EMULATOR_HOST points it at the emulator
        from google.cloud import monitoring_v3

        if self.monitoring_endpoint:
            import grpc
            from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

            channel = grpc.insecure_channel(self.monitoring_endpoint)
            return monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
        return monitoring_v3.MetricServiceClient()

    def service(self, *, project: str, region: str, service: str) -> Json | None:
        from google.api_core import exceptions as api_exceptions

        try:
            answer = self._client(RUN).get_service(
                name=f"projects/{project}/locations/{region}/services/{service}", timeout=self.timeout_seconds
            )
        except api_exceptions.NotFound:
            return None
        except Exception as error:
            raise api_error(RUN, service, error) from None
        return _json(answer)

    def subscriptions(self, *, project: str) -> list[Json]:
        try:
            pages = self._client(PUBSUB).list_subscriptions(request={"project": f"projects/{project}"}, timeout=self.timeout_seconds)
            return [_json(s) for s in pages]
        except SourceError:
            raise
        except Exception as error:
            raise api_error(PUBSUB, f"projects/{project}", error) from None

    def time_series(
        self, *, project: str, metric_type: str, subscription_ids: list[str], now: datetime, window: timedelta,
    ) -> list[Json]:
        request = time_series_request(
            project=project, metric_type=metric_type, subscription_ids=subscription_ids, now=now, window=window,
        )
        try:
            pages = self._client(MONITORING).list_time_series(request=request, timeout=self.timeout_seconds)
            return [_json(s) for s in pages]
        except Exception as error:
            raise api_error(MONITORING, metric_type.rsplit("/", 1)[-1], error) from None
