"""The certification agent: a certificate per completion, revoked and expired by the rules."""
