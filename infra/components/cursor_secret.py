"""The list-cursor secret in Secrets Manager: one secret, read by every API of both stacks.

The value is generated once, when the secret is created, and never rewritten by the program
(`ignore_changes`), so a rotation done in Secrets Manager stays. It never appears in plain
config: EC2 instances fetch it at boot with their instance role, ECS injects it through the
task definition's `secrets` with the execution role.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from soundbite import spec

SECRET_BYTES = 32  # 64 hex characters


def new_secret_value() -> str:
    """A fresh random value, longer than the API's minimum (spec.CURSOR_SECRET_MIN_CHARS)."""
    return secrets.token_hex(max(SECRET_BYTES, spec.CURSOR_SECRET_MIN_CHARS))


@dataclass(frozen=True)
class CursorSecretArgs:
    secret_name: str
    tags: dict[str, str] = field(default_factory=dict)


class CursorSecret(pulumi.ComponentResource):
    secret: aws.secretsmanager.Secret
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: CursorSecretArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:CursorSecret", name, None, opts)
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret", name=args.secret_name,
            description="SoundBite list-cursor signing secret (SOUNDBITE_CURSOR_SECRET)",
            tags=args.tags, opts=pulumi.ResourceOptions(parent=self),
        )
        version = aws.secretsmanager.SecretVersion(
            f"{name}-value", secret_id=self.secret.id,
            secret_string=pulumi.Output.secret(new_secret_value()),
            # Only the first value is written; later runs (and rotations) keep what is there.
            opts=pulumi.ResourceOptions(parent=self.secret, ignore_changes=["secretString"]),
        )
        # Consumers take the ARN once the value exists, so no task or instance reads it empty.
        self.arn = pulumi.Output.all(self.secret.arn, version.id).apply(lambda v: v[0])
        self.register_outputs({"arn": self.arn})
