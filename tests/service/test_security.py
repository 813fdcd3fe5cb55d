"""Security headers, the CSP nonce on every tag of the page, HTTPS redirects, CSP reports."""

from __future__ import annotations

import base64
import json
import logging
import re

import pytest

from service.api.csp_report import LOG_LINES_PER_MINUTE, LogBudget
from soundbite import spec
from tests.service.test_api_core import assert_problem

TAG = re.compile(r"<(script|style|link)\b[^>]*>", re.I)


def csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.partition(" ")[2] for part in policy.split("; ")}


def nonce_of(response) -> str:
    return re.search(r"'nonce-([^']+)'", csp(response)["script-src"]).group(1)


def test_every_response_carries_the_security_headers(client):
    answers = (client.get("/"), client.get("/v1/voices"), client.get("/v2/nope"),
               client.get("/static/page.js"), client.get("/", headers={"X-Forwarded-Proto": "https"}),
               client.get("/v1/voices", headers={"X-Forwarded-Proto": "https"}))
    for response in answers:
        for name in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
                     "Referrer-Policy", "X-Served-By"):
            assert len(response.headers.getlist(name)) == 1, (response.request.path, name)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        policy = csp(response)
        assert policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"
        assert policy["report-uri"] == "/api/csp-report"


def test_json_answers_carry_the_strictest_policy_and_no_nonce(client):
    """Nothing in a JSON body may run or load; only the page needs a nonce."""
    for response in (client.get("/v1/voices"), client.get("/v2/nope"),
                     client.get("/v1/voices", headers={"X-Forwarded-Proto": "https"})):
        assert csp(response)["default-src"] == "'none'"
        assert "nonce-" not in response.headers["Content-Security-Policy"]
    page = csp(client.get("/"))
    assert page["default-src"] == "'self'" and "'nonce-" in page["script-src"]


def test_the_page_has_a_fresh_16_byte_nonce_on_every_script_and_style(client):
    first, second = client.get("/"), client.get("/")
    assert first.status_code == 200 and first.mimetype == "text/html"
    nonces = [nonce_of(first), nonce_of(second)]
    assert nonces[0] != nonces[1]
    for response, nonce in zip((first, second), nonces, strict=True):
        assert len(base64.b64decode(nonce, validate=True)) == 16
        assert f"'nonce-{nonce}'" in csp(response)["style-src"]
        html = response.get_data(as_text=True)
        tags = TAG.findall(html)
        assert {"script", "link"} <= {t.lower() for t in tags}
        for tag in TAG.finditer(html):
            text = tag.group(0)
            if tag.group(1).lower() == "link" and "stylesheet" not in text:
                continue
            assert f'nonce="{nonce}"' in text, text
        assert " style=" not in html and "javascript:" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "no inline scripts at all"


def test_unsafe_inline_only_in_development(make_app):
    strict = csp(make_app().test_client().get("/"))
    assert "'unsafe-inline'" not in strict["script-src"] + strict["style-src"]
    loose = csp(make_app(development=True).test_client().get("/"))
    assert "'unsafe-inline'" in loose["script-src"] and "'unsafe-inline'" in loose["style-src"]


def test_media_src_allows_the_origin_presigned_audio_urls_point_to(client, aws_env):
    assert aws_env["AWS_ENDPOINT_URL"] in csp(client.get("/"))["media-src"].split()


def test_hsts_over_https_only(client):
    for path in ("/healthz", "/"):
        assert "Strict-Transport-Security" not in client.get(path).headers
        secure = client.get(path, headers={"X-Forwarded-Proto": "https"})
        hsts = secure.headers["Strict-Transport-Security"]
        assert "max-age=31536000" in hsts
        assert "includeSubDomains" in hsts


def test_https_redirect_everywhere_but_the_health_checks(make_app):
    client = make_app(force_https=True).test_client()
    redirected = client.get("/v1/voices")
    assert redirected.status_code == 308
    assert redirected.headers["Location"].startswith("https://")
    assert client.get("/").status_code == 308
    # 308 keeps the method: a POST sent over HTTP is re-sent as a POST, not turned into a GET.
    posted = client.post("/v1/soundbites?x=1", json={"text": "hi"})
    assert posted.status_code == 308
    assert posted.headers["Location"] == "https://localhost/v1/soundbites?x=1"
    for path in ("/healthz", "/readyz"):
        assert client.get(path).status_code == 200, path
    behind_alb = client.get("/v1/voices", headers={"X-Forwarded-Proto": "https"})
    assert behind_alb.status_code == 200


LEGACY = {"csp-report": {"document-uri": "https://soundbite.example/",
                         "violated-directive": "script-src-elem",
                         "blocked-uri": "inline", "line-number": 3}}
REPORTING_API = [{"type": "csp-violation", "age": 1, "url": "https://soundbite.example/",
                  "body": {"documentURL": "https://soundbite.example/",
                           "effectiveDirective": "style-src-elem", "blockedURL": "inline"}}]


@pytest.mark.parametrize(("ctype", "payload", "directive"), [
    ("application/csp-report", LEGACY, "script-src-elem"),
    ("application/reports+json", REPORTING_API, "style-src-elem"),
])
def test_csp_reports_in_both_formats_are_logged_and_answered_204(client, caplog, ctype,
                                                                payload, directive):
    with caplog.at_level(logging.WARNING, logger="soundbite.csp"):
        response = client.post("/api/csp-report", data=json.dumps(payload), content_type=ctype)
    assert response.status_code == 204 and response.get_data() == b""
    [record] = [r for r in caplog.records if r.name == "soundbite.csp"]
    assert directive in json.dumps(record.violations)


def test_csp_report_body_is_bounded(client):
    big = json.dumps({"csp-report": {"blocked-uri": "x" * spec.CSP_REPORT_MAX_BYTES}})
    assert_problem(client.post("/api/csp-report", data=big,
                               content_type="application/csp-report"), 413)


@pytest.mark.parametrize(("ctype", "data", "status"), [
    ("text/plain", json.dumps(LEGACY), 415),
    ("application/csp-report", "{not json", 400),
    ("application/csp-report", '{"something": "else"}', 400),
    ("application/reports+json", '[{"type": "deprecation", "body": {}}]', 400),
])
def test_bad_csp_reports_get_a_problem(client, ctype, data, status):
    assert_problem(client.post("/api/csp-report", data=data, content_type=ctype), status)


def test_a_flood_of_reports_cannot_flood_the_logs(client, caplog):
    with caplog.at_level(logging.WARNING, logger="soundbite.csp"):
        for _ in range(LOG_LINES_PER_MINUTE * 3):
            response = client.post("/api/csp-report", data=json.dumps(LEGACY),
                                   content_type="application/csp-report")
            assert response.status_code == 204
    assert len([r for r in caplog.records if r.name == "soundbite.csp"]) == LOG_LINES_PER_MINUTE


def test_log_budget_reports_what_it_suppressed_in_the_next_window():
    now = [0.0]
    budget = LogBudget(2, now=lambda: now[0])
    assert [budget.admit() for _ in range(5)] == [0, 0, None, None, None]
    now[0] += 60
    assert budget.admit() == 3
    assert budget.admit() == 0


def test_forwarded_headers_count_only_with_trusted_proxies(make_app):
    """With no proxy in front (dev, compose) a client cannot claim HTTPS or another address."""
    direct = make_app(force_https=True, trusted_proxies=0).test_client()
    spoofed = direct.get("/v1/voices", headers={"X-Forwarded-Proto": "https"})
    assert spoofed.status_code == 308
    behind_alb = make_app(force_https=True, trusted_proxies=1).test_client()
    assert behind_alb.get("/v1/voices", headers={"X-Forwarded-Proto": "https"}).status_code == 200


def test_a_bad_trusted_proxies_setting_is_a_configuration_error():
    from soundbite.core.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="SOUNDBITE_TRUSTED_PROXIES"):
        Settings.from_env({"SOUNDBITE_TRUSTED_PROXIES": "-1"})
    assert Settings.from_env({}).trusted_proxies == 0


@pytest.mark.parametrize("backend", ["ec2", "fargate"])
def test_every_answer_names_the_stack_that_served_it(make_app, backend):
    client = make_app(backend=backend, force_https=True).test_client()
    answers = [client.get("/healthz"), client.get("/v1/voices", base_url="https://x"),
               client.get("/v1/soundbites/not-an-id", base_url="https://x"),  # a problem
               client.get("/v1/voices")]  # the HTTPS redirect
    assert [a.status_code for a in answers][-1] == 308
    assert {a.headers["X-Served-By"] for a in answers} == {backend}
