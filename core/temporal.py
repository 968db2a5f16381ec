"""Connecting to Temporal with the encrypting data converter."""

from functools import lru_cache

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from core.codec import encrypted_data_converter, load_keyring
from core.config import Settings


@lru_cache(maxsize=1)
def sdk_runtime(metrics_address: str | None) -> Runtime:
    """The SDK runtime; with an address, it serves its own Prometheus metrics there
    (workflow task latency, poller counts, activity failures...). One per process."""
    if metrics_address is None:
        return Runtime.default()
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_address))
    )


async def connect(settings: Settings, *, create_key: bool = False, lazy: bool = False) -> Client:
    """A client whose payloads are encrypted with the configured key.

    ``create_key`` is for the worker and `sirt dev` only (see core.codec.load_keyring). A ``lazy``
    client dials on its first call (and again on the next, if that failed), so the web app can
    start, and answer 503, while Temporal is down; workers cannot use one.
    """
    keys = load_keyring(
        settings.encryption_key,
        settings.encryption_retired_keys,
        settings.resolved_key_file,
        create=create_key,
    )
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=encrypted_data_converter(keys),
        runtime=sdk_runtime(settings.sdk_metrics_address),
        lazy=lazy,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key,
    )


class TlsSettingError(ValueError):
    """A SIRT_TEMPORAL_TLS_* setting is wrong; the message names it."""


def tls_config(settings: Settings) -> TLSConfig | bool:
    """The client's TLS from SIRT_TEMPORAL_TLS_* (False: plaintext, the local dev server).

    A client certificate needs its key (mTLS); an API key needs TLS, so it turns TLS on.
    """
    files = {
        "SIRT_TEMPORAL_TLS_CA_FILE": settings.temporal_tls_ca_file,
        "SIRT_TEMPORAL_TLS_CERT_FILE": settings.temporal_tls_cert_file,
        "SIRT_TEMPORAL_TLS_KEY_FILE": settings.temporal_tls_key_file,
    }
    wanted = (
        settings.temporal_tls
        or settings.temporal_api_key is not None
        or settings.temporal_tls_server_name is not None
        or any(files.values())
    )
    if not wanted:
        return False
    if (files["SIRT_TEMPORAL_TLS_CERT_FILE"] is None) != (
        files["SIRT_TEMPORAL_TLS_KEY_FILE"] is None
    ):
        raise TlsSettingError(
            "SIRT_TEMPORAL_TLS_CERT_FILE and SIRT_TEMPORAL_TLS_KEY_FILE go together (mTLS)"
        )
    read: dict[str, bytes | None] = {}
    for name, path in files.items():
        if path is None:
            read[name] = None
            continue
        try:
            read[name] = path.read_bytes()
        except OSError as exc:
            raise TlsSettingError(f"{name}: cannot read {path}: {exc.strerror}") from None
    return TLSConfig(
        server_root_ca_cert=read["SIRT_TEMPORAL_TLS_CA_FILE"],
        client_cert=read["SIRT_TEMPORAL_TLS_CERT_FILE"],
        client_private_key=read["SIRT_TEMPORAL_TLS_KEY_FILE"],
        domain=settings.temporal_tls_server_name,
    )


# The pathway's search attributes: everything ops filter on, and nothing identifying.
SEARCH_ATTRIBUTES = {
    "PathwayStage": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "NextDueAt": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "Overdue": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Centre": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register any missing search attribute on the namespace; returns those added."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as exc:
        # The time-skipping test server cannot list them; adding is still safe there.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in existing}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
    return sorted(missing)
