"""Sending one message over one channel: SMTP mail or a signed webhook.

A sender raises ``PermanentFailure`` when retrying cannot help (a 5xx SMTP reply, an HTTP 4xx),
and any other exception for a failure worth retrying. It calls ``accepted()`` the moment the
receiver has taken the message (SMTP's reply to the end of DATA, a 2xx), before anything else
(the SMTP QUIT): the delivery loop records that, so a crash after it is not resent.
"""

import contextlib
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiosmtplib
import httpx

from notifications.config import EmailChannel, SmtpConfig, WebhookChannel
from notifications.messages import Message

SIGNATURE_HEADER = "X-SIRT-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# HTTP statuses that are worth another try; any other 4xx will fail the same way again.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


class PermanentFailure(Exception):
    """The receiver refused the message for good: it goes straight to the dead letters."""


Accepted = Callable[[], Awaitable[None]]


class Sender(Protocol):
    """Delivers one message; returns nothing on success."""

    @property
    def secure(self) -> bool:
        """Whether the patient's name may travel over this channel."""
        ...

    async def send(self, message: Message, accepted: Accepted) -> None:
        """Send it, calling ``accepted()`` once the receiver has it; or raise."""
        ...


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class EmailSender:
    """Mail through the configured relay; the Message-ID carries the idempotency key."""

    def __init__(self, smtp: SmtpConfig, channel: EmailChannel) -> None:
        self._smtp = smtp
        self._channel = channel

    @property
    def secure(self) -> bool:
        return self._channel.secure

    def build(self, message: Message) -> EmailMessage:
        """The MIME message for ``message``."""
        mail = EmailMessage()
        mail["From"] = self._smtp.sender
        mail["To"] = ", ".join(self._channel.to)
        mail["Subject"] = message.subject
        mail["Message-ID"] = message.message_id
        mail["Date"] = format_datetime(message.send_at)
        mail["X-SIRT-Idempotency-Key"] = message.key
        mail.set_content(message.text())
        return mail

    async def send(self, message: Message, accepted: Accepted) -> None:
        smtp = self._smtp
        client = aiosmtplib.SMTP(
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password.get_secret_value() if smtp.password else None,
            use_tls=smtp.use_tls,
            start_tls=smtp.start_tls,
            validate_certs=smtp.validate_certs,
            timeout=smtp.timeout_seconds,
        )
        try:
            await client.connect()
            # Returns on the relay's reply to the end of DATA: from then on the mail is sent.
            await client.send_message(self.build(message))
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"SMTP {exc.code}: {exc.message}") from exc
            raise
        except BaseException:
            client.close()
            raise
        try:
            # Recorded before the QUIT round trip: the window in which a crash resends the
            # mail is only the relay's reply and this one database write.
            await accepted()
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
            client.close()


class WebhookSender:
    """POSTs the message as JSON with an Idempotency-Key and an HMAC signature."""

    def __init__(self, channel: WebhookChannel, client: httpx.AsyncClient) -> None:
        self._channel = channel
        self._client = client

    @property
    def secure(self) -> bool:
        return self._channel.secure

    def request_parts(self, message: Message) -> tuple[bytes, dict[str, str]]:
        """The body and headers to POST."""
        body = json.dumps(message.payload(), sort_keys=True, separators=(",", ":")).encode()
        headers = {
            **self._channel.headers,
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: message.key,
        }
        if self._channel.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._channel.secret.get_secret_value(), body)
        return body, headers

    async def send(self, message: Message, accepted: Accepted) -> None:
        body, headers = self.request_parts(message)
        response = await self._client.post(
            self._channel.url,
            content=body,
            headers=headers,
            timeout=self._channel.timeout_seconds,
        )
        status = response.status_code
        if 200 <= status < 300:
            await accepted()
            return
        detail = f"HTTP {status} from webhook"
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise PermanentFailure(detail)
        raise RuntimeError(detail)
