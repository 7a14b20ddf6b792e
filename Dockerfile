# learnstream worker / API image (used by docker-compose.kafka.yml).
#
# Two stages so that whatever sits in the build context besides the sources (the embedded stack's
# .learnstream/ state and jar cache, .git, virtualenvs) never ends up in an image layer.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
# The wheel carries topology.yaml, the Avro schemas and the migrations (setup.py, ADR 0015).
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
# Installed as a wheel, the package no longer sits next to topology.yaml and schemas/, so the
# image points Settings at the copies in /app.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LEARNSTREAM_STATE_DIR=/app/.learnstream
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 learnstream
WORKDIR /app
RUN chown learnstream:learnstream /app
USER learnstream
CMD ["learnstream", "--help"]
