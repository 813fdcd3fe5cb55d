"""ECR: the one repository both stacks pull the SoundBite image from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from soundbite import spec


@dataclass(frozen=True)
class RepositoryArgs:
    name: str
    tags: dict[str, str] = field(default_factory=dict)


def lifecycle_policy(keep: int = spec.ECR_KEEP_IMAGES) -> str:
    return json.dumps({"rules": [{
        "rulePriority": 1,
        "description": f"keep the last {keep} images (rollback targets)",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
        "action": {"type": "expire"},
    }]})


class ImageRepository(pulumi.ComponentResource):
    repository: aws.ecr.Repository

    def __init__(self, name: str, args: RepositoryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:ImageRepository", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Immutable tags: a tag always means the same image on both stacks during a migration.
        self.repository = aws.ecr.Repository(
            f"{name}-repo", name=args.name, image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True}, tags=args.tags, opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle", repository=self.repository.name, policy=lifecycle_policy(), opts=child
        )
        self.register_outputs({"url": self.repository.repository_url})
