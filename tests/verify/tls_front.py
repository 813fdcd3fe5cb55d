"""A local stand-in for the load balancer's two listeners, so a scanner measures TLS behaviour
(and for AWS's own HTTPS endpoints, in front of the emulator).

- A certificate authority made for the test (the `cryptography` package), and a server
  certificate it signs for 127.0.0.1 and localhost; a client trusts the CA's PEM file (node:
  `NODE_EXTRA_CA_CERTS`).
- An HTTPS listener and a plain HTTP listener in front of one gunicorn, each forwarding every
  request with `X-Forwarded-For` and `X-Forwarded-Proto` as the ALB does (the API trusts one
  hop). The ALB listens on 443 and 80 of one name, so a `Host` without a port means either;
  here they are two ports, so the plain listener names the TLS port in `Host`, and the API's
  redirect to `https://` lands on the TLS listener exactly as it lands on 443 in AWS.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import http.server
import ipaddress
import ssl
import threading
from pathlib import Path

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


def make_ca_and_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) as PEM files in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SoundBite test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _handler(upstream_port: int, proto: str, host_port: int | None):
    class Forward(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Forwarded-For"] = self.client_address[0]
            headers["X-Forwarded-Proto"] = proto
            if host_port is not None:
                headers["Host"] = f"{self.headers.get('Host', '127.0.0.1').rsplit(':', 1)[0]}:{host_port}"
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = _forward

        def log_message(self, *args) -> None:
            pass

    return Forward


class TlsFront:
    """HTTPS and HTTP listeners on loopback in front of the gunicorn on `upstream_port`."""

    def __init__(self, upstream_port: int, certificates: tuple[Path, Path, Path]) -> None:
        self.ca, cert, key = certificates
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        self.https = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), _handler(upstream_port, "https", None))
        self.https.socket = context.wrap_socket(self.https.socket, server_side=True)
        self.https_port = self.https.server_address[1]
        self.http = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), _handler(upstream_port, "http", self.https_port))
        self.http_port = self.http.server_address[1]
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True)
                         for s in (self.https, self.http)]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        for server in (self.https, self.http):
            with contextlib.suppress(Exception):
                server.shutdown()
                server.server_close()
