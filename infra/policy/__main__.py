"""The policy pack entry: `pulumi preview --policy-pack infra/policy`.

Constructing PolicyPack starts the analyzer server, so it lives here and nowhere else;
the rules themselves are plain functions in `infra.policy.rules`.
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from infra.policy.rules import RESOURCE_RULES, STACK_RULES

PolicyPack(
    name="soundbite-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *(ResourceValidationPolicy(name=n, description=d, validate=f) for n, (f, d) in RESOURCE_RULES.items()),
        *(StackValidationPolicy(name=n, description=d, validate=f) for n, (f, d) in STACK_RULES.items()),
    ],
)
