"""What the package must not contain, and how secrets cross the native
boundary."""

import pathlib
from typing import Any, List

import pytest

import strongroom
from strongroom import _native
from strongroom.testing import DeterministicKms, ManualClock
from conftest import TEST_BUILD


@pytest.mark.skipif(TEST_BUILD, reason="the test-only build has the deterministic RNG by design")
def test_the_package_has_no_deterministic_rng() -> None:
    # A seeded RNG makes every key and nonce predictable: no package ships it.
    assert not hasattr(_native.NativeKms, "deterministic")
    with pytest.raises(RuntimeError, match="no deterministic test RNG"):
        DeterministicKms(seed=bytes(32), clock=ManualClock(0))
    # Nor is it anywhere in the shared library (the method name, or the
    # core's seeded RNG type).
    lib = pathlib.Path(_native.__file__).read_bytes()
    assert b"deterministic\0" not in lib
    assert b"DangerousSeededRng" not in lib


class Spy:
    """Records which native entry points a typed call uses."""

    def __init__(self, native: Any) -> None:
        self._native = native
        self.used: List[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        return getattr(self._native, name)


def test_secret_bearing_operations_pass_bytes_not_json(kms: strongroom.Kms) -> None:
    key = kms.create_key().key_metadata.key_id
    a = kms.create_key(key_spec="ECC_NIST_P256", key_usage="KEY_AGREEMENT").key_metadata.key_id
    b = kms.create_key(key_spec="ECC_NIST_P256", key_usage="KEY_AGREEMENT").key_metadata.key_id
    pub_a = kms.get_public_key(key_id=a).public_key
    pub_b = kms.get_public_key(key_id=b).public_key
    spy = Spy(kms._native)
    kms._native = spy  # type: ignore[assignment]

    secret = b"\x00top secret\xff" * 100
    blob = kms.encrypt(key_id=key, plaintext=secret, encryption_context={"a": "b"}).ciphertext_blob
    out = kms.decrypt(ciphertext_blob=blob, encryption_context={"a": "b"})
    assert out.plaintext == secret and out.key_id.endswith(key)
    assert kms.encrypt(key_id=key, plaintext=bytearray(b"ba")).key_id.endswith(key)

    dk = kms.generate_data_key(key_id=key, key_spec="AES_256")
    assert len(dk.plaintext) == 32 and dk.key_id.endswith(key) and dk.key_material_id
    assert kms.decrypt(ciphertext_blob=dk.ciphertext_blob).plaintext == dk.plaintext

    r = kms.generate_random(number_of_bytes=77).plaintext
    assert isinstance(r, bytes) and len(r) == 77

    pair = kms.generate_data_key_pair(key_id=key, key_pair_spec="ECC_NIST_P256")
    assert pair.key_pair_spec is strongroom.DataKeyPairSpec.ECC_NIST_P256 and pair.key_pair_spec == "ECC_NIST_P256"
    assert pair.private_key_plaintext and pair.private_key_plaintext[0] == 0x30
    assert pair.public_key[0] == 0x30 and pair.key_id.endswith(key)
    assert kms.decrypt(ciphertext_blob=pair.private_key_ciphertext_blob).plaintext == pair.private_key_plaintext

    ab = kms.derive_shared_secret(key_id=a, key_agreement_algorithm="ECDH", public_key=pub_b)
    ba = kms.derive_shared_secret(key_id=b, key_agreement_algorithm="ECDH", public_key=pub_a)
    assert ab.shared_secret == ba.shared_secret and len(ab.shared_secret) == 32
    assert ab.key_agreement_algorithm == "ECDH" and ab.key_origin == "AWS_KMS"

    # None of them went through the JSON entry point (plaintext as hex text).
    assert "call" not in spy.used, spy.used
    assert {"encrypt", "decrypt", "generate_data_key", "generate_random", "generate_data_key_pair", "derive_shared_secret"} <= set(spy.used)


def test_byte_entry_points_keep_errors_and_refuse_plaintext_in_json(kms: strongroom.Kms) -> None:
    key = kms.create_key().key_metadata.key_id
    with pytest.raises(strongroom.InvalidCiphertextException):
        kms.decrypt(ciphertext_blob=b"\x01" * 80)
    with pytest.raises(strongroom.NotFoundException):
        kms.generate_data_key(key_id="alias/none", key_spec="AES_256")
    with pytest.raises(strongroom.ValidationException):
        kms.generate_random(number_of_bytes=0)
    # A plaintext must be bytes-like: text is refused before it crosses.
    with pytest.raises(TypeError):
        kms.encrypt(key_id=key, plaintext="S3CRET")  # type: ignore[arg-type]
    # A malformed request's message names the member, never the value.
    with pytest.raises(strongroom.ValidationException) as e:
        kms.call("Encrypt", {"KeyId": key, "Plaintext": b"x", "EncryptionContext": "S3CRET-context"})
    assert "S3CRET" not in str(e.value), e.value
    with pytest.raises(strongroom.ValidationException) as e:
        kms.call("Encrypt", {"KeyId": key, "Plaintext": b"x", "Bogus": "S3CRET"})
    assert "Bogus" in str(e.value) and "S3CRET" not in str(e.value), e.value
