"""`soundbite image push`: build the runtime image, push it to the stack's ECR repository, and
print the digest reference both stacks run (`pulumi config set soundbite:image <repo>@sha256:...`).

Three small pieces: `DockerCli` (the docker command line, its runner injectable), `ecr_login`
(a registry credential from ECR's GetAuthorizationToken through boto3), and `push_image`,
which builds, tags, logs in, pushes and reads the digest back from the push. The password goes
to `docker login` on stdin, never on a command line.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from soundbite.exit_codes import ExitCode

DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
ECR_URL = re.compile(r"^(?P<registry>\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)/"
                     r"(?P<name>[a-z0-9][a-z0-9._/-]*)$")
ROOT = Path(__file__).resolve().parents[1]
IMAGE_PLATFORM = "linux/amd64"
"""What both stacks run (Fargate's X86_64 runtime platform, the EC2 stack's x86 instance
types): an operator's arm64 machine still builds an image they can start.
"""


class ImagePushError(RuntimeError):
    """Building, logging in or pushing failed; the message says which step and why."""


@dataclass(frozen=True)
class Registry:
    host: str
    username: str
    password: str


@dataclass(frozen=True)
class EcrRepository:
    url: str  # <account>.dkr.ecr.<region>.amazonaws.com/<name>
    registry: str
    region: str
    name: str

    @classmethod
    def parse(cls, url: str) -> EcrRepository:
        match = ECR_URL.match(url.strip().removeprefix("https://"))
        if not match:
            raise ImagePushError(f"{url!r} is not an ECR repository URL "
                                 "(pulumi stack output ecrRepositoryUrl prints it)")
        return cls(match.group(0), match["registry"], match["region"], match["name"])


class DockerCli:
    """The docker command line. `run` stands for subprocess.run (tests pass a recorder)."""

    def __init__(self, run: Callable = subprocess.run, binary: str = "docker"):
        self._run, self.binary = run, binary

    def _docker(self, *args: str, stdin: str | None = None, timeout: float = 1800) -> str:
        try:
            result = self._run([self.binary, *args], input=stdin, capture_output=True, text=True,
                               timeout=timeout)
        except FileNotFoundError as exc:
            raise ImagePushError("the docker CLI is not installed or not on PATH") from exc
        if result.returncode != 0:
            tail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
            raise ImagePushError(f"docker {args[0]} failed: {' | '.join(tail)}")
        return result.stdout

    def build(self, context: Path, ref: str, network: str | None = None) -> None:
        extra = ["--network", network] if network else []
        self._docker("build", "--platform", IMAGE_PLATFORM, *extra, "-t", ref, str(context))

    def login(self, registry: Registry) -> None:
        self._docker("login", "--username", registry.username, "--password-stdin", registry.host,
                     stdin=registry.password, timeout=120)

    def push(self, ref: str) -> str:
        return self._docker("push", ref)


def ecr_login(client, repository: EcrRepository) -> Registry:
    """A docker credential for the repository's registry (valid 12 hours)."""
    data = client.get_authorization_token()["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    host = data["proxyEndpoint"].removeprefix("https://").rstrip("/") or repository.registry
    return Registry(host, username, password)


def push_image(repository: EcrRepository, tag: str, context: Path, docker: DockerCli, ecr_client,
               network: str | None = None, echo: Callable[[str], None] = lambda _line: None) -> str:
    """Build `context` as `<repo>:<tag>`, push it, and return `<repo>@sha256:<digest>`."""
    ref = f"{repository.url}:{tag}"
    echo(f"building {ref}")
    docker.build(context, ref, network)
    echo(f"logging in to {repository.registry}")
    docker.login(ecr_login(ecr_client, repository))
    echo(f"pushing {ref}")
    found = DIGEST.search(docker.push(ref))
    if not found:
        raise ImagePushError(f"docker push {ref} printed no digest")
    return f"{repository.url}@{found.group(1)}"


@click.group()
def image() -> None:
    """Build and publish the runtime image."""


@image.command("push")
@click.option("--repository-url", required=True, metavar="URL",
              help="The stack's ECR repository (pulumi stack output ecrRepositoryUrl).")
@click.option("--tag", required=True, help="The version tag (tags are immutable in the repository).")
@click.option("--context", "context", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=ROOT, show_default="the checkout", help="The directory holding the Dockerfile.")
@click.option("--network", default=None, help="docker build --network (e.g. host).")
def push(repository_url: str, tag: str, context: Path, network: str | None) -> None:
    """Build the image, push it to ECR, print `<repo>@sha256:<digest>` for soundbite:image."""
    import boto3

    try:
        repository = EcrRepository.parse(repository_url)
        ref = push_image(repository, tag, context, DockerCli(),
                         boto3.client("ecr", region_name=repository.region),
                         network=network, echo=lambda line: click.echo(line, err=True))
    except ImagePushError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(ExitCode.ERROR) from None
    except Exception as exc:  # noqa: BLE001 - AWS credentials or API errors: one line
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(ExitCode.ERROR) from None
    click.echo(ref)
    click.echo(f"next: pulumi config set soundbite:image {ref} --stack <STACK>", err=True)
