"""The plan's SNS hooks publish in the topic's own region, not wherever boto3 defaults."""

from __future__ import annotations

import pytest
from botocore.stub import ANY, Stubber

from migration.notify import Hook, Notifier

TOPIC = "arn:aws:sns:eu-west-2:123456789012:soundbite-prod-migration"


@pytest.fixture(autouse=True)
def no_default_region(monkeypatch, tmp_path):
    """No region from the environment or a profile: only what the notifier passes counts."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


def _expect_publish(client, topic: str) -> Stubber:
    stub = Stubber(client)
    stub.add_response("publish", {"MessageId": "m-1"},
                      {"TopicArn": topic, "Message": ANY, "Subject": "soundbite ec2: rollback"})
    stub.activate()
    return stub


def test_a_topic_is_published_to_in_the_region_its_arn_names():
    notifier = Notifier((Hook(events=("rollback",), sns_topic=TOPIC),), "ec2", region="us-east-1")
    client = notifier._sns(TOPIC)
    assert client.meta.region_name == "eu-west-2"
    stub = _expect_publish(client, TOPIC)
    notifier({"kind": "rollback", "reason": "pager test"})
    assert notifier.failures == []
    stub.assert_no_pending_responses()


def test_a_topic_arn_without_a_region_uses_the_targets():
    topic = "arn:aws:sns::123456789012:soundbite-prod-migration"
    notifier = Notifier((Hook(events=("rollback",), sns_topic=topic),), "ec2", region="ap-south-1")
    client = notifier._sns(topic)
    assert client.meta.region_name == "ap-south-1"
    assert notifier._sns(topic) is client, "one client per region"
    stub = _expect_publish(client, topic)
    notifier({"kind": "rollback"})
    assert notifier.failures == []
    stub.assert_no_pending_responses()


def test_an_injected_client_publishes_every_topic():
    published = []

    class FakeSns:
        def publish(self, **kwargs):
            published.append(kwargs["TopicArn"])

    other = "arn:aws:sns:us-west-2:123456789012:soundbite-prod-pager"
    notifier = Notifier((Hook(events=("rollback",), sns_topic=TOPIC), Hook(events=("rollback",), sns_topic=other)),
                        "ec2", sns_client=FakeSns())
    notifier({"kind": "rollback"})
    assert published == [TOPIC, other] and notifier.failures == []


def test_a_topic_client_gives_up_within_the_hooks_timeout():
    """Hooks run on the engine's thread: an SNS that does not answer must not hold it for
    botocore's default minute (and retries) while the lease runs out."""
    notifier = Notifier((Hook(events=("rollback",), sns_topic=TOPIC),), "ec2", timeout=3.0)
    config = notifier._sns(TOPIC).meta.config
    assert (config.connect_timeout, config.read_timeout) == (3.0, 3.0)
    assert config.retries["total_max_attempts"] <= 2
