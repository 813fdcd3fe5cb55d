# One image for the SoundBite API (`soundbite api`, gunicorn) and worker (`soundbite worker`).
# espeak-ng comes with the espeakng-loader wheel (library and voice data) and libsndfile with
# the soundfile wheel, so the runtime stage needs no apt packages. Only the runtime
# dependencies are installed; EXTRAS=[toolkit] adds the toolkit (the compose file's emulator).

FROM python:3.11-slim AS build
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md requirements.lock ./
COPY soundbite ./soundbite
COPY service ./service
COPY worker ./worker
COPY migration ./migration
COPY infra ./infra
# No pip or setuptools at run time; tests and caches inside the wheels are dead weight.
# The project pins nothing here: pyproject.toml holds the ranges (DL3013 does not apply).
# hadolint ignore=DL3013
RUN pip install --no-cache-dir -c requirements.lock ".${EXTRAS}" \
 && pip uninstall -y pip setuptools wheel \
 && find /opt/venv -depth -type d \( -name tests -o -name __pycache__ \) -path '*/site-packages/*' \
      -not -path '*/numpy/_core/*' -exec rm -rf {} +

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 soundbite \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/soundbite soundbite
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/soundbite
EXPOSE 8080
# No curl in the slim image: probe the liveness route with the interpreter we already ship.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# gunicorn settings (threaded workers, keep-alive above the ALB idle timeout, graceful timeout
# below the ECS stop timeout) come from the project's gunicorn config, which `soundbite api` loads.
CMD ["soundbite", "api"]
