"""Connecting to Temporal with the encrypting data converter."""

from temporalio.client import Client

from core.codec import encrypted_data_converter, load_or_create_key
from core.config import Settings


async def connect(settings: Settings) -> Client:
    """A client whose payloads are encrypted with the configured key."""
    key = load_or_create_key(settings.encryption_key, settings.resolved_key_file)
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=encrypted_data_converter(key),
    )
