"""Settings for reaching Temporal: production refuses to start without mutual TLS, naming the
variable; the embedded stack needs none; connect_temporal hands the files to the SDK as read."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

import gateway.temporal
from gateway.settings import Settings

TLS_VARIABLES = ("temporal_tls_ca", "temporal_tls_cert", "temporal_tls_key")


def tls_files(tmp_path) -> dict:
    for name, text in (("ca.pem", "CA"), ("client.pem", "CERT"), ("client.key", "KEY")):
        (tmp_path / name).write_text(text)
    return {
        "temporal_tls_ca": tmp_path / "ca.pem",
        "temporal_tls_cert": tmp_path / "client.pem",
        "temporal_tls_key": tmp_path / "client.key",
    }


def production(tmp_path, **overrides) -> Settings:
    values = {
        "environment": "production",
        "data_dir": tmp_path,
        "data_key": Fernet.generate_key().decode(),
        "database_url": "sqlite://",
        **tls_files(tmp_path),
        **overrides,
    }
    return Settings(**values)


@pytest.mark.parametrize("missing", TLS_VARIABLES)
def test_production_refuses_to_start_without_each_tls_setting_and_names_it(tmp_path, missing):
    with pytest.raises(ValueError, match=f"ONEVISIT_{missing.upper()} must be set in production"):
        production(tmp_path, **{missing: None})


@pytest.mark.parametrize("missing", TLS_VARIABLES)
def test_an_empty_variable_counts_as_unset_not_as_the_working_directory(tmp_path, monkeypatch, missing):
    monkeypatch.setenv(f"ONEVISIT_{missing.upper()}", "")
    assert getattr(Settings(), missing) is None
    values = {k: v for k, v in tls_files(tmp_path).items() if k != missing}
    with pytest.raises(ValueError, match=f"ONEVISIT_{missing.upper()}"):
        Settings(
            environment="production",
            data_dir=tmp_path,
            data_key=Fernet.generate_key().decode(),
            database_url="sqlite://",
            **values,
        )


def test_the_embedded_stack_needs_no_tls():
    settings = Settings(environment="embedded")
    assert settings.temporal_tls_ca is None and settings.temporal_tls() is False


@pytest.mark.parametrize("alone", ["temporal_tls_cert", "temporal_tls_key"])
def test_a_client_certificate_without_its_key_or_the_other_way_round_is_refused(tmp_path, alone):
    with pytest.raises(ValueError, match="ONEVISIT_TEMPORAL_TLS_CERT and ONEVISIT_TEMPORAL_TLS_KEY go together"):
        Settings(**{alone: tls_files(tmp_path)[alone]})


def test_tls_config_carries_the_files_and_the_server_name(tmp_path):
    tls = production(tmp_path, temporal_tls_server_name="temporal").temporal_tls()
    assert (tls.server_root_ca_cert, tls.client_cert, tls.client_private_key) == (b"CA", b"CERT", b"KEY")
    assert tls.domain == "temporal"
    assert production(tmp_path).temporal_tls().domain is None  # then the address's host is checked


class FakeClient:
    """Stands in for temporalio's Client.connect and records what it was given."""

    calls: list[dict] = []

    @classmethod
    async def connect(cls, address, **kwargs):
        cls.calls.append({"address": address, **kwargs})
        return cls()


async def test_connect_temporal_passes_the_tls_config(tmp_path, monkeypatch):
    monkeypatch.setattr(gateway.temporal, "Client", FakeClient)
    FakeClient.calls = []
    await gateway.temporal.connect_temporal(
        production(tmp_path, temporal_address="temporal:7233", temporal_tls_server_name="temporal")
    )
    [call] = FakeClient.calls
    assert call["address"] == "temporal:7233"
    assert call["tls"].client_cert == b"CERT" and call["tls"].domain == "temporal"
    FakeClient.calls = []
    await gateway.temporal.connect_temporal(Settings(environment="embedded", data_dir=tmp_path))
    assert FakeClient.calls[0]["tls"] is False


async def test_an_unreadable_certificate_fails_at_once_naming_its_variable(tmp_path, monkeypatch):
    monkeypatch.setattr(gateway.temporal, "Client", FakeClient)
    FakeClient.calls = []
    settings = production(tmp_path, temporal_tls_key=tmp_path / "absent.key")
    with pytest.raises(ValueError, match=r"ONEVISIT_TEMPORAL_TLS_KEY=.*absent\.key: cannot read it"):
        await gateway.temporal.connect_temporal(settings)
    assert FakeClient.calls == []  # not retried as if Temporal were still starting


def test_a_production_process_without_a_store_url_starts_but_cannot_open_the_store(tmp_path):
    worker = production(tmp_path, database_url=None)  # an agency worker: it never opens the store
    with pytest.raises(ValueError, match="ONEVISIT_DATABASE_URL must be set in production"):
        worker.db_url  # noqa: B018 - the gateway and the engine read it, and fail here


def test_agency_services_come_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("ONEVISIT_AGENCY_SERVICES", '{"tax": "http://10.0.0.5:8101"}')
    assert Settings().agency_services == {"tax": "http://10.0.0.5:8101"}


@pytest.mark.parametrize(
    "services,message",
    [
        ('{"taxes": "http://10.0.0.5:8101"}', "names 'taxes', not an agency"),
        ('{"tax": "file:///etc/passwd"}', r"ONEVISIT_AGENCY_SERVICES\[tax\] must be an http\(s\) URL"),
    ],
)
def test_agency_services_name_known_agencies_at_http_urls(monkeypatch, services, message):
    monkeypatch.setenv("ONEVISIT_AGENCY_SERVICES", services)
    with pytest.raises(ValueError, match=message):
        Settings()
