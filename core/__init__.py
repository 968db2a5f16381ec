"""Process-level plumbing: settings, database, Temporal client and payload encryption."""
