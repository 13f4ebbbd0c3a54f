"""Keyrings from the core's KeyringSpec table: raw AES of every size, raw
RSA, multi-keyrings, and the canonical ESDK manifest decrypted through the
Python package."""

import base64
import json
import os
import pathlib

import pytest

import strongroom

REPO = pathlib.Path(__file__).resolve().parents[2]
KEYS = json.loads((REPO / "tests/vectors/esdk/manifest/0002-keys.v3.json").read_text())["keys"]
PUBLIC = KEYS["rsa-4096-public"]["material"].encode()
PRIVATE = KEYS["rsa-4096-private"]["material"].encode()
PADDINGS = ["PKCS1", "OAEP_SHA1_MGF1", "OAEP_SHA256_MGF1", "OAEP_SHA384_MGF1", "OAEP_SHA512_MGF1"]


def aes(size: int, name: str = "k") -> dict:
    return {"type": "RawAes", "keyNamespace": "ns", "keyName": name, "wrappingKey": bytes(range(size))}


def rsa(padding: str, public: bool = True, private: bool = True) -> dict:
    spec: dict = {"type": "RawRsa", "keyNamespace": "ns", "keyName": "rsa", "paddingScheme": padding}
    if public:
        spec["publicKey"] = PUBLIC
    if private:
        spec["privateKey"] = PRIVATE
    return spec


@pytest.mark.parametrize("size", [16, 24, 32])
def test_raw_aes_of_every_size(size: int) -> None:
    env = strongroom.Envelope.from_keyrings(aes(size))
    msg = env.encrypt(b"aes", encryption_context={"a": "b"})
    assert env.decrypt(msg).plaintext == b"aes"
    # The legacy constructor takes every size too.
    old = strongroom.Envelope.raw_aes(key_namespace="ns", key_name="k", wrapping_key=bytes(range(size)))
    assert old.decrypt(msg).plaintext == b"aes"
    with pytest.raises(strongroom.InvalidCiphertextException):
        strongroom.Envelope.from_keyrings(aes(32 if size != 32 else 16)).decrypt(msg)


@pytest.mark.parametrize("padding", PADDINGS)
def test_raw_rsa_public_encrypts_private_decrypts(padding: str) -> None:
    enc = strongroom.Envelope.from_keyrings(rsa(padding, private=False))
    msg = enc.encrypt(b"rsa", encryption_context={"t": "1"})
    assert strongroom.Envelope.from_keyrings(rsa(padding, public=False)).decrypt(msg).plaintext == b"rsa"
    with pytest.raises(strongroom.ValidationException):
        enc.decrypt(msg)


def test_multi_keyring_opens_with_either_child() -> None:
    env = strongroom.Envelope.from_keyrings([aes(16, "a"), rsa("OAEP_SHA256_MGF1", private=False)])
    msg = env.encrypt(b"multi")
    assert strongroom.Envelope.from_keyrings(aes(16, "a")).decrypt(msg).plaintext == b"multi"
    assert strongroom.Envelope.from_keyrings(rsa("OAEP_SHA256_MGF1", public=False)).decrypt(msg).plaintext == b"multi"


def test_kms_keyring_spec_needs_a_kms(kms: strongroom.Kms) -> None:
    key = kms.create_key().key_metadata.arn
    env = strongroom.Envelope.from_keyrings({"type": "AwsKms", "keyIds": [key]}, kms=kms)
    msg = env.encrypt(b"kms")
    disc = strongroom.Envelope.from_keyrings(
        {"type": "AwsKmsDiscovery", "discoveryFilter": {"partition": "aws", "accountIds": [key.split(":")[4]]}}, kms=kms
    )
    assert disc.decrypt(msg).plaintext == b"kms"
    with pytest.raises(strongroom.ValidationException):
        strongroom.Envelope.from_keyrings({"type": "AwsKms", "keyIds": [key]})


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "NoSuchKeyring"},
        {"type": "RawAes", "keyNamespace": "ns", "keyName": "k", "wrappingKey": b"\x01" * 31},
        {"type": "RawAes", "keyNamespace": "ns", "keyName": "k"},
        {"type": "RawRsa", "keyNamespace": "ns", "keyName": "k", "paddingScheme": "PKCS1", "privateKey": b"secret-bytes"},
    ],
)
def test_bad_specs_are_validation_errors_without_key_bytes(spec: dict) -> None:
    with pytest.raises(strongroom.ValidationException) as e:
        strongroom.Envelope.from_keyrings(spec)
    assert "secret-bytes" not in str(e.value) and "\\x01" not in str(e.value)


def manifest_dir() -> pathlib.Path:
    d = pathlib.Path(os.environ.get("HOME", "/tmp")) / ".cache/strongroom-esdk-manifest/current"
    if not (d / "manifest.json").exists():
        pytest.fail(
            "the canonical manifest has not been generated: `make test-rust` generates it "
            "(core/tests/esdk_manifest.rs), and make test runs that first"
        )
    return d


def keyring_specs(master_keys: list, keys: dict) -> list:
    specs = []
    for mk in master_keys:
        key = keys[mk["key"]]
        if mk["encryption-algorithm"] == "aes":
            specs.append(
                {
                    "type": "RawAes",
                    "keyNamespace": mk["provider-id"],
                    "keyName": key["key-id"],
                    "wrappingKey": base64.b64decode(key["material"]),
                }
            )
        elif key["decrypt"]:
            padding = "PKCS1" if mk["padding-algorithm"] == "pkcs1" else "OAEP_%s_MGF1" % mk["padding-hash"].upper()
            specs.append(
                {
                    "type": "RawRsa",
                    "keyNamespace": mk["provider-id"],
                    "keyName": key["key-id"],
                    "paddingScheme": padding,
                    "privateKey": key["material"].encode(),
                }
            )
    return specs


def test_every_official_message_of_the_canonical_manifest_decrypts() -> None:
    d = manifest_dir()
    manifest = json.loads((d / "manifest.json").read_text())
    keys = json.loads((d / "keys.json").read_text())["keys"]
    envelopes: dict = {}
    ok = 0
    for name, t in manifest["tests"].items():
        sig = json.dumps(t["master-keys"], sort_keys=True)
        if sig not in envelopes:
            envelopes[sig] = strongroom.Envelope.from_keyrings(keyring_specs(t["master-keys"], keys))
        ct = (d / t["ciphertext"][len("file://") :]).read_bytes()
        want = (d / t["plaintext"][len("file://") :]).read_bytes()
        got = envelopes[sig].decrypt(ct, allow_legacy_suites=True)
        assert got.plaintext == want, name
        ok += 1
    assert ok == 2860


def test_hierarchical_keyring_rotation_cache_and_tenants() -> None:
    clock = strongroom.ManualClock(1_700_000_000_000)
    kms = strongroom.Kms.in_memory(clock=clock)
    key = kms.create_key().key_metadata.arn
    store = strongroom.BranchKeyStore(kms, key, "branch-keys")
    bk = store.create_branch_key("orders")
    assert bk == "orders" and len(store.versions(bk)) == 1
    env = strongroom.Envelope.hierarchical(store, branch_key_id=bk, ttl_seconds=60, clock=clock)
    old = env.encrypt(b"old", encryption_context={"t": "1"})
    store.version_branch_key(bk)
    clock.advance(seconds=61)
    new = env.encrypt(b"new", encryption_context={"t": "1"})
    assert env.decrypt(old).plaintext == b"old" and env.decrypt(new).plaintext == b"new"
    assert env.decrypt(new).info.provider_id == "aws-kms-hierarchy"
    # Many tenants through a supplier.
    for t in ("a", "b"):
        store.create_branch_key(f"tenant-{t}")
    multi = strongroom.Envelope.hierarchical(
        store, branch_key_id_supplier=lambda ctx: f"tenant-{ctx['tenant']}", ttl_seconds=60, clock=clock
    )
    ma = multi.encrypt(b"for a", encryption_context={"tenant": "a"})
    assert multi.decrypt(ma).plaintext == b"for a"
    only_b = strongroom.Envelope.hierarchical(store, branch_key_id="tenant-b", ttl_seconds=60, clock=clock)
    with pytest.raises(strongroom.InvalidCiphertextException):
        only_b.decrypt(ma)
    # A failing supplier, bad configuration, a disabled KMS key.
    with pytest.raises(strongroom.ValidationException):
        multi.encrypt(b"x", encryption_context={"no": "tenant"})
    with pytest.raises(strongroom.ValidationException):
        strongroom.Envelope.hierarchical(store, branch_key_id="orders", ttl_seconds=0)
    with pytest.raises(strongroom.ValidationException):
        strongroom.Envelope.hierarchical(store, ttl_seconds=60)
    kms.disable_key(key_id=key)
    with pytest.raises(strongroom.DisabledException):
        env.encrypt(b"x")


def test_ecdh_keyrings_from_specs() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def pair(curve: ec.EllipticCurve) -> tuple:
        k = ec.generate_private_key(curve)
        return (
            k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        )

    for name, curve in (("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1())):
        s_priv, _ = pair(curve)
        r_priv, r_pub = pair(curve)
        static = strongroom.Envelope.from_keyrings(
            {
                "type": "RawEcdh",
                "curveSpec": name,
                "keyAgreementScheme": {
                    "RawPrivateKeyToStaticPublicKey": {"senderStaticPrivateKey": s_priv, "recipientPublicKey": r_pub}
                },
            }
        )
        eph = strongroom.Envelope.from_keyrings(
            {"type": "RawEcdh", "curveSpec": name, "keyAgreementScheme": {"EphemeralPrivateKeyToStaticPublicKey": {"recipientPublicKey": r_pub}}}
        )
        disc = strongroom.Envelope.from_keyrings(
            {"type": "RawEcdh", "curveSpec": name, "keyAgreementScheme": {"PublicKeyDiscovery": {"recipientStaticPrivateKey": r_priv}}}
        )
        for env in (static, eph):
            msg = env.encrypt(b"ecdh", encryption_context={"c": name})
            out = disc.decrypt(msg)
            assert out.plaintext == b"ecdh" and out.info.provider_id == "raw-ecdh"
        with pytest.raises(strongroom.ValidationException):
            disc.encrypt(b"x")
    # KMS ECDH: the sender's key in the KMS, the recipient local.
    kms = strongroom.Kms.in_memory()
    sender = kms.create_key(key_usage="KEY_AGREEMENT", key_spec="ECC_NIST_P256").key_metadata.arn
    r_priv, r_pub = pair(ec.SECP256R1())
    via_kms = strongroom.Envelope.from_keyrings(
        {
            "type": "AwsKmsEcdh",
            "curveSpec": "ECC_NIST_P256",
            "keyAgreementScheme": {"KmsPrivateKeyToStaticPublicKey": {"senderKmsIdentifier": sender, "recipientPublicKey": r_pub}},
        },
        kms=kms,
    )
    msg = via_kms.encrypt(b"via kms")
    local = strongroom.Envelope.from_keyrings(
        {"type": "RawEcdh", "curveSpec": "ECC_NIST_P256", "keyAgreementScheme": {"PublicKeyDiscovery": {"recipientStaticPrivateKey": r_priv}}}
    )
    assert local.decrypt(msg).plaintext == b"via kms"
    assert via_kms.decrypt(msg).info.provider_id == "aws-kms-ecdh"
    with pytest.raises(strongroom.ValidationException):
        strongroom.Envelope.from_keyrings({"type": "RawEcdh", "curveSpec": "ECC_NIST_P521", "keyAgreementScheme": {}})


def test_required_encryption_context_and_a_cache_in_front_of_any_keyring() -> None:
    base = strongroom.Envelope.from_keyrings({"type": "RawAes", "keyNamespace": "ns", "keyName": "k", "wrappingKey": b"\x01" * 32})
    req = base.with_required_encryption_context_keys(["tenant"])
    msg = req.encrypt(b"bound", encryption_context={"tenant": "acme", "kind": "doc"})
    # Not stored: the stored context has only "kind"; decrypting needs "tenant" again.
    with pytest.raises(strongroom.KmsError):
        base.decrypt(msg)
    out = base.decrypt(msg, encryption_context={"tenant": "acme"})
    assert out.plaintext == b"bound" and out.encryption_context["tenant"] == "acme"
    with pytest.raises(strongroom.InvalidCiphertextException):
        base.decrypt(msg, encryption_context={"tenant": "other"})
    with pytest.raises(strongroom.ValidationException):
        req.encrypt(b"x", encryption_context={"kind": "doc"})
    with pytest.raises(strongroom.ValidationException):
        base.with_required_encryption_context_keys([])
    cached = base.with_cache(strongroom.CacheConfig(capacity=10, max_age=60))
    for _ in range(3):
        assert base.decrypt(cached.encrypt(b"c", encryption_context={"a": "b"})).plaintext == b"c"
    stats = cached.cache_stats()
    assert stats is not None and stats.hits == 2
