"""The OpenAPI 3.1 document: every route, every success body and every problem it can answer."""

from __future__ import annotations

from functools import cache

from infra import spec

PROBLEM = {"$ref": "#/components/schemas/Problem"}
ID_PARAM = {
    "name": "soundbite_id", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
ERROR_TITLES = {
    400: "Invalid request (each field listed with a JSON pointer)",
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


def _errors(*codes: int) -> dict:
    return {
        str(code): {
            "description": ERROR_TITLES[code],
            "content": {"application/problem+json": {"schema": PROBLEM}},
        }
        for code in sorted(set(codes) | set(COMMON_ERRORS))
    }


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
            "text": {"type": "string", "minLength": 1, "maxLength": spec.TEXT_MAX_CHARS},
            "voice": {"type": "string", "default": spec.DEFAULT_VOICE},
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
}


def _paths() -> dict:
    return {
        "/v1/soundbites": {
            "post": {
                "operationId": "createSoundbite",
                "summary": "Queue text for synthesis",
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "required": True,
                     "schema": {"type": "string", "format": "uuid"}},
                    {"name": "X-User-Id", "in": "header", "required": False,
                     "schema": {"type": "string", "maxLength": 128}},
                ],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CreateSoundbite"}}}},
                "responses": {
                    "202": _json("Soundbite", "Accepted: synthesis is queued",
                                 {"Location": {"schema": {"type": "string"}}}),
                    **_errors(400, 409, 413, 415),
                },
            },
            "get": {
                "operationId": "listSoundbites",
                "summary": "A user's soundbites, newest first",
                "parameters": [
                    {"name": "user_id", "in": "query", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 128}},
                    {"name": "limit", "in": "query", "required": False, "schema": {
                        "type": "integer", "minimum": 1, "maximum": spec.LIST_LIMIT_MAX}},
                    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {"200": _json("SoundbiteList", "One page"), **_errors(400)},
            },
        },
        "/v1/soundbites/{soundbite_id}": {"get": {
            "operationId": "getSoundbite", "summary": "One soundbite and its status",
            "parameters": [ID_PARAM],
            "responses": {"200": _json("Soundbite", "The soundbite"), **_errors(400, 404)},
        }},
        "/v1/soundbites/{soundbite_id}/audio": {"get": {
            "operationId": "getSoundbiteAudio", "summary": "Redirect to the audio",
            "parameters": [ID_PARAM],
            "responses": {
                "302": {"description": "Redirect to a presigned URL",
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                **_errors(400, 404, 409),
            },
        }},
        "/v1/voices": {"get": {
            "operationId": "listVoices", "summary": "Voices and formats on offer",
            "responses": {"200": _json("Voices", "The catalog"), **_errors()},
        }},
        "/healthz": {"get": {
            "operationId": "liveness", "summary": "Liveness (no dependencies)",
            "responses": {"200": _json("Health", "Alive"), **_errors()},
        }},
        "/readyz": {"get": {
            "operationId": "readiness", "summary": "Readiness (DynamoDB, SQS, S3)",
            "responses": {"200": _json("Health", "Ready"), **_errors()},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          **_errors()},
        }},
    }


@cache
def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "SoundBite API", "version": "1.0.0",
                 "description": "Text to speech: POST text, poll the soundbite, fetch the audio."},
        "paths": _paths(),
        "components": {"schemas": SCHEMAS},
    }
