"""The OpenAPI 3.1 document: every route, every success body and every problem it can answer."""

from __future__ import annotations

from functools import cache

from service.api.idempotency import UUID_V4_PATTERN
from soundbite import spec

PROBLEM = {"$ref": "#/components/schemas/Problem"}
_UNSAFE = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F"
_SPACE = "\\t\\n\\r \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000"
TEXT_PATTERN = f"^[^{_UNSAFE}]*[^{_UNSAFE}{_SPACE}][^{_UNSAFE}]*$"
"""The API's text rule as a schema pattern, lone surrogates aside: no unsafe character
(soundbite.core.domain.UNSAFE_TEXT) and at least one that is not whitespace (what `str.strip`
removes, spelled out, since JSON Schema's regex dialect and Python's disagree on `\\s`)."""
ID_PARAM = {
    "name": "soundbite_id", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
ERROR_TITLES = {
    400: "Invalid request (each field listed with a JSON pointer)",
    401: "No valid bearer token (see WWW-Authenticate)",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Unprocessable",
    429: "Rate limited (see Retry-After)",
    500: "Internal error",
    503: "A dependency is unavailable; retry (see Retry-After)",
}
COMMON_ERRORS = (405, 500, 503)
INT_HEADER = {"schema": {"type": "integer", "minimum": 0}}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {**INT_HEADER, "description": "Requests allowed per window"},
    "RateLimit-Remaining": {**INT_HEADER, "description": "Requests left in this window"},
    "RateLimit-Reset": {**INT_HEADER, "description": "Seconds until the window resets"},
}
RETRY_AFTER = {"Retry-After": {**INT_HEADER, "description": "Seconds to wait before retrying"}}
ERROR_HEADERS = {429: RETRY_AFTER, 503: RETRY_AFTER, 401: {
    "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge"}}}
BEARER = [{"bearerAuth": []}]
SECURITY_SCHEMES = {"bearerAuth": {
    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    "description": "An ID or access token of the SoundBite user pool (Amazon Cognito). The "
                   "caller is the token's `sub`; a soundbite is visible to its owner only.",
}}


def _errors(*codes: int, limited: bool = True) -> dict:
    """Problem responses; rate-limited operations also answer 429."""
    everything = set(codes) | set(COMMON_ERRORS) | ({429} if limited else set())
    out = {}
    for code in sorted(everything):
        out[str(code)] = {
            "description": ERROR_TITLES[code],
            "content": {"application/problem+json": {"schema": PROBLEM}},
        }
        if code in ERROR_HEADERS:
            out[str(code)]["headers"] = dict(ERROR_HEADERS[code])
    return out


def _with_rate_limit_headers(paths: dict, exempt: set[str]) -> dict:
    """Every response of a rate-limited operation carries the RateLimit-* headers."""
    for path, operations in paths.items():
        if path in exempt:
            continue
        for operation in operations.values():
            for response in operation["responses"].values():
                response["headers"] = {**response.get("headers", {}), **RATE_LIMIT_HEADERS}
    return paths


def _json(schema_ref: str, description: str, headers: dict | None = None) -> dict:
    out = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }
    if headers:
        out["headers"] = headers
    return out


SCHEMAS = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail", "instance", "timestamp", "correlationId"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"},
            "instance": {"type": "string"}, "timestamp": {"type": "string"},
            "correlationId": {"type": "string"},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["pointer", "detail"],
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            }},
        },
    },
    "CreateSoundbite": {
        "type": "object", "required": ["text"], "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": spec.TEXT_MAX_CHARS,
                     "pattern": TEXT_PATTERN,
                     "description": "No control characters other than tab and newlines, and "
                                    "no lone surrogates"},
            "voice": {"type": "string", "description": "a voice id from GET /v1/voices; "
                      "omitted: the synthesizer's default (espeak: en-us, Polly: Joanna)"},
            "format": {"type": "string", "default": spec.DEFAULT_FORMAT},
        },
    },
    "Soundbite": {
        "type": "object",
        "required": ["id", "status", "voice", "format", "text_length", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "processing", "ready", "failed"]},
            "voice": {"type": "string"}, "format": {"type": "string"},
            "text_length": {"type": "integer"}, "created_at": {"type": "string"},
            "updated_at": {"type": "string"}, "user_id": {"type": "string"},
            "audio_url": {"type": "string"}, "duration_seconds": {"type": ["number", "null"]},
            "audio_bytes": {"type": ["integer", "null"]},
            "failure_reason": {"type": ["string", "null"]},
        },
    },
    "SoundbiteList": {
        "type": "object", "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Soundbite"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "Voices": {
        "type": "object", "required": ["voices", "formats"],
        "properties": {
            "voices": {"type": "array", "items": {
                "type": "object", "required": ["id", "name", "language"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                               "language": {"type": "string"}},
            }},
            "formats": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string"}, "checks": {"type": "object"}}},
    "CspReport": {
        "description": "application/csp-report ({\"csp-report\": {...}}) or "
                       "application/reports+json (a list of reports of type csp-violation)",
        "oneOf": [
            {"type": "object", "required": ["csp-report"],
             "properties": {"csp-report": {"type": "object"}}},
            {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["type", "body"],
                                        "properties": {"type": {"const": "csp-violation"},
                                                       "body": {"type": "object"}}}},
        ],
    },
}


# Tell clients (and API fuzzers) that the id a create returns is what the reads take.
CREATED_LINKS = {
    name: {"operationId": operation, "parameters": {"soundbite_id": "$response.body#/id"}}
    for name, operation in (("GetSoundbite", "getSoundbite"), ("GetAudio", "getSoundbiteAudio"))
}


def _post_409() -> dict:
    return {
        "description": "Idempotency-Key reused with a different body (the problem carries "
                       "originalResponse), or a request with this key is still in progress "
                       "(retry after Retry-After)",
        "content": {"application/problem+json": {"schema": PROBLEM}},
        "headers": dict(RETRY_AFTER),
    }


def _paths() -> dict:
    paths = _core_paths()
    paths["/v1/soundbites"]["post"]["responses"]["409"] = _post_409()
    paths["/v1/soundbites"]["post"]["responses"]["202"]["links"] = CREATED_LINKS
    paths["/"] = {"get": {
        "operationId": "page", "summary": "The SoundBite page (strict CSP with a nonce)",
        "responses": {"200": {"description": "HTML", "content": {"text/html": {
            "schema": {"type": "string"}}}}, **_errors()},
    }}
    paths["/api/csp-report"] = {"post": {
        "operationId": "cspReport", "summary": "Content Security Policy violation reports",
        "requestBody": {"required": True, "content": {
            media: {"schema": {"$ref": "#/components/schemas/CspReport"}}
            for media in ("application/csp-report", "application/reports+json")}},
        "responses": {"204": {"description": "Received"}, **_errors(400, 413, 415)},
    }}
    return _with_rate_limit_headers(paths, exempt={"/healthz", "/readyz"})


def _core_paths() -> dict:
    return {
        "/v1/soundbites": {
            "post": {
                "operationId": "createSoundbite",
                "summary": "Queue text for synthesis",
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "required": True,
                     "description": "A UUID v4 per operation; send the same one to retry it. "
                                    "Scoped to the signed-in user. Remembered for 24 hours.",
                     "schema": {"type": "string", "format": "uuid", "pattern": UUID_V4_PATTERN}},
                ],
                "security": BEARER,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CreateSoundbite"}}}},
                "responses": {
                    "202": _json("Soundbite", "Accepted: synthesis is queued (or, with "
                                 "Idempotent-Replayed, the stored answer to the same request)", {
                                     "Location": {"schema": {"type": "string"}},
                                     "Idempotent-Replayed": {
                                         "schema": {"type": "string", "const": "true"},
                                         "description": "Present when this is a replay"},
                                 }),
                    **_errors(400, 401, 409, 413, 415),
                },
            },
            "get": {
                "operationId": "listSoundbites",
                "summary": "The signed-in user's soundbites, newest first",
                "security": BEARER,
                "parameters": [
                    {"name": "limit", "in": "query", "required": False, "schema": {
                        "type": "integer", "minimum": 1, "maximum": spec.LIST_LIMIT_MAX}},
                    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                     "description": "The next_cursor of the previous page, unchanged: it is signed, "
                                    "so any other value is refused with 400"},
                ],
                "responses": {"200": _json("SoundbiteList", "One page"), **_errors(400, 401, 404)},
            },
        },
        "/v1/soundbites/{soundbite_id}": {"get": {
            "operationId": "getSoundbite", "summary": "One soundbite and its status",
            "parameters": [ID_PARAM], "security": BEARER,
            "responses": {"200": _json("Soundbite", "The soundbite"), **_errors(400, 401, 404)},
        }},
        "/v1/soundbites/{soundbite_id}/audio": {"get": {
            "operationId": "getSoundbiteAudio", "summary": "Redirect to the audio",
            "parameters": [ID_PARAM], "security": BEARER,
            "responses": {
                "302": {"description": "Redirect to a presigned URL",
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                **_errors(400, 401, 404, 409),
            },
        }},
        "/v1/voices": {"get": {
            "operationId": "listVoices", "summary": "Voices and formats on offer",
            "responses": {"200": _json("Voices", "The catalog"), **_errors()},
        }},
        "/healthz": {"get": {
            "operationId": "liveness", "summary": "Liveness (no dependencies)",
            "responses": {"200": _json("Health", "Alive"), **_errors(limited=False)},
        }},
        "/readyz": {"get": {
            "operationId": "readiness", "summary": "Readiness (DynamoDB, SQS, S3)",
            "responses": {"200": _json("Health", "Ready"), **_errors(limited=False)},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          **_errors()},
        }},
    }


def _schemas(voices: tuple[str, ...], formats: tuple[str, ...]) -> dict:
    """The create body names the voices and formats this deployment's synthesizer offers,
    so a client (or a fuzzer) learns from the document what the server will accept."""
    if not voices and not formats:
        return SCHEMAS
    create = dict(SCHEMAS["CreateSoundbite"])
    properties = dict(create["properties"])
    if voices:
        properties["voice"] = {**properties["voice"], "enum": list(voices)}
    if formats:
        properties["format"] = {**properties["format"], "enum": list(formats)}
    create["properties"] = properties
    return {**SCHEMAS, "CreateSoundbite": create}


@cache
def document(voices: tuple[str, ...] = (), formats: tuple[str, ...] = ()) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "SoundBite API", "version": "1.0.0",
                 "description": "Text to speech: POST text, poll the soundbite, fetch the audio."},
        "paths": _paths(),
        "components": {"schemas": _schemas(voices, formats), "securitySchemes": SECURITY_SCHEMES},
    }
