"""AES-GCM payload encryption, so patient data in Temporal history is unreadable at rest."""

import base64
import dataclasses
import hmac
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted-aes256gcm"
_NONCE_BYTES = 12


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload whole (metadata included) with one AES-256-GCM key."""

    def __init__(self, key: bytes, key_id: str = "default") -> None:
        if len(key) != 32:
            raise ValueError("payload encryption key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)
        self._key_id = key_id
        # Kept only to derive purpose-bound secrets from; never used for anything else.
        self._key = key

    def derived_secret(self, purpose: str) -> bytes:
        """A secret for ``purpose`` (e.g. keyed ids) derived from the payload key, so every
        process that can read payloads agrees on it and no other secret needs distributing."""
        return hmac.new(self._key, b"sirt-derived-secret:" + purpose.encode(), "sha256").digest()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload into an opaque one tagged with our encoding."""
        return [
            Payload(
                metadata={"encoding": ENCODING, "encryption-key-id": self._key_id.encode()},
                data=self._encrypt(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt payloads we encrypted; pass through any others untouched."""
        out: list[Payload] = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)
                continue
            out.append(Payload.FromString(self._decrypt(p.data)))
        return out

    def _encrypt(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, None)

    def _decrypt(self, data: bytes) -> bytes:
        return self._aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], None)


class MissingKeyError(ValueError):
    """No payload key where one was expected; a new one would orphan existing pathways."""


def load_key(key_b64: str | None, key_file: Path, *, create: bool = False) -> bytes:
    """The configured key, else the key file; with ``create``, a new file (mode 0600).

    Only the process that owns the data (the worker, `sirt dev`) may create a key: a client
    that made its own would start pathways the worker cannot decrypt.
    """
    if key_b64:
        return base64.b64decode(key_b64)
    if key_file.exists():
        return base64.b64decode(key_file.read_text().strip())
    if not create:
        raise MissingKeyError(
            f"no payload key at {key_file}: run this where `sirt dev` runs, or set "
            "SIRT_DATA_DIR (or SIRT_ENCRYPTION_KEY) to what the worker uses"
        )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    # Create with 0600 from the start so the key is never world-readable, even briefly.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode())
    return key


def encrypted_data_converter(key: bytes) -> DataConverter:
    """Pydantic-aware converter with the encryption codec on top."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(key))
