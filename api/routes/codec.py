"""Temporal's remote codec protocol, for the Web UI: `/codec/decode` and `/codec/encode`.

The UI (reached through the app's `/temporal/` proxy, so on the app's own origin) posts
`{"payloads": [{"metadata": {k: base64}, "data": base64}]}` with the browser's credentials and
shows what comes back. Decoding is for ops and admin; ops get payloads with identity and free
text withheld. Encoding (what the UI sends with a signal or an Update) is admin-only. Every
call is an audit row. A payload the codec refuses (a plain one) is returned as it came.
"""

import base64
import json
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from temporalio.api.common.v1 import Payload

from api import audit
from api.accounts import Principal
from api.audit import Outcome
from api.deps import CtxDep, require
from core.codec import REFUSED, EncryptionCodec
from core.redact import WITHHELD, withhold
from models.vocab import Role

router = APIRouter(prefix="/codec", tags=["engine"])


class CodecPayload(BaseModel):
    """A Temporal payload in protobuf JSON form (bytes as base64)."""

    metadata: dict[str, str] = Field(default_factory=dict, max_length=32)
    data: str = Field(default="", max_length=4_000_000)


class CodecBody(BaseModel):
    """The remote codec protocol's request and response."""

    payloads: list[CodecPayload] = Field(max_length=1000)


def _to_proto(p: CodecPayload) -> Payload:
    try:
        return Payload(
            metadata={k: base64.b64decode(v, validate=True) for k, v in p.metadata.items()},
            data=base64.b64decode(p.data, validate=True),
        )
    except ValueError:
        raise HTTPException(422, "payloads: metadata values and data must be base64") from None


def _from_proto(p: Payload) -> CodecPayload:
    return CodecPayload(
        metadata={k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        data=base64.b64encode(p.data).decode(),
    )


def _for_ops(p: Payload) -> Payload:
    """A decoded payload as ops may see it: JSON with identity and free text withheld;
    anything that is not JSON is withheld whole."""
    if p.metadata.get("encoding") != b"json/plain":
        return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(WITHHELD).encode())
    try:
        value = json.loads(p.data)
    except ValueError:
        value = WITHHELD
    return Payload(metadata=dict(p.metadata), data=json.dumps(withhold(value)).encode())


def _codec(ctx: CtxDep) -> EncryptionCodec:
    codec = ctx.temporal().data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        raise HTTPException(503, "the payload codec is not configured")
    return codec


@router.post("/decode", response_model=CodecBody)
async def decode(
    body: CodecBody,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("engine:decode", csrf=False))],
) -> CodecBody:
    """Decrypt payloads for the Temporal Web UI (ops: identity and free text withheld)."""
    originals = [_to_proto(p) for p in body.payloads]
    decoded = await _codec(ctx).decode(originals)
    shown = [
        original if d.metadata.get("encoding") == REFUSED else d
        for original, d in zip(originals, decoded, strict=True)
    ]
    if who.role != Role.ADMIN:
        shown = [_for_ops(p) for p in shown]
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "engine:decode",
        Outcome.OK,
        detail=f"{len(shown)} payloads",
    )
    return CodecBody(payloads=[_from_proto(p) for p in shown])


@router.post("/encode", response_model=CodecBody)
async def encode(
    body: CodecBody,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("engine:encode", csrf=False))],
) -> CodecBody:
    """Encrypt payloads the Temporal Web UI is about to send (an admin's write)."""
    encoded = await _codec(ctx).encode([_to_proto(p) for p in body.payloads])
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "engine:encode",
        Outcome.OK,
        detail=f"{len(encoded)} payloads",
    )
    return CodecBody(payloads=[_from_proto(p) for p in encoded])
