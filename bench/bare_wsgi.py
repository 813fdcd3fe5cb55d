"""The framework floor: a bare Flask app that answers with a fixed JSON body and nothing else.

Served by gunicorn with SoundBite's own settings (`service.gunicorn_conf`), so the only
difference from the real API is everything SoundBite does per request. The body comes from
`BENCH_BARE_BODY`: the benchmark passes the very bytes the real API answered.
"""

import os

from flask import Flask, Response

BODY = os.environ.get("BENCH_BARE_BODY", "{}")

app = Flask(__name__)


@app.get("/v1/soundbites/<soundbite_id>")
def get_one(soundbite_id: str) -> Response:
    return Response(BODY, status=200, mimetype="application/json")


@app.post("/v1/soundbites")
def create() -> Response:
    return Response(BODY, status=202, mimetype="application/json")
