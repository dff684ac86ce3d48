"""push_delivery on the gcp backend with the real clients: subscriptions in the official Pub/Sub
emulator, services and IAM in the Cloud Run stand-in (REST), time series in the gRPC Monitoring stand-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from demo.pipeline import invoker_policy, push_series, push_subscription, service_json
from monitors import push_delivery
from monitors.base import CheckContext, Sources
from sources.cloud_run_iam import CloudRunIamPolicies
from sources.gcp_push import GcpPushChain
from sources.push import OLDEST_UNACKED_AGE, PUSH_REQUESTS
from tests.production import CONFIG, PIPELINE, PUSH_MEMBER, SERVICES
from tests.scenario import utc
from tests.servers.fake_cloud_run import FakeCloudRun, fake_cloud_run  # noqa: F401
from tests.servers.fake_monitoring import FakeMonitoring, fake_monitoring, fake_monitoring_server  # noqa: F401
from tests.servers.pubsub_emulator import pubsub_emulator, pubsub_env  # noqa: F401
from tests.servers.push_chain import create_subscriptions

NOW = utc("2026-11-21T23:30")
BROKEN = "phase4-to-phase5-orchestrator"
ACCOUNT = PUSH_MEMBER.split(":", 1)[1]


def setup_chain(fake: FakeCloudRun, *, policies: dict[str, Any] | None = None, oidc: bool = True, skip: str | None = None) -> list[dict[str, Any]]:
    fake.services = {s: service_json(PIPELINE.project, PIPELINE.region, s) for s in SERVICES}
    fake.set_policies(policies or {s: invoker_policy(PUSH_MEMBER) for s in SERVICES})
    subscriptions = [push_subscription(PIPELINE.project, PIPELINE.region, s, ACCOUNT if oidc else None) for s in SERVICES if s != skip]
    create_subscriptions(subscriptions)
    return subscriptions


def check(fake: FakeCloudRun, monitoring: FakeMonitoring) -> Any:
    sources = Sources(
        warehouse=None,  # type: ignore[arg-type]
        iam=CloudRunIamPolicies(endpoint=fake.endpoint, resource_manager_endpoint=fake.endpoint, timeout_seconds=5),
        push=GcpPushChain(run_endpoint=fake.endpoint, monitoring_endpoint=monitoring.host, timeout_seconds=5),
    )
    ctx = CheckContext(now=NOW, today=NOW.date(), zone=CONFIG.zone, pipeline=PIPELINE)
    return push_delivery.check(CONFIG.monitors["push_delivery"], sources, ctx)


def problems(result: Any) -> list[tuple[str, str]]:
    return sorted((f.key["service"], f.key["problem"]) for f in result.findings)


def sid(sub: dict[str, Any]) -> str:
    return sub["name"].rsplit("/", 1)[-1]


def test_the_demo_s_broken_chain_through_the_real_clients(pubsub_env, fake_cloud_run, fake_monitoring):
    subs = setup_chain(fake_cloud_run, policies={s: invoker_policy() if s == BROKEN else invoker_policy(PUSH_MEMBER) for s in SERVICES})
    broken = next(s for s in subs if BROKEN in s["pushConfig"]["pushEndpoint"])
    minutes = [NOW - timedelta(minutes=m) for m in range(1, 30, 3)]
    fake_monitoring.series = [
        push_series(PIPELINE.project, sid(broken), PUSH_REQUESTS, [(at, 2) for at in minutes], response_class="remote_server_4xx", response_code="403"),
        # Outside the window: must not count.
        push_series(PIPELINE.project, sid(broken), PUSH_REQUESTS, [(NOW - timedelta(minutes=45), 50)], response_class="ack", response_code="success"),
        push_series(PIPELINE.project, sid(broken), OLDEST_UNACKED_AGE, [(at, 7200) for at in minutes]),
    ]
    result = check(fake_cloud_run, fake_monitoring)
    assert problems(result) == [(BROKEN, "backlog"), (BROKEN, "push_account_cannot_invoke"), (BROKEN, "pushes_failing")]
    failing = next(f for f in result.findings if f.key["problem"] == "pushes_failing")
    assert failing.details["pushes_by_class_and_code"] == {"remote_server_4xx/403": 20}
    assert failing.details["oldest_unacked_message_age_s"] == 7200
    # One ListTimeSeries per metric for every subscription, aggregated by the server.
    assert [r.filter.split('"')[1] for r in fake_monitoring.requests] == [PUSH_REQUESTS, OLDEST_UNACKED_AGE]
    assert all(f'"{sid(s)}"' in fake_monitoring.requests[0].filter for s in subs)
    assert sorted(result.judged.targets) == sorted(SERVICES)


def test_the_emulator_keeps_a_push_without_token_and_it_is_unauthenticated_push(pubsub_env, fake_cloud_run, fake_monitoring):
    setup_chain(fake_cloud_run, oidc=False)
    assert {p for _, p in problems(check(fake_cloud_run, fake_monitoring))} == {"unauthenticated_push"}


def test_no_subscription_found_through_list_subscriptions(pubsub_env, fake_cloud_run, fake_monitoring):
    setup_chain(fake_cloud_run, skip=BROKEN)
    assert problems(check(fake_cloud_run, fake_monitoring)) == [(BROKEN, "no_subscription")]


def test_a_denied_service_is_unread_and_the_others_are_judged(pubsub_env, fake_cloud_run, fake_monitoring):
    setup_chain(fake_cloud_run, policies={s: invoker_policy() if s == BROKEN else invoker_policy(PUSH_MEMBER) for s in SERVICES})
    fake_cloud_run.denied_services = {"phase3-to-phase4-orchestrator"}
    result = check(fake_cloud_run, fake_monitoring)
    assert problems(result) == [(BROKEN, "push_account_cannot_invoke")]
    assert [(u.target, u.source) for u in result.judged.unread] == [("phase3-to-phase4-orchestrator", "cloud_run")]


def test_a_failing_monitoring_api_errors_the_monitor_naming_it(pubsub_env, fake_cloud_run, fake_monitoring):
    import grpc

    from sources.errors import SourceError

    setup_chain(fake_cloud_run)
    fake_monitoring.fault = grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(SourceError) as denied:
        check(fake_cloud_run, fake_monitoring)
    assert denied.value.source == "monitoring" and "403" in str(denied.value)


def test_the_monitoring_stand_in_rejects_what_the_api_rejects(fake_monitoring):
    from google.api_core import exceptions
    from google.cloud import monitoring_v3
    import grpc
    from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

    client = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=grpc.insecure_channel(fake_monitoring.host)))
    interval = {"start_time": NOW - timedelta(minutes=30), "end_time": NOW}
    with pytest.raises(exceptions.InvalidArgument, match="single metric type"):
        list(client.list_time_series(request={"name": "projects/p", "filter": 'resource.type="pubsub_subscription"', "interval": interval}))
    with pytest.raises(exceptions.InvalidArgument, match="aligner"):
        list(client.list_time_series(request={
            "name": "projects/p", "filter": f'metric.type="{PUSH_REQUESTS}"', "interval": interval,
            "aggregation": {"alignment_period": {"seconds": 1800}, "cross_series_reducer": "REDUCE_SUM"},
        }))
