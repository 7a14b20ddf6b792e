"""The embedded local stack: real Apache Kafka, PostgreSQL and Redis as loopback processes."""

from learnstream.infra.errors import InfraError
from learnstream.infra.stack import ServiceStatus, Stack

__all__ = ["InfraError", "ServiceStatus", "Stack"]
