"""Envelope encryption: whole messages, streams, caching, interop with the
official aws-encryption-sdk."""

import io
import os

import pytest

import strongroom
from strongroom.testing import ManualClock

KEY = bytes(range(32))


def raw() -> strongroom.Envelope:
    return strongroom.Envelope.raw_aes(key_namespace="ns", key_name="k1", wrapping_key=KEY)


@pytest.mark.parametrize(
    "suite", [strongroom.Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY, strongroom.Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384]
)
@pytest.mark.parametrize("frame", [1, 4096, 65536])
@pytest.mark.parametrize("length", [0, 1, 4096, 65536, 70001])
def test_round_trips(suite: strongroom.Suite, frame: int, length: int) -> None:
    if frame == 1 and length > 4096:
        pytest.skip("one-byte frames of large inputs are slow and add nothing")
    data = os.urandom(length)
    msg = raw().encrypt(data, encryption_context={"t": "1"}, suite=suite, frame_length=frame)
    out = raw().decrypt(msg)
    assert out.plaintext == data
    assert out.info.suite == suite and out.info.frame_length == frame
    assert out.encryption_context["t"] == "1"
    assert (strongroom.Suite(out.info.suite) is strongroom.Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384) == (
        "aws-crypto-public-key" in out.encryption_context
    )


def test_tampering_and_limits() -> None:
    msg = bytearray(raw().encrypt(b"hello", frame_length=2))
    for i in range(0, len(msg), 7):
        bad = bytearray(msg)
        bad[i] ^= 0x10
        with pytest.raises(strongroom.KmsError) as e:
            raw().decrypt(bytes(bad))
        assert e.value.code in ("InvalidCiphertextException", "UnsupportedOperationException", "LimitExceededException")
    with pytest.raises(strongroom.InvalidCiphertextException):
        raw().decrypt(bytes(msg[:-1]))
    with pytest.raises(strongroom.ValidationException):
        raw().encrypt(b"x", encryption_context={"aws-crypto-x": "y"})
    with pytest.raises(strongroom.ValidationException):
        strongroom.Envelope.raw_aes(key_namespace="ns", key_name="k", wrapping_key=b"short")


def test_streams_in_constant_memory(tmp_path) -> None:
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for i in range(40):
            f.write(bytes([i]) * (1 << 20))
    env = raw()
    with open(src, "rb") as f, open(tmp_path / "big.enc", "wb") as g:
        n = env.encrypt_stream(f, g, encryption_context={"file": "big"}, frame_length=65536)
    assert n == 40 << 20
    with open(tmp_path / "big.enc", "rb") as f, open(tmp_path / "big.out", "wb") as g:
        info = env.decrypt_stream(f, g)
    assert info.encryption_context["file"] == "big"
    assert (tmp_path / "big.out").read_bytes() == src.read_bytes()
    # A truncated stream raises.
    enc = (tmp_path / "big.enc").read_bytes()
    with pytest.raises(strongroom.InvalidCiphertextException):
        env.decrypt_stream(io.BytesIO(enc[: len(enc) // 2]), io.BytesIO())
    # Chunk iterables.
    parts = list(env.encrypt_chunks([b"a" * 5000, b"b" * 3000]))
    assert env.decrypt(b"".join(parts)).plaintext == b"a" * 5000 + b"b" * 3000


def test_kms_envelope_with_cache_and_invalidation() -> None:
    clock = ManualClock(1_767_225_600_000)
    kms = strongroom.Kms.in_memory(clock=clock)
    key = kms.create_key().key_metadata.arn
    env = kms.envelope(key, cache=strongroom.CacheConfig(capacity=4, max_age=60, max_messages_encrypted=3), clock=clock)
    msgs = [env.encrypt(b"row %d" % i, encryption_context={"table": "t"}) for i in range(5)]
    s = env.cache_stats()
    assert s is not None and (s.hits, s.misses) == (3, 2)
    for i, m in enumerate(msgs):
        out = env.decrypt(m)
        assert out.plaintext == b"row %d" % i and out.info.key_name == key
    clock.advance(seconds=61)
    env.encrypt(b"late", encryption_context={"table": "t"})
    s = env.cache_stats()
    assert s is not None and s.misses >= 3
    kms.disable_key(key_id=key)
    s = env.cache_stats()
    assert s is not None and s.entries == 0 and s.invalidations > 0
    with pytest.raises(strongroom.DisabledException):
        env.decrypt(msgs[0])
    assert kms.envelope(key).cache_stats() is None


def test_multiple_keys_and_discovery() -> None:
    kms = strongroom.Kms.in_memory()
    a = kms.create_key().key_metadata.arn
    b = kms.create_key().key_metadata.arn
    msg = kms.envelope([a, b]).encrypt(b"shared")
    kms.disable_key(key_id=a)
    out = kms.envelope(None).decrypt(msg)
    assert out.plaintext == b"shared" and out.info.key_name == b
    with pytest.raises(strongroom.DisabledException):
        kms.envelope(a).decrypt(msg)


def _sdk():
    # scripts/py-test.sh (and so `make test`) sets STRONGROOM_REQUIRE_INTEROP=1:
    # there a missing official SDK fails the test instead of skipping it.
    if os.environ.get("STRONGROOM_REQUIRE_INTEROP") == "1":
        import aws_encryption_sdk as aws
    else:
        aws = pytest.importorskip(
            "aws_encryption_sdk", reason="the official aws-encryption-sdk is not installed (set STRONGROOM_REQUIRE_INTEROP=1 to require it)"
        )
    from aws_encryption_sdk.identifiers import CommitmentPolicy, WrappingAlgorithm, EncryptionKeyType
    from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
    from aws_encryption_sdk.key_providers.raw import RawMasterKey

    client = aws.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    mk = RawMasterKey(
        provider_id="ns",
        key_id=b"k1",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=KEY,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )
    return aws, client, mk


@pytest.mark.parametrize("length", [0, 100, 4096, 100_000])
def test_interop_with_the_official_sdk(length: int) -> None:
    aws, client, mk = _sdk()
    data = os.urandom(length)
    # Official SDK → Strongroom.
    ct, _ = client.encrypt(source=data, key_provider=mk, encryption_context={"who": "sdk"})
    out = raw().decrypt(ct)
    assert out.plaintext == data and out.encryption_context["who"] == "sdk"
    # Strongroom → official SDK, both committing suites.
    for suite in COMMITTING:
        msg = raw().encrypt(data, encryption_context={"who": "strongroom"}, suite=suite)
        pt, header = client.decrypt(source=msg, key_provider=mk)
        assert pt == data and header.encryption_context["who"] == "strongroom"


COMMITTING = (strongroom.Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY, strongroom.Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384)


@pytest.mark.parametrize("frame", [0, 64])
def test_every_suite_encrypts_for_the_official_sdk(frame: int) -> None:
    aws, _, mk = _sdk()
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    lenient = aws.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
    data = os.urandom(1000)
    for suite in strongroom.Suite:
        legacy = suite not in COMMITTING
        policy = (
            strongroom.CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
            if legacy
            else strongroom.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        msg = raw().encrypt(data, encryption_context={"s": hex(suite)}, suite=suite, frame_length=frame, commitment_policy=policy)
        assert msg[0] == (1 if legacy else 2)
        pt, header = lenient.decrypt(source=msg, key_provider=mk)
        assert pt == data and header.algorithm.algorithm_id == suite
        out = raw().decrypt(msg, allow_legacy_suites=True)
        assert out.plaintext == data and out.info.suite == suite
        streamed = b"".join(
            raw().encrypt_chunks([data[:10], data[10:]], suite=suite, frame_length=frame, commitment_policy=policy)
        )
        assert raw().decrypt(streamed, allow_legacy_suites=True).plaintext == data
        if legacy:
            # Only under FORBID_ENCRYPT_ALLOW_DECRYPT, and never read by default.
            with pytest.raises(strongroom.ValidationException):
                raw().encrypt(data, suite=suite)
            with pytest.raises(strongroom.ValidationException):
                raw().decrypt(msg)
        else:
            with pytest.raises(strongroom.ValidationException):
                raw().encrypt(data, suite=suite, commitment_policy=strongroom.CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
