"""Cross-patient periodic jobs (digests, reconciliation, PTL snapshots) under one lock."""
