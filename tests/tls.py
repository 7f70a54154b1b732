"""Certificates for TLS tests: a private CA issues server and client certificates, written as PEM files.

EC keys (P-256) instead of RSA: each takes a millisecond to make, and redis-server and Python's
ssl module accept them alike. The key identifiers and usages are there because Python 3.13 verifies
strictly (``VERIFY_X509_STRICT``) and refuses certificates without them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The names a loopback server answers to, and that its certificate lists.
LOOPBACK = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Credential:
    """A certificate and its private key, as files."""

    cert: Path
    key: Path


class CertificateAuthority:
    """A self-signed CA whose certificate (``ca_file``) clients and servers trust."""

    def __init__(self, directory: Path, name: str = "channels_fanout test CA") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = (
            _builder(self._name, self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.crt"
        self.ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, hosts: tuple[str, ...] = LOOPBACK, passphrase: bytes | None = None) -> Credential:
        """A certificate for ``hosts`` (server and client use), its key encrypted with ``passphrase`` if given."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        alternative_names = [_general_name(host) for host in hosts]
        certificate = (
            _builder(subject, self._name, key.public_key())
            .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        credential = Credential(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        credential.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        credential.key.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        )
        return credential


@dataclass(frozen=True)
class ServerTLS:
    """What a TLS redis-server is started with, and what a client of it needs; ``authority`` issues more."""

    authority: CertificateAuthority
    server: Credential
    client: Credential
    require_client_certificates: bool = False

    @property
    def ca_file(self) -> Path:
        return self.authority.ca_file

    @classmethod
    def make(cls, directory: Path, require_client_certificates: bool = False) -> ServerTLS:
        ca = CertificateAuthority(directory)
        return cls(ca, ca.issue("server"), ca.issue("client"), require_client_certificates)

    def server_args(self) -> list[str]:
        """redis-server options for a TLS port (the plain port is turned off by the caller)."""
        return [
            "--tls-cert-file", str(self.server.cert),
            "--tls-key-file", str(self.server.key),
            "--tls-ca-cert-file", str(self.ca_file),
            "--tls-auth-clients", "yes" if self.require_client_certificates else "no",
        ]  # fmt: skip

    def client_kwargs(self) -> dict[str, str]:
        """redis-py arguments of a client that trusts the CA and presents the client certificate."""
        return {
            "ssl_ca_certs": str(self.ca_file),
            "ssl_certfile": str(self.client.cert),
            "ssl_keyfile": str(self.client.key),
        }


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
