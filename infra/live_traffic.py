"""Read live traffic for the guard (infra/traffic_guard.py): Route 53 and the tool's ledger.

Both are data sources read while the program runs, in preview and in update, before any
resource is registered. Route 53 must answer: without it the program cannot know what it would
overwrite, so the run fails. The ledger is best effort: on a first deploy its table does not
exist yet, and before any migration it holds no run.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.traffic_guard import LiveTraffic, live_weights
from soundbite import spec

ABORTED = "aborted"  # migration/executor.py's run status after a rollback


def ledger_key(stack: str) -> str:
    """The ledger item holding the run's state (migration/ledger.py's layout)."""
    return json.dumps({"pk": {"S": f"RUN#{stack}"}, "sk": {"S": "STATE"}})


def abort_from_item(item_json: str | None) -> str | None:
    """'<by> at <at>: <reason>' when the ledger's run state says the migration was rolled back."""
    if not item_json:
        return None
    item = json.loads(item_json)
    doc = json.loads(item.get("doc", {}).get("S") or "{}")
    if doc.get("status") != ABORTED:
        return None
    abort = doc.get("abort") or {}
    return f"by {abort.get('by', 'unknown')}: {abort.get('reason', 'no reason given')}"


def read_live_traffic(hosted_zone_id: str, api_name: str, ledger_table: str, stack: str) -> LiveTraffic:
    records = aws.route53.get_records(zone_id=hosted_zone_id,
                                      name_regex=f"^{api_name.rstrip('.').replace('.', '[.]')}[.]?$")
    weights = live_weights(records.resource_record_sets, api_name)
    try:
        item = aws.dynamodb.get_table_item(table_name=ledger_table, key=ledger_key(stack)).item
    except Exception as exc:  # noqa: BLE001 - the provider's invoke error carries AWS's answer
        cause = str(exc).splitlines()[0][:200]
        if not ledger_absent(str(exc)):  # denied, throttled, down: an abort may be unread
            return LiveTraffic(weights, ledger_unreadable=cause)
        pulumi.log.info(f"migration ledger not read ({cause}): guarding traffic by Route 53 alone")
        item = None
    return LiveTraffic(weights, abort_from_item(item))


ABSENT = ("resourcenotfoundexception", "not found", "empty result", "no item")
"""How the provider says the table or the run's item does not exist (a first deploy, no run
yet): only then is Route 53 alone the guard."""


def ledger_absent(message: str) -> bool:
    return any(word in message.lower() for word in ABSENT)


def ledger_table_name(environment: str) -> str:
    return spec.ResourceNames(environment).table(spec.MIGRATION_LEDGER_TABLE)
