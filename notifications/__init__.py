"""Delivering the outbox (email, webhooks), the escalation ladder's acknowledgements, feeds."""
