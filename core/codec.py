"""AES-GCM payload encryption, so patient data in Temporal history is unreadable at rest.

The codec is strict: a payload that is not encrypted under a key id we know (a plain JSON
payload from `temporal workflow update execute`, the Web UI, or a client without the key) is
never decoded into a value. It becomes a *refusal marker* instead, which the payload
converter turns into an error when something tries to read it. Raising in the codec itself
would be worse: the worker decodes a whole activation before the workflow sees it, and a codec
error there fails the workflow task (or, non-retryable, the whole pathway). With the marker,
an Update carrying a refused payload is rejected before its validator runs and the pathway is
unchanged.

Two kinds of refusal, because they mean different things where they are read:
- a plain payload is a side door: a non-retryable ``ApplicationError`` (an Update is rejected
  with a readable reason; a workflow started that way fails at once and never projects);
- a payload under a key id we do not know (or that does not decrypt) is most likely a worker
  missing a retired key: a ``RuntimeError``, so replaying a pathway's history fails only the
  workflow task, which retries until the key is configured, instead of failing the pathway.
  An Update carrying one is still rejected (any error before its validator is a rejection).
"""

import base64
import dataclasses
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverter,
    EncodingPayloadConverter,
    PayloadCodec,
    PayloadConverter,
)
from temporalio.exceptions import ApplicationError

ENCODING = b"binary/encrypted-aes256gcm"
KEY_ID = "encryption-key-id"
# What a refused payload decodes to; never written to Temporal by us.
REFUSED = b"binary/sirt-refused"
REFUSED_TYPE = "UnencryptedPayload"
_REFUSAL_KIND = "refusal-kind"
# The id of a key given without one (the only id before rotation existed).
LEGACY_KEY_ID = "default"
_NONCE_BYTES = 12


class KeyConfigError(ValueError):
    """The payload keys are configured wrongly (the message names the setting's problem)."""


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """Payload keys by id: ``current`` encrypts, every key decrypts what was written under it."""

    current: str
    keys: dict[str, bytes]

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyConfigError(f"the current key id {self.current!r} is not in the key ring")
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise KeyConfigError(f"payload key {key_id!r} must be 32 bytes (AES-256)")
            if not key_id or any(c in key_id for c in ":,\n ") or len(key_id) > 64:
                raise KeyConfigError(f"bad payload key id {key_id!r} (no ':', ',' or spaces)")

    @classmethod
    def single(cls, key: bytes, key_id: str = LEGACY_KEY_ID) -> "KeyRing":
        """A ring of one key."""
        return cls(current=key_id, keys={key_id: key})

    @classmethod
    def parse(cls, current: str, retired: Iterable[str] = ()) -> "KeyRing":
        """From ``id:base64`` entries (a bare base64 key has the legacy id ``default``)."""
        current_id, current_key = parse_entry(current)
        keys = dict(parse_entry(e) for e in retired)
        if current_id in keys and keys[current_id] != current_key:
            raise KeyConfigError(f"payload key id {current_id!r} is given twice with two keys")
        keys[current_id] = current_key
        return cls(current=current_id, keys=keys)

    def rotated(self) -> "KeyRing":
        """This ring plus a new current key; the old keys stay to decrypt old history."""
        key = AESGCM.generate_key(bit_length=256)
        return KeyRing(current=fingerprint_id(key), keys={**self.keys, fingerprint_id(key): key})

    def ids(self) -> list[str]:
        """The key ids, the current one first."""
        return [self.current, *(k for k in self.keys if k != self.current)]

    def entries(self) -> list[str]:
        """``id:base64`` lines, the current key first (the key file's format)."""
        return [f"{k}:{base64.b64encode(self.keys[k]).decode()}" for k in self.ids()]


def fingerprint_id(key: bytes) -> str:
    """An id for a new key, derived from it so two different keys never share an id."""
    return "k-" + hashlib.sha256(b"sirt-key-id:" + key).hexdigest()[:12]


def parse_entry(entry: str) -> tuple[str, bytes]:
    """``id:base64`` (or bare base64, the legacy id) as (id, key)."""
    entry = entry.strip()
    key_id, sep, b64 = entry.rpartition(":")
    if not sep:
        key_id, b64 = LEGACY_KEY_ID, entry
    try:
        key = base64.b64decode(b64, validate=True)
    except ValueError:
        raise KeyConfigError(f"payload key {key_id!r} is not valid base64") from None
    return key_id, key


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload whole (metadata included) with AES-256-GCM under the current key;
    decrypts under whichever known key a payload names, and refuses everything else."""

    def __init__(self, keys: KeyRing | bytes) -> None:
        self._ring = keys if isinstance(keys, KeyRing) else KeyRing.single(keys)
        self._aeads = {k: AESGCM(v) for k, v in self._ring.keys.items()}

    @property
    def key_ids(self) -> list[str]:
        """The ids this codec can decrypt, the current one first."""
        return self._ring.ids()

    def derived_secret(self, purpose: str) -> bytes:
        """A secret for ``purpose`` (e.g. keyed ids) derived from the current payload key, so
        every process that can read payloads agrees on it and no other secret needs
        distributing. Rotating the key changes it (see docs/decisions.md)."""
        key = self._ring.keys[self._ring.current]
        return hmac.new(key, b"sirt-derived-secret:" + purpose.encode(), "sha256").digest()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload into an opaque one tagged with our encoding and key id."""
        current = self._ring.current
        return [
            Payload(
                metadata={"encoding": ENCODING, KEY_ID: current.encode()},
                data=self._encrypt(self._aeads[current], p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt payloads encrypted under a known key; any other becomes a refusal."""
        return [self._decode_one(p) for p in payloads]

    def _decode_one(self, p: Payload) -> Payload:
        if p.metadata.get("encoding") != ENCODING:
            return refusal("it is not encrypted (a plain payload from outside the app)", plain=True)
        key_id = p.metadata.get(KEY_ID, b"").decode(errors="replace")
        aead = self._aeads.get(key_id)
        if aead is None:
            return refusal(f"it is encrypted under an unknown key id {key_id!r}")
        try:
            plain = aead.decrypt(p.data[:_NONCE_BYTES], p.data[_NONCE_BYTES:], None)
        except InvalidTag:
            return refusal(f"it does not decrypt under key {key_id!r} (altered or wrong key)")
        return Payload.FromString(plain)

    @staticmethod
    def _encrypt(aead: AESGCM, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + aead.encrypt(nonce, data, None)


def refusal(why: str, *, plain: bool = False) -> Payload:
    """The marker a refused payload decodes to (the reason says nothing about its content)."""
    kind = b"plain" if plain else b"key"
    return Payload(metadata={"encoding": REFUSED, _REFUSAL_KIND: kind}, data=why.encode())


class UnknownKeyError(RuntimeError):
    """A payload under a key this process does not have: retryable where it is replayed."""


def refused_error(why: str) -> ApplicationError:
    """The error a refused payload raises wherever it is read: non-retryable, so an Update
    is rejected (the pathway unchanged) and nothing retries it."""
    return ApplicationError(
        f"payload refused: {why}; only the SIRT app and CLI may send data to a pathway",
        type=REFUSED_TYPE,
        non_retryable=True,
    )


class _RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads a refusal marker by raising; never writes anything."""

    @property
    def encoding(self) -> str:
        return REFUSED.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        why = payload.data.decode(errors="replace")
        if payload.metadata.get(_REFUSAL_KIND) == b"plain":
            raise refused_error(why)
        raise UnknownKeyError(
            f"payload refused: {why}; set SIRT_ENCRYPTION_RETIRED_KEYS to every key still "
            "in use (see `sirt keys list`)"
        )


class StrictPayloadConverter(PydanticPayloadConverter):
    """The pydantic converter plus one that turns refusal markers into errors. Nullary, as the
    SDK requires (it rebuilds converters per serialization context)."""

    def __init__(self) -> None:
        super().__init__()
        self._set_converters(_RefusedPayloadConverter(), *self.converters.values())


class SealedFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces go into the encoded (encrypted) attributes, since an
    error can quote data (a SQL error its parameters, a rule the value it refused).

    A payload refusal stays readable: its message quotes nothing, and the side-door caller,
    who cannot decrypt, should learn why it was refused.
    """

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)
        self._plain = DefaultFailureConverter()

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        if isinstance(exception, ApplicationError) and exception.type == REFUSED_TYPE:
            self._plain.to_failure(exception, payload_converter, failure)
            return
        super().to_failure(exception, payload_converter, failure)


class MissingKeyError(KeyConfigError):
    """No payload key where one was expected; a new one would orphan existing pathways."""


def load_keyring(
    current: str | None,
    retired: str | None,
    key_file: Path,
    *,
    create: bool = False,
) -> KeyRing:
    """The configured keys (``current`` plus comma-separated ``retired``), else the key file;
    with ``create``, a new key file (mode 0600).

    Only the process that owns the data (the worker, `sirt dev`) may create a key: a client
    that made its own would start pathways the worker cannot decrypt.
    """
    retired_entries = [e for e in (retired or "").split(",") if e.strip()]
    if current:
        return KeyRing.parse(current, retired_entries)
    if key_file.exists():
        ring = read_key_file(key_file)
        if retired_entries:
            extra = KeyRing.parse(ring.entries()[0], retired_entries)
            ring = KeyRing(current=ring.current, keys={**extra.keys, **ring.keys})
        return ring
    if not create:
        raise MissingKeyError(
            f"no payload key at {key_file}: run this where `sirt dev` runs, or set "
            "SIRT_DATA_DIR (or SIRT_ENCRYPTION_KEY) to what the worker uses"
        )
    ring = KeyRing.single(AESGCM.generate_key(bit_length=256))
    write_key_file(key_file, ring, exclusive=True)
    return ring


def read_key_file(key_file: Path) -> KeyRing:
    """A key file: ``id:base64`` lines, the current key first (one bare base64 line is a
    file written before rotation existed: the key with the legacy id)."""
    lines = [ln for ln in key_file.read_text().splitlines() if ln.strip()]
    if not lines:
        raise MissingKeyError(f"the payload key file {key_file} is empty")
    return KeyRing.parse(lines[0], lines[1:])


def write_key_file(key_file: Path, ring: KeyRing, *, exclusive: bool = False) -> None:
    """Write the ring with mode 0600 from the start (never world-readable, even briefly);
    a rewrite goes through a temporary file and a rename, so a crash leaves the old file."""
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = key_file if exclusive else key_file.with_name(key_file.name + ".new")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL if exclusive else os.O_WRONLY | os.O_CREAT
    fd = os.open(target, flags | (0 if exclusive else os.O_TRUNC), 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(ring.entries()) + "\n")
    if not exclusive:
        os.replace(target, key_file)


def encrypted_data_converter(keys: KeyRing | bytes) -> DataConverter:
    """Pydantic-aware converter with the strict encryption codec and sealed failures."""
    return DataConverter(
        payload_converter_class=StrictPayloadConverter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=SealedFailureConverter,
    )
