"""The WSGI entry point gunicorn serves: the only module-level app.

Where the API is assembled: the catalog of voices and formats it offers is built here from the
core (`build_catalog`, by the same `SOUNDBITE_SYNTHESIZER` the worker reads) and passed in, so
the API process never imports the worker (an import-linter contract in pyproject.toml).
"""

import gc

from service.api import configure_logging, context, create_app
from soundbite.core.config import Settings
from soundbite.core.synth.catalog import build_catalog


def warm_up(app) -> None:
    """Load the catalog's voices and build every AWS client before the first request.

    Each gunicorn worker imports this module, so the first client request to a fresh worker
    (a new Fargate task taking its first weighted traffic) does not pay for it.
    """
    with app.app_context():
        context.catalog().voices()
        context.repository().client  # noqa: B018 - building the client is the point
        context.publisher().client  # noqa: B018
        context.audio_store().client  # noqa: B018
        context.idempotency_store()
        context.soundbite_reader()


settings = Settings.from_env()
configure_logging(settings)
app = create_app({"settings": settings, "catalog": build_catalog(settings.synthesizer)})
warm_up(app)
# Everything loaded so far (Flask, boto3's service models, the catalog) lives as long as the
# process: keep it out of the collector's sight, so a full collection walks only what requests
# made instead of pausing every thread of this worker for the whole heap.
gc.freeze()
