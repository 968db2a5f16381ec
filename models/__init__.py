"""Pydantic models that cross process boundaries, and the sqlmodel read-model tables."""
