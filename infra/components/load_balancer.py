"""A public ALB for one stack: HTTPS listener, HTTP->HTTPS redirect, one API target group.

Both stacks use this component, so their health checks, timeouts and TLS policy are the same;
only the target type differs (instances on EC2, task IPs on Fargate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from soundbite import spec

HTTPS, HTTP = 443, 80
USE_HTTPS_BODY = json.dumps({
    "type": "about:blank", "title": "HTTPS required", "status": 400,
    "detail": "send this request to https:// (only GET and HEAD are redirected from http://)"})
"""The plain-HTTP listener's answer to anything but GET and HEAD (RFC 9457 fields; the load
balancer can only label it application/json)."""
INTERNAL_PATHS = ("/readyz",)
"""Answered by the app to its own health checks and operators on the target port, never
through the public listener: a 503 from readiness is a target 5xx, which feeds the error-rate
alarm and the migration judge, and anyone could ask for it thousands of times a second."""
NOT_PUBLIC_BODY = json.dumps({"type": "about:blank", "title": "Not Found", "status": 404,
                              "detail": "not served publicly"})
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class LoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    certificate_arn: pulumi.Input[str]
    target_type: str  # "instance" (EC2) or "ip" (Fargate)
    tags: dict[str, str] = field(default_factory=dict)


def health_check() -> dict:
    return {
        "path": spec.HEALTH_CHECK_PATH,
        "protocol": "HTTP",
        "port": "traffic-port",
        "matcher": "200",
        "interval": spec.HEALTH_CHECK_INTERVAL_SECONDS,
        "timeout": spec.HEALTH_CHECK_TIMEOUT_SECONDS,
        "healthy_threshold": spec.HEALTHY_THRESHOLD,
        "unhealthy_threshold": spec.UNHEALTHY_THRESHOLD,
    }


class PublicLoadBalancer(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    https_listener: aws.lb.Listener

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:PublicLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="public HTTPS (and HTTP redirect) to the ALB",
            ingress=[
                {"protocol": "tcp", "from_port": p, "to_port": p, "cidr_blocks": [ANYWHERE]}
                for p in (HTTPS, HTTP)
            ],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": [ANYWHERE]}],
            tags=tags, opts=child,
        )
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb", load_balancer_type="application", internal=False,
            security_groups=[self.security_group.id], subnets=args.public_subnet_ids,
            idle_timeout=spec.ALB_IDLE_TIMEOUT_SECONDS, drop_invalid_header_fields=True,
            tags=tags, opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg", port=spec.API_PORT, protocol="HTTP", target_type=args.target_type,
            vpc_id=args.vpc_id, health_check=health_check(),
            deregistration_delay=spec.TARGET_DEREGISTRATION_DELAY_SECONDS, tags=tags, opts=child,
        )
        self.https_listener = aws.lb.Listener(
            f"{name}-https", load_balancer_arn=self.load_balancer.arn, port=HTTPS, protocol="HTTPS",
            ssl_policy=spec.TLS_POLICY, certificate_arn=args.certificate_arn,
            default_actions=[{"type": "forward", "target_group_arn": self.target_group.arn}],
            tags=tags, opts=child,
        )
        aws.lb.ListenerRule(
            f"{name}-https-internal", listener_arn=self.https_listener.arn, priority=1,
            conditions=[{"path_pattern": {"values": list(INTERNAL_PATHS)}}],
            actions=[{"type": "fixed-response", "fixed_response": {
                "status_code": "404", "content_type": "application/json",
                "message_body": NOT_PUBLIC_BODY}}],
            tags=tags, opts=child,
        )
        # Plain HTTP: a GET or HEAD is redirected (301), anything else refused. A load balancer
        # redirects only with 301 or 302, which turn a POST into a GET: the create would be
        # lost and the client would see a list (or a 401) instead of an error.
        http = aws.lb.Listener(
            f"{name}-http", load_balancer_arn=self.load_balancer.arn, port=HTTP, protocol="HTTP",
            default_actions=[{"type": "fixed-response", "fixed_response": {
                "status_code": "400", "content_type": "application/json",
                "message_body": USE_HTTPS_BODY}}],
            tags=tags, opts=child,
        )
        aws.lb.ListenerRule(
            f"{name}-http-redirect", listener_arn=http.arn, priority=1,
            conditions=[{"http_request_method": {"values": ["GET", "HEAD"]}}],
            actions=[{"type": "redirect", "redirect": {
                "protocol": "HTTPS", "port": str(HTTPS), "status_code": "HTTP_301"}}],
            tags=tags, opts=child,
        )
        self.register_outputs({
            "dns_name": self.load_balancer.dns_name,
            "arn_suffix": self.load_balancer.arn_suffix,
            "target_group_arn_suffix": self.target_group.arn_suffix,
        })

    def app_security_group(self, name: str, vpc_id, tags: dict,
                           opts: pulumi.ResourceOptions) -> aws.ec2.SecurityGroup:
        """The app's group: the API port reachable from this load balancer only."""
        return aws.ec2.SecurityGroup(
            name, vpc_id=vpc_id, description="API port from the stack's ALB only",
            ingress=[{"protocol": "tcp", "from_port": spec.API_PORT, "to_port": spec.API_PORT,
                      "security_groups": [self.security_group.id]}],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": [ANYWHERE]}],
            tags=tags, opts=opts,
        )
