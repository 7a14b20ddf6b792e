"""Materialized views in Postgres and Redis, written idempotently in batches."""

import logging

# Alembic narrates every plugin at INFO, some of it at import time; operators need warnings only.
logging.getLogger("alembic").setLevel(logging.WARNING)
