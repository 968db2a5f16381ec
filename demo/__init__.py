"""Synthetic cohorts for demonstrations and tests."""
