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
