"""The fault proxy in front of the emulator: botocore reads its failures as AWS's own."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from migration.dns_setup import create_weighted_zone
from migration.rehearsal.fault_proxy import DOWN, THROTTLE, FaultProxy

ONE_TRY = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def proxy(aws_emulator, aws_env):
    proxies = []

    def start(service: str) -> tuple[FaultProxy, object]:
        proxy = FaultProxy(aws_emulator.endpoint, service)
        proxies.append(proxy)
        client = boto3.client(service, endpoint_url=proxy.start(), config=ONE_TRY)
        return proxy, client

    yield start
    for p in proxies:
        p.stop()


def test_a_passing_proxy_is_the_emulator(proxy):
    _, cloudwatch = proxy("cloudwatch")
    assert "MetricAlarms" in cloudwatch.describe_alarms()


@pytest.mark.parametrize(("mode", "code"), [(THROTTLE, "Throttling"), (DOWN, "ServiceUnavailable")])
def test_cloudwatch_fails_with_the_code_botocore_expects(proxy, mode, code):
    switch, cloudwatch = proxy("cloudwatch")
    switch.mode = mode
    with pytest.raises(ClientError) as caught:
        cloudwatch.describe_alarms()
    assert caught.value.response["Error"]["Code"] == code
    assert switch.failed >= 1


def test_the_ledger_down_is_a_table_gone(proxy, data_plane):
    switch, dynamodb = proxy("dynamodb")
    switch.mode = DOWN
    with pytest.raises(ClientError) as caught:
        dynamodb.get_item(TableName=data_plane.ledger_table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def zone_through(client):
    name = f"z{uuid.uuid4().hex[:8]}.example.com"
    return create_weighted_zone(client, name, f"api.{name}", {"ec2": f"ec2.{name}", "fargate": f"f.{name}"},
                                {"ec2": 100, "fargate": 0}), f"api.{name}"


def change(client, zone_id, record, fargate: int):
    return client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {
            "Name": record, "Type": "CNAME", "SetIdentifier": "fargate", "Weight": fargate, "TTL": 1,
            "ResourceRecords": [{"Value": "f.example.com"}]}}]})


def test_a_slow_change_reports_pending_then_insync(proxy):
    switch, route53 = proxy("route53")
    zone_id, record = zone_through(route53)
    switch.slow_next_change(1.0)
    change_id = change(route53, zone_id, record, 5)["ChangeInfo"]["Id"]
    assert route53.get_change(Id=change_id)["ChangeInfo"]["Status"] == "PENDING"
    deadline = time.monotonic() + 10
    while route53.get_change(Id=change_id)["ChangeInfo"]["Status"] != "INSYNC":
        assert time.monotonic() < deadline, "the change never became INSYNC"
        time.sleep(0.1)
    later = change(route53, zone_id, record, 25)["ChangeInfo"]["Id"]
    # Route 53 may answer PENDING once for any change; only the slowed one stays PENDING
    reads = [route53.get_change(Id=later)["ChangeInfo"]["Status"] for _ in range(2)]
    assert "INSYNC" in reads, "only one change is slow"


def test_a_change_whose_caller_is_killed_still_lands(proxy, aws_emulator):
    switch, route53 = proxy("route53")
    zone_id, record = zone_through(route53)
    switch.on_change = lambda: True
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        change(route53, zone_id, record, 50)
    direct = boto3.client("route53", endpoint_url=aws_emulator.endpoint)
    sets = direct.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert any(s.get("SetIdentifier") == "fargate" and s["Weight"] == 50 for s in sets)
