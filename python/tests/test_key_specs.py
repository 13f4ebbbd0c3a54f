"""The key specs and algorithms of issue 17, checked from outside: every
signature Strongroom makes is verified by pyca/cryptography (OpenSSL) with
the public key GetPublicKey returned, every private key GenerateDataKeyPair
returns loads in cryptography and matches its public key, and RSA-OAEP
SHA-1 / P-521 ECDH agree with cryptography's own operations, and ML-KEM
secrets agree with cryptography's encapsulation."""

from __future__ import annotations

import hashlib

import pytest

import strongroom

MSG = b"pay 100 to bob"

# Group orders (SEC 2 / FIPS 186-5).
ORDER = {
    "ECC_NIST_P521": int(
        "01FF" + "FFFFFFFF" * 7 + "FFFFFFFA" + "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
    "ECC_SECG_P256K1": int("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16),
}


def _new(kms, spec: str, usage: str = "SIGN_VERIFY") -> str:
    return kms.create_key(key_spec=spec, key_usage=usage).key_metadata.key_id


def test_new_ecc_specs_verify_with_cryptography(kms) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    for spec, alg, h, digest in [
        ("ECC_NIST_P521", "ECDSA_SHA_512", hashes.SHA512(), hashlib.sha512),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256", hashes.SHA256(), hashlib.sha256),
    ]:
        key = _new(kms, spec)
        md = kms.describe_key(key_id=key).key_metadata
        assert md.signing_algorithms == [alg]
        pub = kms.get_public_key(key_id=key)
        assert pub.key_spec == spec and pub.signing_algorithms == [alg]
        pk = serialization.load_der_public_key(pub.public_key)
        assert isinstance(pk, ec.EllipticCurvePublicKey)
        sig = kms.sign(key_id=key, message=MSG, signing_algorithm=alg).signature
        pk.verify(sig, MSG, ec.ECDSA(h))
        # DIGEST: the caller hashed; the same signature scheme.
        d = digest(MSG).digest()
        sig = kms.sign(key_id=key, message=d, message_type="DIGEST", signing_algorithm=alg).signature
        pk.verify(sig, d, ec.ECDSA(utils.Prehashed(h)))
        # The other S half of the same signature is valid ECDSA (OpenSSL
        # takes it); Strongroom verifies it too, as AWS does.
        r, s_ = utils.decode_dss_signature(sig)
        flipped = utils.encode_dss_signature(r, ORDER[spec] - s_)
        pk.verify(flipped, d, ec.ECDSA(utils.Prehashed(h)))
        assert kms.verify(
            key_id=key, message=d, message_type="DIGEST", signature=flipped, signing_algorithm=alg
        ).signature_valid
        with pytest.raises(strongroom.ValidationException):
            kms.sign(key_id=key, message=b"short", message_type="DIGEST", signing_algorithm=alg)
        with pytest.raises(strongroom.KMSInvalidSignatureException):
            kms.verify(key_id=key, message=b"pay 999 to bob", signature=sig, signing_algorithm=alg)


def test_ed25519_verifies_with_cryptography(kms) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = _new(kms, "ECC_NIST_EDWARDS25519")
    pub = kms.get_public_key(key_id=key)
    assert pub.signing_algorithms == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    pk = serialization.load_der_public_key(pub.public_key)
    assert isinstance(pk, ed25519.Ed25519PublicKey)
    sig = kms.sign(key_id=key, message=MSG, signing_algorithm="ED25519_SHA_512").signature
    assert len(sig) == 64
    pk.verify(sig, MSG)
    assert kms.verify(key_id=key, message=MSG, signature=sig, signing_algorithm="ED25519_SHA_512").signature_valid
    # Ed25519ph takes the SHA-512 digest and only as DIGEST; pure Ed25519 only RAW.
    d = hashlib.sha512(MSG).digest()
    ph = kms.sign(key_id=key, message=d, message_type="DIGEST", signing_algorithm="ED25519_PH_SHA_512").signature
    assert kms.verify(
        key_id=key, message=d, message_type="DIGEST", signature=ph, signing_algorithm="ED25519_PH_SHA_512"
    ).signature_valid
    with pytest.raises(strongroom.ValidationException):
        kms.sign(key_id=key, message=MSG, signing_algorithm="ED25519_PH_SHA_512")
    with pytest.raises(strongroom.ValidationException):
        kms.sign(key_id=key, message=d, message_type="DIGEST", signing_algorithm="ED25519_SHA_512")
    with pytest.raises(strongroom.KMSInvalidSignatureException):
        kms.verify(key_id=key, message=b"other", signature=sig, signing_algorithm="ED25519_SHA_512")


@pytest.mark.parametrize("level", ["44", "65", "87"])
def test_ml_dsa_verifies_with_cryptography(kms, level: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import mldsa

    key = _new(kms, f"ML_DSA_{level}")
    pub = kms.get_public_key(key_id=key)
    assert pub.signing_algorithms == ["ML_DSA_SHAKE_256"]
    pk = serialization.load_der_public_key(pub.public_key)
    assert isinstance(pk, getattr(mldsa, f"MLDSA{level}PublicKey"))
    sig = kms.sign(key_id=key, message=MSG, signing_algorithm="ML_DSA_SHAKE_256").signature
    assert len(sig) == {"44": 2420, "65": 3309, "87": 4627}[level]
    pk.verify(sig, MSG)
    # Hedged: two signatures of one message differ, both verify.
    again = kms.sign(key_id=key, message=MSG, signing_algorithm="ML_DSA_SHAKE_256").signature
    assert again != sig
    pk.verify(again, MSG)
    # EXTERNAL_MU: μ computed outside (FIPS 204: SHAKE256(tr ‖ 0 ‖ 0 ‖ M)).
    tr = hashlib.shake_256(pk.public_bytes_raw()).digest(64)
    mu = hashlib.shake_256(tr + b"\x00\x00" + MSG).digest(64)
    sig = kms.sign(key_id=key, message=mu, message_type="EXTERNAL_MU", signing_algorithm="ML_DSA_SHAKE_256").signature
    pk.verify(sig, MSG)
    assert kms.verify(
        key_id=key, message=MSG, signature=sig, signing_algorithm="ML_DSA_SHAKE_256"
    ).signature_valid
    with pytest.raises(strongroom.ValidationException):
        kms.sign(key_id=key, message=mu[:32], message_type="EXTERNAL_MU", signing_algorithm="ML_DSA_SHAKE_256")
    with pytest.raises(strongroom.ValidationException):
        kms.sign(key_id=key, message=mu, message_type="DIGEST", signing_algorithm="ML_DSA_SHAKE_256")


def test_new_data_key_pairs_load_in_cryptography(kms) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    wrap = kms.create_key().key_metadata.key_id
    for spec, kind in [
        ("ECC_NIST_P521", ec.EllipticCurvePrivateKey),
        ("ECC_SECG_P256K1", ec.EllipticCurvePrivateKey),
        ("ECC_NIST_EDWARDS25519", ed25519.Ed25519PrivateKey),
    ]:
        r = kms.generate_data_key_pair(key_id=wrap, key_pair_spec=spec, encryption_context={"p": spec})
        priv = serialization.load_der_private_key(r.private_key_plaintext, password=None)
        assert isinstance(priv, kind)
        spki = priv.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert spki == r.public_key
        again = kms.decrypt(ciphertext_blob=r.private_key_ciphertext_blob, encryption_context={"p": spec})
        assert again.plaintext == r.private_key_plaintext


@pytest.mark.parametrize("level", ["768", "1024"])
def test_ml_kem_with_cryptography(kms, level: str) -> None:
    """ML-KEM (FIPS 203) against pyca/cryptography (OpenSSL; it has no
    ML-KEM-512): cryptography encapsulates to the public key GetPublicKey
    returns and Strongroom decapsulates the same secret; a data key pair's
    seed-form PKCS#8 loads in cryptography and decapsulates what Strongroom
    can't see."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import mlkem

    key = _new(kms, f"ML_KEM_{level}", "ENCAPSULATE_DECAPSULATE")
    md = kms.describe_key(key_id=key).key_metadata
    assert md.encapsulation_algorithms == ["ML_KEM"] and md.signing_algorithms == []
    pub = kms.get_public_key(key_id=key)
    assert pub.encapsulation_algorithms == ["ML_KEM"]
    pk = serialization.load_der_public_key(pub.public_key)
    assert isinstance(pk, getattr(mlkem, f"MLKEM{level}PublicKey"))
    ss, ct = pk.encapsulate()
    got = kms.decapsulate(key_id=key, shared_secret_ciphertext_blob=ct, encapsulation_algorithm="ML_KEM")
    assert got.shared_secret == ss
    # Strongroom's own encapsulation round-trips.
    e = kms.encapsulate(key_id=key, encapsulation_algorithm="ML_KEM")
    assert len(e.shared_secret_ciphertext_blob) == {"768": 1088, "1024": 1568}[level]
    back = kms.decapsulate(
        key_id=key, shared_secret_ciphertext_blob=e.shared_secret_ciphertext_blob, encapsulation_algorithm="ML_KEM"
    )
    assert back.shared_secret == e.shared_secret
    # Implicit rejection: an altered ciphertext gives another value, no error.
    bad = bytearray(ct)
    bad[7] ^= 1
    other = kms.decapsulate(key_id=key, shared_secret_ciphertext_blob=bytes(bad), encapsulation_algorithm="ML_KEM")
    assert other.shared_secret != ss and len(other.shared_secret) == 32
    with pytest.raises(strongroom.InvalidCiphertextException):
        kms.decapsulate(key_id=key, shared_secret_ciphertext_blob=ct[:-1], encapsulation_algorithm="ML_KEM")
    # A data key pair: seed-form PKCS#8 (what cryptography writes too).
    wrap = kms.create_key().key_metadata.key_id
    r = kms.generate_data_key_pair(key_id=wrap, key_pair_spec=f"ML_KEM_{level}")
    priv = serialization.load_der_private_key(r.private_key_plaintext, password=None)
    assert isinstance(priv, getattr(mlkem, f"MLKEM{level}PrivateKey"))
    assert priv.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) == r.private_key_plaintext
    assert priv.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == r.public_key
    ss2, ct2 = serialization.load_der_public_key(r.public_key).encapsulate()
    assert priv.decapsulate(ct2) == ss2


def test_rsa_oaep_sha1_both_ways_with_cryptography(kms) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = _new(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    md = kms.describe_key(key_id=key).key_metadata
    assert md.encryption_algorithms == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    pk = serialization.load_der_public_key(kms.get_public_key(key_id=key).public_key)
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    ct = pk.encrypt(b"secret", sha1)
    r = kms.decrypt(key_id=key, ciphertext_blob=ct, encryption_algorithm="RSAES_OAEP_SHA_1")
    assert r.plaintext == b"secret" and r.encryption_algorithm == "RSAES_OAEP_SHA_1"
    # The wrong algorithm is an opaque failure; 214 bytes is SHA-1's limit.
    with pytest.raises(strongroom.InvalidCiphertextException):
        kms.decrypt(key_id=key, ciphertext_blob=ct, encryption_algorithm="RSAES_OAEP_SHA_256")
    kms.encrypt(key_id=key, plaintext=b"x" * 214, encryption_algorithm="RSAES_OAEP_SHA_1")
    with pytest.raises(strongroom.ValidationException):
        kms.encrypt(key_id=key, plaintext=b"x" * 215, encryption_algorithm="RSAES_OAEP_SHA_1")
    # ReEncrypt from the RSA key to a symmetric one and back, inside the HSM.
    sym = kms.create_key().key_metadata.key_id
    blob = kms.re_encrypt(
        ciphertext_blob=ct,
        source_key_id=key,
        source_encryption_algorithm="RSAES_OAEP_SHA_1",
        destination_key_id=sym,
        destination_encryption_context={"k": "v"},
    )
    assert blob.source_encryption_algorithm == "RSAES_OAEP_SHA_1"
    assert kms.decrypt(ciphertext_blob=blob.ciphertext_blob, encryption_context={"k": "v"}).plaintext == b"secret"
    back = kms.re_encrypt(
        ciphertext_blob=blob.ciphertext_blob,
        source_encryption_context={"k": "v"},
        destination_key_id=key,
        destination_encryption_algorithm="RSAES_OAEP_SHA_256",
    )
    assert back.destination_encryption_algorithm == "RSAES_OAEP_SHA_256"
    assert kms.decrypt(
        key_id=key, ciphertext_blob=back.ciphertext_blob, encryption_algorithm="RSAES_OAEP_SHA_256"
    ).plaintext == b"secret"


def test_p521_key_agreement_with_cryptography(kms) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = _new(kms, "ECC_NIST_P521", "KEY_AGREEMENT")
    peer = ec.generate_private_key(ec.SECP521R1())
    peer_spki = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ours = kms.derive_shared_secret(key_id=key, key_agreement_algorithm="ECDH", public_key=peer_spki).shared_secret
    theirs = peer.exchange(ec.ECDH(), serialization.load_der_public_key(kms.get_public_key(key_id=key).public_key))
    assert ours == theirs and len(ours) == 66
    # A P-256 peer key is on the wrong curve.
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(strongroom.ValidationException):
        kms.derive_shared_secret(key_id=key, key_agreement_algorithm="ECDH", public_key=other)


def test_sign_only_specs_refuse_other_usages(kms) -> None:
    for spec in ["ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_DSA_44"]:
        with pytest.raises(strongroom.ValidationException):
            kms.create_key(key_spec=spec, key_usage="KEY_AGREEMENT")
    with pytest.raises(strongroom.UnsupportedOperationException):
        kms.create_key(key_spec="SM2", key_usage="SIGN_VERIFY")


def test_repeated_create_grant_returns_the_grant_with_a_new_token(kms) -> None:
    key = kms.create_key().key_metadata.key_id
    args = dict(
        key_id=key,
        grantee_principal="arn:aws:iam::111122223333:user/a",
        operations=["Decrypt"],
        name="n",
    )
    a = kms.create_grant(**args)
    b = kms.create_grant(**args)
    assert a.grant_id == b.grant_id
    assert a.grant_token != b.grant_token
    # Both tokens work.
    for t in (a.grant_token, b.grant_token):
        kms.describe_key(key_id=key, grant_tokens=[t])


def test_nested_structures_take_either_casing(kms) -> None:
    key = kms.create_key().key_metadata.key_id
    principal = "arn:aws:iam::111122223333:user/a"
    for constraints in (
        {"encryption_context_subset": {"tenant": "acme"}},
        {"EncryptionContextSubset": {"tenant": "acme"}},
        strongroom.GrantConstraints(encryption_context_subset={"tenant": "acme"}),
    ):
        g = kms.create_grant(key_id=key, grantee_principal=principal, operations=["Decrypt"], constraints=constraints)
        listed = [x for x in kms.list_grants(key_id=key).grants if x.grant_id == g.grant_id][0]
        # The context's own keys are data: never re-cased.
        assert listed.constraints.encryption_context_subset == {"tenant": "acme"}
    tags = kms.create_key(tags=[{"tag_key": "a", "tag_value": "1"}, {"TagKey": "b", "TagValue": "2"}]).key_metadata
    got = {t.tag_key: t.tag_value for t in kms.list_resource_tags(key_id=tags.key_id).tags}
    assert got == {"a": "1", "b": "2"}
    with pytest.raises(TypeError, match="encryption_context_subset"):
        kms.create_grant(key_id=key, grantee_principal=principal, operations=["Decrypt"], constraints={"subset": {}})
    with pytest.raises(TypeError, match="given twice"):
        kms.create_grant(
            key_id=key,
            grantee_principal=principal,
            operations=["Decrypt"],
            constraints={"encryption_context_subset": {}, "EncryptionContextSubset": {}},
        )
    with pytest.raises(TypeError, match="GrantConstraints or a mapping"):
        kms.create_grant(key_id=key, grantee_principal=principal, operations=["Decrypt"], constraints=["x"])
