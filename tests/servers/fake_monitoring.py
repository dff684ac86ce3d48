"""A local gRPC stand-in of Cloud Monitoring's MetricService.ListTimeSeries, on google-cloud-monitoring's
own request and response messages (google-cloud-monitoring 2.32 has only gRPC transports).

It serves stored time series (REST JSON, as push_metrics.json holds them) and answers a request the way
https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list documents it:
- `filter` must name exactly one metric type ("The filter must specify a single metric type");
  it understands `metric.type="..."`, `resource.type="..."` and `resource.labels.L="v"` or
  `=one_of("a","b")` joined by AND (https://cloud.google.com/monitoring/api/v3/filters); anything else
  is INVALID_ARGUMENT, so a request the real API would reject fails here too;
- points count when their end time is in (interval.start_time, interval.end_time];
- aggregation (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/Aggregation): a cross-series
  reducer needs a per-series aligner other than ALIGN_NONE, and an aligner needs an alignment period
  (INVALID_ARGUMENT otherwise); each series is aligned into periods ending at end_time (ALIGN_SUM,
  ALIGN_MAX), then series are reduced (REDUCE_SUM, REDUCE_MAX) per the values of group_by_fields, and
  the answer keeps only those labels.
"""

from __future__ import annotations

import re
import threading
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

import grpc
import pytest
from google.cloud import monitoring_v3

METHOD = "/google.monitoring.v3.MetricService/ListTimeSeries"
TERM = re.compile(r'^\s*(?P<field>[\w.]+)\s*=\s*(?:"(?P<value>[^"]*)"|one_of\((?P<values>[^)]*)\))\s*$')
Aligner = monitoring_v3.Aggregation.Aligner
Reducer = monitoring_v3.Aggregation.Reducer


class InvalidArgument(Exception):
    pass


def parse_filter(text: str) -> dict[str, set[str]]:
    """field -> accepted values, for `A="x" AND B=one_of("y","z")`."""
    terms: dict[str, set[str]] = {}
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = TERM.match(part)
        if match is None:
            raise InvalidArgument(f"The filter term {part!r} is not understood")
        values = {match["value"]} if match["value"] is not None else set(re.findall(r'"([^"]*)"', match["values"]))
        terms[match["field"]] = values
    if len(terms.get("metric.type", set())) != 1:
        raise InvalidArgument("The filter must specify a single metric type")
    return terms


def _field(series: dict[str, Any], name: str) -> str | None:
    if name == "metric.type":
        return series["metric"]["type"]
    if name == "resource.type":
        return series["resource"]["type"]
    scope, _, label = name.partition(".labels.")
    if label and scope in ("metric", "resource"):
        return (series[scope].get("labels") or {}).get(label)
    raise InvalidArgument(f"unknown filter field {name!r}")


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _value(point: dict[str, Any]) -> int:
    return int(point["value"].get("int64Value", 0))


def answer(stored: list[dict[str, Any]], request: monitoring_v3.ListTimeSeriesRequest) -> list[dict[str, Any]]:
    """The time series (REST JSON) the API answers for `request`."""
    terms = parse_filter(request.filter)
    start = request.interval.start_time
    end = request.interval.end_time
    selected = [s for s in stored if all(_field(s, f) in values for f, values in terms.items())]
    aggregation = request.aggregation
    aligner, reducer = aggregation.per_series_aligner, aggregation.cross_series_reducer
    if reducer != Reducer.REDUCE_NONE and aligner == Aligner.ALIGN_NONE:
        raise InvalidArgument("A cross-series reducer requires a per-series aligner other than ALIGN_NONE")
    period = aggregation.alignment_period
    if aligner != Aligner.ALIGN_NONE and not period:
        raise InvalidArgument("An alignment period is required when a per-series aligner is given")
    # Aggregation.alignmentPeriod: "The value must be at least 60 seconds"
    # (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list#Aggregation).
    if aligner != Aligner.ALIGN_NONE and period.total_seconds() < 60:
        raise InvalidArgument("The alignment period must be at least 60 seconds")
    within = [
        {**s, "points": [p for p in s["points"] if start < _when(p["interval"]["endTime"]) <= end]} for s in selected
    ]
    if aligner == Aligner.ALIGN_NONE:
        return [s for s in within if s["points"]]
    if aligner not in (Aligner.ALIGN_SUM, Aligner.ALIGN_MAX):
        raise InvalidArgument(f"the stand-in aligns with ALIGN_SUM or ALIGN_MAX only, not {aligner.name}")
    combine = sum if aligner == Aligner.ALIGN_SUM else max
    aligned = []
    for series in within:
        buckets: dict[int, list[int]] = {}
        for point in series["points"]:
            back = (end - _when(point["interval"]["endTime"])) // period  # period k covers (end-(k+1)p, end-kp]
            buckets.setdefault(int(back), []).append(_value(point))
        aligned.append({**series, "aligned": {k: combine(v) for k, v in buckets.items()}})
    if reducer == Reducer.REDUCE_NONE:
        groups = {(i,): [s] for i, s in enumerate(aligned)}
        fields: list[str] = []
    else:
        if reducer not in (Reducer.REDUCE_SUM, Reducer.REDUCE_MAX):
            raise InvalidArgument(f"the stand-in reduces with REDUCE_SUM or REDUCE_MAX only, not {reducer.name}")
        fields = list(aggregation.group_by_fields)
        groups = {}
        for series in aligned:
            groups.setdefault(tuple(_field(series, f) for f in fields), []).append(series)
    reduce = sum if reducer in (Reducer.REDUCE_SUM, Reducer.REDUCE_NONE) else max
    answered = []
    for key, members in groups.items():
        first = members[0]
        periods = sorted({k for m in members for k in m["aligned"]})
        if not periods:
            continue
        if fields:
            metric_labels = {f.split(".labels.")[1]: v for f, v in zip(fields, key) if f.startswith("metric.") and v is not None}
            resource_labels = {f.split(".labels.")[1]: v for f, v in zip(fields, key) if f.startswith("resource.") and v is not None}
        else:
            metric_labels, resource_labels = first["metric"].get("labels") or {}, first["resource"].get("labels") or {}
        answered.append({
            "metric": {"type": first["metric"]["type"], "labels": metric_labels},
            "resource": {"type": first["resource"]["type"], "labels": resource_labels},
            "metricKind": first.get("metricKind", "GAUGE"), "valueType": "INT64",
            "points": [
                {"interval": {"startTime": _z(end - (k + 1) * period), "endTime": _z(end - k * period)},
                 "value": {"int64Value": str(reduce(m["aligned"][k] for m in members if k in m["aligned"]))}}
                for k in periods  # newest first, as the API answers
            ],
        })
    return answered


def _z(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class FakeMonitoring:
    series: list[dict[str, Any]] = field(default_factory=list)
    requests: list[monitoring_v3.ListTimeSeriesRequest] = field(default_factory=list)
    fault: grpc.StatusCode | None = None
    _port: int = field(default=0, init=False, repr=False)
    _server: grpc.Server | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def host(self) -> str:
        """host:port, a value for CANARY_MONITORING_ENDPOINT."""
        return f"127.0.0.1:{self._port}"

    def start(self) -> FakeMonitoring:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="FakeMonitoring"))
        handler = grpc.unary_unary_rpc_method_handler(
            self._list,
            request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
            response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "google.monitoring.v3.MetricService", {"ListTimeSeries": handler}),))
        self._port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(timeout=5)
            self._server = None

    def _list(self, request: monitoring_v3.ListTimeSeriesRequest, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.requests.append(request)
            stored, fault = list(self.series), self.fault
        if fault is not None:
            context.abort(fault, "the stand-in was told to fail")
        try:
            found = answer(stored, request)
        except InvalidArgument as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return monitoring_v3.ListTimeSeriesResponse(time_series=[monitoring_v3.TimeSeries.from_json(_json(s)) for s in found])


def _json(series: dict[str, Any]) -> str:
    import json

    return json.dumps({k: v for k, v in series.items() if k != "aligned"})


@pytest.fixture(scope="session")
def fake_monitoring_server() -> Iterator[FakeMonitoring]:
    fake = FakeMonitoring().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_monitoring(fake_monitoring_server: FakeMonitoring) -> FakeMonitoring:
    """The session's stand-in, emptied for this test."""
    fake_monitoring_server.series, fake_monitoring_server.requests, fake_monitoring_server.fault = [], [], None
    return fake_monitoring_server
