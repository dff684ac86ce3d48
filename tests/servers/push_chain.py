"""Loading a Scenario's push chain into the gcp stand-ins: subscriptions into the Pub/Sub emulator
(through the real client), services and the project policy into the Cloud Run stand-in, push metrics
into the Monitoring stand-in."""

from __future__ import annotations

from typing import Any

from tests.scenario import Scenario
from tests.servers.fake_cloud_run import FakeCloudRun
from tests.servers.fake_monitoring import FakeMonitoring
from tests.servers.pubsub_emulator import PubSubEmulator


def create_subscriptions(subscriptions: list[dict[str, Any]]) -> None:
    """Create each subscription (and its topic) in the emulator named by PUBSUB_EMULATOR_HOST."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for sub in subscriptions:
        try:
            publisher.create_topic(name=sub["topic"])
        except exceptions.AlreadyExists:  # several subscriptions may share a topic
            pass
        push: dict[str, Any] = {"push_endpoint": sub["pushConfig"]["pushEndpoint"]}
        if "oidcToken" in sub["pushConfig"]:
            push["oidc_token"] = {"service_account_email": sub["pushConfig"]["oidcToken"]["serviceAccountEmail"]}
        subscriber.create_subscription(request={"name": sub["name"], "topic": sub["topic"], "push_config": push})


def load_push_chain(scenario: Scenario, *, cloud_run: FakeCloudRun, monitoring: FakeMonitoring, pubsub: PubSubEmulator) -> None:
    """The scenario's services, project policy, subscriptions and push series, replacing what was loaded."""
    cloud_run.services = dict(scenario.services)
    cloud_run.project_policy = dict(scenario.project_policy)
    pubsub.reset()
    create_subscriptions(scenario.subscriptions)
    monitoring.series = list(scenario.push_series)
