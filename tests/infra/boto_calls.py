"""Which AWS API calls a process can make, read from its code.

A process is an entry module; its code is every project module that entry imports, directly
or lazily inside a function, followed transitively. An AWS call is an attribute call or a
string (`client.get_item(...)`, `self._call("get_item", ...)`, `get_paginator("...")`) that
names an operation of one of the AWS services SoundBite uses (botocore's service models).

The services read are SERVICES. Every client the scanned code creates by name
(`boto3.client("sns")`, `session.client("iam")`, `LazyClient("sqs")`, `_client("ecs", ...)`)
must be of one of them: reading a module that creates a client of any other service raises
UnknownService, so a new service cannot slip past the IAM check unread. Calls that need no
IAM permission at all are named, each with its reason, in NO_GRANT_NEEDED.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "worker", "migration", "soundbite", "infra")
SERVICES = ("dynamodb", "s3", "sqs", "polly", "cloudwatch", "route53", "autoscaling", "ecs",
            "elbv2", "secretsmanager", "sns", "iam", "sts", "cognito-idp")
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}
# Calls AWS answers without any IAM permission: no policy grants them, so none is asked for.
NO_GRANT_NEEDED = {
    # Always allowed, even under an explicit Deny: who the caller is (doctor, the event label).
    "sts:GetCallerIdentity": "AWS allows every principal to ask who it is; no policy can deny it",
    # An unauthenticated Cognito user-pool API: the app client id and the user's password sign
    # the synthetic user in; the request carries no AWS signature (migration.synthetic).
    "cognito-idp:InitiateAuth": "unauthenticated user-pool sign-in (client id and password, no AWS credentials)",
}
# Callables that create a client of the service named by their first argument (or service_name=).
CLIENT_FACTORIES = ("client", "resource", "LazyClient")
# Operations whose IAM actions have other names (a transaction needs each item's action).
ACTION_FOR = {"s3:HeadBucket": ("s3:ListBucket",), "s3:HeadObject": ("s3:GetObject",),
              "s3:ListObjectsV2": ("s3:ListBucket",),
              "dynamodb:TransactWriteItems": ("dynamodb:PutItem", "dynamodb:ConditionCheckItem"),}


@dataclass(frozen=True)
class Call:
    module: str
    action: str  # IAM action, e.g. "sqs:ReceiveMessage"
    line: int
    queue: str | None = None  # SQS only: "dlq" or "jobs", from the QueueUrl argument

    @property
    def needs_grant(self) -> bool:
        return self.action not in NO_GRANT_NEEDED


class UnknownService(Exception):
    """The code creates a client of a service whose calls this reader does not know."""


@functools.cache
def operations() -> dict[str, tuple[str, ...]]:
    """snake_case operation name -> IAM actions (one per service that has the operation)."""
    session = botocore.session.get_session()
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for op in model.operation_names:
            action = f"{IAM_PREFIX.get(service, service)}:{op}"
            found.setdefault(xform_name(op), []).extend(ACTION_FOR.get(action, (action,)))
    return {k: tuple(v) for k, v in found.items()}


def _path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(module: str, tree: ast.AST) -> set[str]:
    names: set[str] = set()
    package = module if _path(module).name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PACKAGES and _path(n)}


def closure(entry: str) -> set[str]:
    """Every project module `entry` can load."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if _path(".".join(parts[:i])))
        todo.extend(_imports(module, ast.parse(_path(module).read_text())))
    return seen


def _queue_of(call: ast.Call) -> str | None:
    for kw in call.keywords:
        if kw.arg == "QueueUrl":
            return "dlq" if "dlq" in ast.unparse(kw.value).lower() else "jobs"
    return None


def _factory_name(func: ast.expr) -> str | None:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name if name and (name in CLIENT_FACTORIES or name.endswith("_client")) else None


def clients_in(tree: ast.AST) -> list[tuple[str, int]]:
    """(service, line) of every client created with the service's name written out."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _factory_name(node.func)):
            continue
        named = [kw.value for kw in node.keywords if kw.arg == "service_name"] + node.args[:1]
        found += [(arg.value, node.lineno) for arg in named[:1]
                  if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return found


def calls_in(module: str) -> list[Call]:
    return calls_in_source(module, _path(module).read_text())


def calls_in_source(module: str, source: str) -> list[Call]:
    tree = ast.parse(source)
    unknown = [f"{module}:{line} creates a {service!r} client" for service, line in clients_in(tree)
               if service not in SERVICES]
    if unknown:
        raise UnknownService(f"{'; '.join(unknown)}: tests/infra/boto_calls.py does not read that "
                             "service's calls. Add it to SERVICES (and IAM_PREFIX if its IAM prefix "
                             "differs); its calls that need no IAM permission go in NO_GRANT_NEEDED.")
    ops = operations()
    found: list[Call] = []
    for node in ast.walk(tree):
        name, queue = None, None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ops:
            name, queue = node.func.attr, _queue_of(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ops:
            name = node.value
        if name:
            for action in ops[name]:
                found.append(Call(module, action, node.lineno, queue))
    return found


def calls(entry: str, skip: frozenset[str] = frozenset()) -> list[Call]:
    """Every AWS call needing a grant that the process started at `entry` can make, outside
    the `skip` modules (calls in NO_GRANT_NEEDED are left out)."""
    return [c for m in sorted(closure(entry) - skip) for c in calls_in(m) if c.needs_grant]
