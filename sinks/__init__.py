"""Materialized views in Postgres and Redis, written idempotently in batches."""
