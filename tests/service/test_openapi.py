"""The OpenAPI document is valid 3.1 and covers every route the app serves, with its problems."""

from openapi_spec_validator import validate

from service.api import openapi


def test_document_is_valid_openapi_31(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_is_documented(app):
    documented = openapi.document()["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        assert path in documented, f"{path} is served but not documented"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = documented[path][method.lower()]
            assert "500" in operation["responses"], f"{method} {path} lacks its 500 problem"


def test_the_schema_text_pattern_accepts_exactly_the_texts_the_api_accepts():
    """Schemathesis found a whitespace-only text the schema allowed and the API refused."""
    import re

    from service.api.openapi import TEXT_PATTERN
    from soundbite.core import domain
    from soundbite.core.exceptions import InvalidRequest

    pattern = re.compile(TEXT_PATTERN)

    def api_accepts(text: str) -> bool:
        try:
            domain.parse_create({"text": text, "format": "wav"}, {"en-us"}, {"wav"})
        except InvalidRequest:
            return False
        return True

    characters = [chr(c) for c in range(0x3100) if not 0xD800 <= c <= 0xDFFF] + ["\ufeff", "\uffff"]
    texts = list(characters) + [f" {c}\t" for c in characters] + ["a" * 3000, " " * 3000]
    disagree = [t for t in texts if bool(pattern.match(t)) != api_accepts(t)]
    assert disagree == []
