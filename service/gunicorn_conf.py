"""gunicorn settings for the API, the same in the image, on EC2, on Fargate and locally.

Threaded workers; keep-alive above the ALB idle timeout so the ALB never reuses a
connection gunicorn already closed; graceful timeout below ECS's stop timeout.
"""

import os

from soundbite import spec

bind = os.environ.get("SOUNDBITE_BIND", f"0.0.0.0:{spec.API_PORT}")
workers = int(os.environ.get("SOUNDBITE_WEB_WORKERS", "2"))
# Read by the app in every worker (they inherit the arbiter's environment): a rate limit
# counted in memory must be divided between the processes that serve.
os.environ["SOUNDBITE_SERVING_PROCESSES"] = str(workers)
worker_class = "gthread"
threads = int(os.environ.get("SOUNDBITE_WEB_THREADS", str(spec.GUNICORN_THREADS)))
keepalive = spec.GUNICORN_KEEPALIVE_SECONDS
graceful_timeout = spec.GUNICORN_GRACEFUL_TIMEOUT_SECONDS
timeout = spec.GUNICORN_TIMEOUT_SECONDS
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# The app decides whom to believe about the client and the scheme (SOUNDBITE_TRUSTED_PROXIES,
# werkzeug's ProxyFix); gunicorn must not trust X-Forwarded-* from any address on its own.
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
accesslog = None
errorlog = "-"
loglevel = "warning"
