"""`soundbite image push` up to the registry boundary: the build and tag for real against the
Docker daemon, ECR's authorization from the emulator, and the login and push calls at the
docker command line (no registry is reachable from here)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from types import SimpleNamespace

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from infra.image import DockerCli, EcrRepository, ImagePushError, push_image
from soundbite.cli import main

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/soundbite-prod"
DIGEST = "sha256:" + "ab" * 32


class RecordingDocker:
    """Stands for subprocess.run at the docker CLI: records argv and stdin, answers like docker."""

    def __init__(self):
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, argv, input=None, **_kwargs):
        self.calls.append((argv, input))
        out = f"v1: digest: {DIGEST} size: 1573\n" if argv[1] == "push" else ""
        return SimpleNamespace(returncode=0, stdout=out, stderr="")


@mock_aws
def test_build_login_push_in_order_with_the_password_on_stdin_and_the_digest_printed(tmp_path):
    ecr = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    token = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    recorder = RecordingDocker()
    ref = push_image(EcrRepository.parse(REPO), "v1", tmp_path, DockerCli(run=recorder), ecr)
    assert ref == f"{REPO}@{DIGEST}"
    argv = [call[0] for call in recorder.calls]
    # built for the stacks' x86 platform whatever the operator's machine is
    assert argv[0] == ["docker", "build", "--platform", "linux/amd64", "-t", f"{REPO}:v1", str(tmp_path)]
    assert argv[1][:4] == ["docker", "login", "--username", user]
    assert argv[1][4:] == ["--password-stdin", token["proxyEndpoint"].removeprefix("https://")]
    assert recorder.calls[1][1] == password and all(password not in " ".join(a) for a in argv)
    assert argv[2] == ["docker", "push", f"{REPO}:v1"]


def test_a_push_without_a_digest_and_a_url_that_is_not_ecr_are_refused(tmp_path):
    with pytest.raises(ImagePushError, match="not an ECR repository URL"):
        EcrRepository.parse("docker.io/library/soundbite")
    silent = RecordingDocker()
    silent_push = DockerCli(run=lambda argv, **kw: silent(argv, **kw) if argv[1] != "push"
                            else SimpleNamespace(returncode=0, stdout="", stderr=""))
    ecr = SimpleNamespace(get_authorization_token=lambda: {"authorizationData": [{
        "authorizationToken": base64.b64encode(b"AWS:pw").decode(),
        "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]})
    with pytest.raises(ImagePushError, match="printed no digest"):
        push_image(EcrRepository.parse(REPO), "v1", tmp_path, silent_push, ecr)


def test_the_command_is_registered_and_fails_in_one_line():
    runner = CliRunner()
    assert "image" in runner.invoke(main, ["--help"]).output
    result = runner.invoke(main, ["image", "push", "--repository-url", "nope", "--tag", "v1"])
    assert result.exit_code == 1
    assert "not an ECR repository URL" in result.output and "Traceback" not in result.output


def _daemon() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.xdist_group("docker")
@pytest.mark.skipif(not _daemon(), reason="no Docker daemon answers")
def test_the_build_and_tag_run_for_real_and_a_failed_push_says_so(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    (tmp_path / "marker").write_text(uuid.uuid4().hex)
    ref = f"127.0.0.1:9/soundbite-push-test:{uuid.uuid4().hex[:12]}"
    docker = DockerCli()
    try:
        docker.build(tmp_path, ref)
        inspect = subprocess.run(["docker", "image", "inspect", "--format", "{{index .RepoTags 0}}", ref],
                                 capture_output=True, text=True, timeout=60)
        assert inspect.returncode == 0 and inspect.stdout.strip() == ref
        with pytest.raises(ImagePushError, match="docker push failed"):
            docker.push(ref)  # nothing listens there: the registry boundary
    finally:
        subprocess.run(["docker", "image", "rm", "-f", ref], capture_output=True, timeout=60)
