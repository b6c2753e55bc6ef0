"""TLS between the services and nats-server: a real server with a certificate made here by `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.bus import Bus
from shared.natsauth import NatsClientAuth, TlsFiles, client_auth_from_settings
from shared.natsserver import NatsServer
from shared.settings import ServiceSettings


class OrdersLike(ServiceSettings):
    SERVICE: str = "orders"


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, and a server certificate it signs for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "silkgate test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nats")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / "ca.crt", "cert": directory / "server.crt", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_key(key, paths["key"])
    return paths


@pytest.fixture
def tls_server(tmp_path):
    paths = make_certificates(tmp_path)
    server = NatsServer(auth=True, tls=TlsFiles(cert_file=str(paths["cert"]), key_file=str(paths["key"])))
    server.start()
    yield server, paths
    server.cleanup()


async def test_a_service_connects_over_tls_with_its_user_and_the_configured_ca(tls_server):
    server, paths = tls_server
    settings = OrdersLike(nats_url=server.address, nats_user="orders",
                          nats_password_file=str(server.credentials.password_file("orders")),
                          nats_tls_ca_file=str(paths["ca"]))
    auth = client_auth_from_settings(settings)
    assert server.address.startswith("tls://")
    bus = Bus(server.address, connect_options=auth.connect_options(), managed_services=("orders",))
    await bus.connect(retry=False)
    try:
        ack = await bus.js.publish("silkgate.orders.order.accepted.v1", b"{}")
        assert ack.stream == "SILKGATE_ORDERS"
    finally:
        await bus.close()


async def test_a_client_that_does_not_trust_the_ca_or_skips_tls_is_refused(tls_server, tmp_path):
    server, _ = tls_server
    password = server.credentials.password("orders")
    other = tmp_path / "other"
    other.mkdir()
    untrusting = NatsClientAuth(user="orders", password=password, tls_ca_file=str(make_certificates(other)["ca"]))
    with pytest.raises(Exception):  # noqa: B017 - the server's certificate is not signed by the CA the client trusts
        await nats.connect(server.address, allow_reconnect=False, max_reconnect_attempts=0,
                           **untrusting.connect_options())
    with pytest.raises(Exception):  # noqa: B017 - nats-server requires TLS: a plain connection fails
        await nats.connect(server.address.replace("tls://", "nats://"), user="orders", password=password,
                           allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)


def test_operator_tools_connect_as_admin_to_an_embedded_server_with_users(tmp_path):
    from shared.natsauth import NatsCredentialStore, operator_connect_options

    assert operator_connect_options(tmp_path) == {}  # no users made here: an open server
    NatsCredentialStore(tmp_path / "nats").ensure()
    options = operator_connect_options(tmp_path)
    assert options["user"] == "admin" and options["password"] == (tmp_path / "nats" / "admin.password").read_text()
