# learnstream worker / API image (used by docker-compose.kafka.yml).
#
# Two stages so that whatever sits in the build context besides the sources (the embedded stack's
# .learnstream/ state and jar cache, .git, virtualenvs) never ends up in an image layer.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && mkdir -p /runtime \
    && cp topology.yaml /runtime/ \
    && cp -r schemas /runtime/schemas

FROM python:3.11-slim
# Installed as a wheel, the package no longer sits next to topology.yaml and schemas/, so the
# image points Settings at the copies in /app.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LEARNSTREAM_TOPOLOGY_FILE=/app/topology.yaml \
    LEARNSTREAM_SCHEMA_DIR=/app/schemas/avro \
    LEARNSTREAM_STATE_DIR=/app/.learnstream
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 learnstream
WORKDIR /app
COPY --from=build --chown=learnstream:learnstream /runtime/ /app/
RUN chown learnstream:learnstream /app
USER learnstream
CMD ["learnstream", "--help"]
