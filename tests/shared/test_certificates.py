"""Certificates for `silkgate up` and the tests: made once, kept, private keys owner-only."""

from __future__ import annotations

import stat

from cryptography import x509

from shared.ceb.signing import SigningIdentity
from shared.certificates import certificate_fingerprint, ensure_pair


def test_a_pair_is_made_once_and_then_kept(tmp_path):
    pair = ensure_pair(tmp_path / "certs", "customs")
    assert (pair.key_file.name, pair.cert_file.name) == ("customs.key", "customs.crt")
    assert stat.S_IMODE(pair.key_file.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(pair.cert_file.read_bytes())
    assert "silkgate customs" in cert.subject.rfc4514_string()
    SigningIdentity.from_files(pair.key_file, pair.cert_file)  # the key belongs to the certificate
    before = certificate_fingerprint(pair.cert_file.read_bytes())
    again = ensure_pair(tmp_path / "certs", "customs")
    assert certificate_fingerprint(again.cert_file.read_bytes()) == before


def test_a_missing_half_makes_a_new_pair(tmp_path):
    pair = ensure_pair(tmp_path, "authority")
    before = certificate_fingerprint(pair.cert_file.read_bytes())
    pair.key_file.unlink()
    ensure_pair(tmp_path, "authority")
    assert certificate_fingerprint(pair.cert_file.read_bytes()) != before
    SigningIdentity.from_files(pair.key_file, pair.cert_file)
