"""TLS certificate for the public name and the per-stack direct names.

Uses the configured certificate when there is one; otherwise requests an ACM certificate
for `<apiName>` and `*.<apiName>` (covers `ec2.` and `fargate.`) validated through DNS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from soundbite import spec


@dataclass(frozen=True)
class CertificateArgs:
    api_name: str
    hosted_zone_id: str
    existing_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


class ApiCertificate(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:ApiCertificate", name, None, opts)
        if args.existing_arn:
            self.arn = pulumi.Output.from_input(args.existing_arn)
        else:
            self.arn = self._request(name, args)
        self.register_outputs({"arn": self.arn})

    def _request(self, name: str, args: CertificateArgs) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        cert = aws.acm.Certificate(
            f"{name}-cert", domain_name=args.api_name,
            subject_alternative_names=[f"*.{args.api_name}"], validation_method="DNS",
            tags=args.tags, opts=child,
        )
        # The apex and the wildcard share one validation record, so only the first is created.
        option = cert.domain_validation_options.apply(lambda opts: opts[0])
        record = aws.route53.Record(
            f"{name}-validation", zone_id=args.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            # A plain CNAME, so unlike the alias records its TTL is honoured.
            ttl=spec.DNS_RECORD_TTL_SECONDS, allow_overwrite=True, opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-validated", certificate_arn=cert.arn, validation_record_fqdns=[record.fqdn], opts=child,
        )
        return validation.certificate_arn
