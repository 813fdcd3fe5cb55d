"""MDN's HTTP Observatory grades the page and an API route of gunicorn in production mode.

The scanner is an npm package (`@mdn/mdn-http-observatory`); the test finds it through
`OBSERVATORY_DIR` (the package's directory) or `node_modules/` at the repository root, and
skips with the install command when it is absent. Its install step would download the HSTS
preload and TLD lists; installed with `--ignore-scripts`, it needs two empty stand-ins.

TLS ends at the load balancer, so the scan goes through a local stand-in for its two
listeners (`tests/verify/tls_front.py`): HTTPS with a certificate from a CA made for the test,
which the scanner trusts through NODE_EXTRA_CA_CERTS, and plain HTTP, both forwarding to
gunicorn as the ALB does. The redirect and HSTS tests are measured like every other one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.service.conftest import auth_env
from tests.verify.conftest import REPO_ROOT, tool
from tests.verify.tls_front import TlsFront, make_ca_and_certificate

SCRIPT = Path(__file__).with_name("observatory_scan.mjs")
PACKAGE = "@mdn/mdn-http-observatory"
TARGET_GRADE = "A+"
INSTALL_HINT = (f"npm install --ignore-scripts --prefix <dir> {PACKAGE}, then create empty "
                "conf/hsts-preload.json ({}) and conf/tld-list.json ([]) in the package and "
                "set OBSERVATORY_DIR=<dir>/node_modules/@mdn/mdn-http-observatory")
PRODUCTION = {"SOUNDBITE_DEVELOPMENT": None}


def observatory() -> Path:
    candidates = [os.environ.get("OBSERVATORY_DIR", ""), REPO_ROOT / "node_modules" / PACKAGE]
    for candidate in candidates:
        package = Path(candidate) if candidate else None
        if package and (package / "src" / "scanner").is_dir():
            for stand_in in ("hsts-preload.json", "tld-list.json"):
                if not (package / "conf" / stand_in).exists():
                    pytest.skip(f"{package}/conf/{stand_in} is missing: {INSTALL_HINT}")
            return package
    pytest.skip(f"the MDN HTTP Observatory is not installed: {INSTALL_HINT}")


def scan(package: Path, front: TlsFront, path: str) -> dict:
    if tool("node") is None:
        pytest.skip("node is not installed")
    result = subprocess.run(
        ["node", str(SCRIPT), str(package), "127.0.0.1", path, str(front.http_port), str(front.https_port)],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(front.ca)})
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def tls_front(deployment, tmp_path):
    """Production mode with the HTTPS redirect on, behind a local TLS front (one trusted hop).

    AWS's endpoints (S3 for the audio links, the user pool for sign-in and its keys) speak
    HTTPS too, so the CSP names https origins: the emulator gets a TLS front of its own.
    """
    certificates = make_ca_and_certificate(tmp_path)
    emulator_port = int(deployment.emulator.endpoint.rsplit(":", 1)[1])
    aws = TlsFront(emulator_port, certificates)
    aws_endpoint = f"https://127.0.0.1:{aws.https_port}"
    jwks = auth_env(deployment.emulator.endpoint)["SOUNDBITE_AUTH_JWKS_URL"]
    lane = deployment.lane(
        endpoint=aws_endpoint, SOUNDBITE_FORCE_HTTPS="true", AWS_CA_BUNDLE=str(certificates[0]),
        SSL_CERT_FILE=str(certificates[0]),
        SOUNDBITE_AUTH_JWKS_URL=jwks.replace(deployment.emulator.endpoint, aws_endpoint), **PRODUCTION)
    front = TlsFront(lane.port, certificates)
    yield front
    front.close()
    aws.close()


@pytest.mark.verify
@pytest.mark.parametrize("path", ["", "/v1/voices"], ids=["page", "api"])
def test_observatory_grades_a_plus_through_tls_with_every_test_measured(tls_front, path, tmp_path):
    package = observatory()
    report = scan(package, tls_front, path)
    (tmp_path / "observatory.json").write_text(json.dumps(report, indent=2))
    failed = {name for name, test in report["tests"].items() if not test["pass"]}
    print(f"observatory {path or '/'}: grade {report['scan']['grade']} "
          f"({report['scan']['score']}), failed: {sorted(failed)}")
    assert failed == set(), f"failed: {sorted(failed)}"
    assert report["tests"]["redirection"]["result"] == "redirection-to-https"
    assert report["tests"]["strict-transport-security"]["result"] == \
        "hsts-implemented-max-age-at-least-six-months"
    # The page's policy allows 'self' with nonces; a JSON answer's allows nothing at all.
    assert report["tests"]["content-security-policy"]["result"] == (
        "csp-implemented-with-no-unsafe-default-src-none" if path else "csp-implemented-with-no-unsafe")
    assert report["tests"]["referrer-policy"]["result"] == "referrer-policy-private"
    assert report["scan"]["grade"] == TARGET_GRADE


def _get(url: str, **headers: str):
    request = urllib.request.Request(url, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        return opener.open(request, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc


@pytest.mark.verify
def test_production_csp_needs_no_unsafe_inline_and_https_is_enforced(deployment):
    lane = deployment.lane(SOUNDBITE_FORCE_HTTPS="true", **PRODUCTION)
    behind_alb = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    nonces = set()
    for _ in range(2):
        page = _get(f"{lane.url}/", **behind_alb)
        assert page.status == 200
        csp = page.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
        for name in ("script-src", "style-src"):
            nonce = re.search(r"'nonce-([A-Za-z0-9+/=]+)'", directives[name])
            assert nonce, f"{name} has no nonce: {directives[name]}"
            nonces.add(nonce.group(1))
        assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert len(nonces) == 2, "the nonce must change on every request"

    plain = _get(f"{lane.url}/v1/voices")  # what an http:// client reaching the ALB sends on
    assert plain.status == 308 and plain.headers["Location"].startswith("https://")
    health = _get(f"{lane.url}/healthz")  # the ALB health check speaks plain HTTP
    assert health.status == 200
