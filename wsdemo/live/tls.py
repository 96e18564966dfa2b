"""The lab's own certificate authority, for ``serve(tls=True)``: wss:// and https:// with TLS
terminated at the tap, as a load balancer does in front of real deployments.

A fresh CA (``trustme``, on ``cryptography``) is made for each server; its key stays in this
process's memory. What clients need to trust it goes into a temporary directory the server
owns and removes on stop: ``ca_file`` (the CA's certificate, PEM). The server's certificate
names 127.0.0.1, localhost, and the bound and join hosts when known.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import ssl
import tempfile
from pathlib import Path


def _names(hosts) -> list[str]:
    names = ["127.0.0.1", "localhost"]
    for host in hosts:
        if host and host not in ("0.0.0.0", "::", "") and host not in names:
            names.append(host)
    return names


class LabCA:
    """A CA and one server certificate for ``hosts`` (plus 127.0.0.1 and localhost)."""

    def __init__(self, hosts=()):
        import trustme  # only a TLS server needs it

        self.names = _names(hosts)
        self._ca = trustme.CA(organization_name="wsdemo live lab")
        self._cert = self._ca.issue_cert(*self.names)
        self._dir = tempfile.mkdtemp(prefix="wsdemo-tls-")
        self.ca_file = str(Path(self._dir) / "wsdemo-ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)

    def server_context(self) -> ssl.SSLContext:
        """What the tap terminates TLS with (TLS 1.2 or newer)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only (and checks the host name)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx

    def spki_sha256(self) -> str:
        """base64 SHA-256 of the server certificate's public key (SubjectPublicKeyInfo), as
        Chromium's --ignore-certificate-errors-spki-list wants it."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate(self._cert.cert_chain_pems[0].bytes())
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

