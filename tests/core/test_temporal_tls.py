"""SIRT_TEMPORAL_TLS_* and SIRT_TEMPORAL_API_KEY: what a client on a real cluster connects with."""

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from core.config import Settings
from core.temporal import TlsSettingError, tls_config


def test_the_local_dev_server_is_plaintext() -> None:
    assert tls_config(Settings()) is False


def test_mtls_reads_the_ca_certificate_and_key(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_bytes(f"-----{name}-----".encode())
    settings = Settings(
        temporal_tls_ca_file=tmp_path / "ca.pem",
        temporal_tls_cert_file=tmp_path / "client.pem",
        temporal_tls_key_file=tmp_path / "client.key",
        temporal_tls_server_name="temporal.internal",
    )
    tls = tls_config(settings)
    assert isinstance(tls, TLSConfig)
    assert (tls.server_root_ca_cert, tls.client_cert, tls.client_private_key, tls.domain) == (
        b"-----ca.pem-----",
        b"-----client.pem-----",
        b"-----client.key-----",
        "temporal.internal",
    )


def test_an_api_key_turns_tls_on_with_the_system_roots() -> None:
    tls = tls_config(Settings(temporal_api_key="key"))
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert is None and tls.client_cert is None


def test_a_certificate_without_its_key_or_a_missing_file_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_text("x")
    with pytest.raises(TlsSettingError, match="SIRT_TEMPORAL_TLS_CERT_FILE and"):
        tls_config(Settings(temporal_tls_cert_file=tmp_path / "client.pem"))
    with pytest.raises(TlsSettingError, match="SIRT_TEMPORAL_TLS_CA_FILE: cannot read"):
        tls_config(Settings(temporal_tls_ca_file=tmp_path / "missing.pem"))
