"""The WSGI entry point gunicorn serves: the only module-level app."""

from service.api import configure_logging, create_app
from service.config import Settings

settings = Settings.from_env()
configure_logging(settings)
app = create_app({"settings": settings})
