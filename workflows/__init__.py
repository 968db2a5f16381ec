"""Temporal workflows: the patient pathway and its deterministic helpers."""
