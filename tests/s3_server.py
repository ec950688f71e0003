"""A real S3 server for tests: moto's server, from its own venv (``make moto``), on a free
port of 127.0.0.1, plain HTTP or TLS with a certificate made for the test run."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from minio import Minio

MOTO_SERVER = Path(__file__).resolve().parents[1] / ".venv-moto" / "bin" / "moto_server"


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port
    secure: bool
    ca_bundle: Path | None
    log_path: Path
    access_key: str = "headrace-test"
    secret_key: str = "headrace-test-secret"
    region: str = "us-east-1"
    bucket: str = "headrace-artifacts"

    def client(self) -> Minio:
        """A plain client for checking what the code under test stored."""
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.secure,
            region=self.region,
            http_client=_pool(self.ca_bundle) if self.ca_bundle else None,
        )


def _pool(ca_bundle: Path) -> object:
    import urllib3

    return urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(ca_bundle))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "headrace test S3")])
    now = dt.datetime.now(dt.UTC)
    localhost = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(localhost, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "s3-cert.pem", folder / "s3-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start_s3_server(folder: Path, *, tls: bool) -> tuple[subprocess.Popen[bytes], S3Server]:
    """Start moto_server and create the test bucket; stop it with :func:`stop_s3_server`."""
    if not MOTO_SERVER.exists():
        raise RuntimeError(f"{MOTO_SERVER} is missing: run `make moto` first")
    port = _free_port()
    command = [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)]
    ca_bundle = None
    if tls:
        ca_bundle, key_path = _self_signed_certificate(folder)
        command += ["-c", str(ca_bundle), "-k", str(key_path)]
    log_path = folder / f"moto-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = S3Server(f"127.0.0.1:{port}", tls, ca_bundle, log_path)
    client = server.client()
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited early:\n{log_path.read_text()}")
        try:
            client.make_bucket(bucket_name=server.bucket)
            return process, server
        except Exception:
            if time.monotonic() > deadline:
                stop_s3_server(process)
                raise
            time.sleep(0.1)


def stop_s3_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _running_s3_server(folder: Path, *, tls: bool) -> Iterator[S3Server]:
    process, server = start_s3_server(folder, tls=tls)
    try:
        yield server
    finally:
        stop_s3_server(process)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3 server over plain HTTP with an empty bucket ``server.bucket``."""
    yield from _running_s3_server(tmp_path_factory.mktemp("s3"), tls=False)


@pytest.fixture(scope="session")
def s3_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3 server over TLS; ``server.ca_bundle`` verifies its certificate."""
    yield from _running_s3_server(tmp_path_factory.mktemp("s3-tls"), tls=True)
