"""The domain rules as pure functions over plain data (docs/domain-rules.md). No Kafka, no I/O."""
