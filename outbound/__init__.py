"""Pathway events out, as CloudEvents 1.0, through an outbox (webhook and NATS JetStream)."""
