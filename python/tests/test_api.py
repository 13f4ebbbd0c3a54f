"""The Pythonic surface: typed results, exceptions, stores, callers, threads."""

import concurrent.futures
import dataclasses
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

import strongroom
from strongroom import _native
from strongroom.testing import ManualClock


def test_installed_package_not_source_tree() -> None:
    assert "site-packages" in strongroom.__file__, strongroom.__file__
    assert strongroom.__version__


def test_key_metadata_is_typed(kms) -> None:
    md = kms.create_key(description="orders", key_spec=strongroom.KeySpec.SYMMETRIC_DEFAULT).key_metadata
    assert isinstance(md, strongroom.KeyMetadata)
    assert md.key_state is strongroom.KeyState.ENABLED
    assert md.key_usage is strongroom.KeyUsage.ENCRYPT_DECRYPT
    assert md.origin is strongroom.Origin.AWS_KMS
    assert isinstance(md.creation_date, datetime) and md.creation_date.tzinfo is timezone.utc
    assert abs(md.creation_date - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert md.arn.endswith(md.key_id) and md.aws_account_id == "111122223333"
    with pytest.raises(dataclasses.FrozenInstanceError):
        md.description = "x"  # type: ignore[misc]
    listed = kms.list_keys()
    assert [k.key_id for k in listed.keys] == [md.key_id]


def test_crypto_round_trip_and_context(kms) -> None:
    key = kms.create_key().key_metadata.key_id
    kms.create_alias(alias_name="alias/app", target_key_id=key)
    ct = kms.encrypt(key_id="alias/app", plaintext=b"secret", encryption_context={"tenant": "a"})
    assert isinstance(ct.ciphertext_blob, bytes)
    out = kms.decrypt(ciphertext_blob=ct.ciphertext_blob, encryption_context={"tenant": "a"})
    assert out.plaintext == b"secret"
    assert "secret" not in repr(out)
    with pytest.raises(strongroom.InvalidCiphertextException) as e:
        kms.decrypt(ciphertext_blob=ct.ciphertext_blob, encryption_context={"tenant": "b"})
    assert e.value.code == "InvalidCiphertextException"
    assert isinstance(e.value, strongroom.KmsError)
    re = kms.re_encrypt(
        ciphertext_blob=ct.ciphertext_blob,
        source_encryption_context={"tenant": "a"},
        destination_key_id=key,
        destination_encryption_context={"tenant": "c"},
    )
    assert kms.decrypt(ciphertext_blob=re.ciphertext_blob, encryption_context={"tenant": "c"}).plaintext == b"secret"
    dk = kms.generate_data_key(key_id=key, key_spec="AES_256")
    assert len(dk.plaintext) == 32 and "plaintext=<redacted>" in repr(dk)
    assert kms.decrypt(ciphertext_blob=dk.ciphertext_blob).plaintext == dk.plaintext
    assert len(kms.generate_random(number_of_bytes=17).plaintext) == 17
    aliases = kms.list_aliases().aliases
    assert aliases[0].alias_name == "alias/app" and isinstance(aliases[0].creation_date, datetime)


def test_every_error_code_has_a_class() -> None:
    for code in _native.error_codes():
        cls = strongroom.ERRORS[code]
        assert cls.__name__ == code and issubclass(cls, strongroom.KmsError)
        assert getattr(strongroom, code) is cls


def test_errors_are_typed_and_carry_no_secrets(kms) -> None:
    with pytest.raises(strongroom.NotFoundException):
        kms.describe_key(key_id="alias/missing")
    key = kms.create_key().key_metadata.key_id
    with pytest.raises(strongroom.ValidationException) as e:
        kms.encrypt(key_id=key, plaintext=b"S3CRET" * 1000)
    assert "S3CRET" not in str(e.value) and "53334352" not in str(e.value)
    kms.disable_key(key_id=key)
    with pytest.raises(strongroom.DisabledException):
        kms.encrypt(key_id=key, plaintext=b"x")
    with pytest.raises(strongroom.InvalidAliasNameException):
        kms.create_alias(alias_name="no-prefix", target_key_id=key)


def test_lifecycle_with_a_manual_clock() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    kms = strongroom.Kms.in_memory(clock=clock)
    key = kms.create_key().key_metadata.key_id
    r = kms.schedule_key_deletion(key_id=key, pending_window_in_days=7)
    assert r.key_state is strongroom.KeyState.PENDING_DELETION
    assert r.deletion_date == datetime(2026, 1, 8, tzinfo=timezone.utc)
    with pytest.raises(strongroom.KMSInvalidStateException):
        kms.encrypt(key_id=key, plaintext=b"x")
    clock.advance(days=7)
    with pytest.raises(strongroom.NotFoundException):
        kms.describe_key(key_id=key)
    k2 = kms.create_key().key_metadata.key_id
    kms.enable_key_rotation(key_id=k2, rotation_period_in_days=90)
    st = kms.get_key_rotation_status(key_id=k2)
    assert st.key_rotation_enabled and st.next_rotation_date == datetime(2026, 1, 8, tzinfo=timezone.utc) + timedelta(days=90)


def test_store_persists_and_wrong_root_key_fails(tmp_path) -> None:
    root = bytes(range(32))
    with strongroom.Kms.open(tmp_path / "s", root_key=root) as kms:
        key = kms.create_key(description="kept").key_metadata.key_id
        blob = kms.encrypt(key_id=key, plaintext=b"durable").ciphertext_blob
    with strongroom.Kms.open(tmp_path / "s", root_key=root) as kms:
        assert kms.describe_key(key_id=key).key_metadata.description == "kept"
        assert kms.decrypt(ciphertext_blob=blob).plaintext == b"durable"
    with pytest.raises(strongroom.InvalidRootKeyException):
        strongroom.Kms.open(tmp_path / "s", root_key=bytes(32))
    with pytest.raises(strongroom.ValidationException):
        strongroom.Kms.open(tmp_path / "t", root_key=b"short")
    with strongroom.Kms.open(tmp_path / "p", passphrase="correct horse") as kms:
        kms.create_key()
    with pytest.raises(strongroom.InvalidRootKeyException):
        strongroom.Kms.open(tmp_path / "p", passphrase="wrong horse")


def test_policies_and_grants(kms) -> None:
    key = kms.create_key().key_metadata.key_id
    blob = kms.encrypt(key_id=key, plaintext=b"x", encryption_context={"app": "billing"}).ciphertext_blob
    alice = kms.as_user("alice")
    with pytest.raises(strongroom.AccessDeniedException) as e:
        alice.decrypt(ciphertext_blob=blob, encryption_context={"app": "billing"})
    assert "alice" in str(e.value)
    g = kms.create_grant(
        key_id=key,
        grantee_principal="arn:aws:iam::111122223333:user/alice",
        operations=["Decrypt"],
        constraints=strongroom.GrantConstraints(encryption_context_subset={"app": "billing"}),
    )
    out = alice.decrypt(ciphertext_blob=blob, encryption_context={"app": "billing"}, grant_tokens=[g.grant_token])
    assert out.plaintext == b"x"
    grants = kms.list_grants(key_id=key).grants
    assert grants[0].constraints == strongroom.GrantConstraints(encryption_context_subset={"app": "billing"})
    assert isinstance(grants[0].creation_date, datetime)
    kms.revoke_grant(key_id=key, grant_id=g.grant_id)
    with pytest.raises(strongroom.AccessDeniedException):
        alice.decrypt(ciphertext_blob=blob, encryption_context={"app": "billing"})
    # Identity policy for a role.
    kms.put_identity_policy(
        principal_arn="arn:aws:iam::111122223333:role/ops",
        policy_name="p",
        policy_document={"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]},
    )
    assert kms.as_role("ops").describe_key(key_id=key).key_metadata.key_id == key
    # A key policy that denies everything; recovery with the root key.
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
    with pytest.raises(strongroom.MalformedPolicyDocumentException):
        kms.put_key_policy(key_id=key, policy=deny)
    kms.put_key_policy(key_id=key, policy=deny, bypass_policy_lockout_safety_check=True)
    with pytest.raises(strongroom.AccessDeniedException):
        kms.describe_key(key_id=key)


def test_recover_key_policy(tmp_path) -> None:
    root = bytes(range(32))
    with strongroom.Kms.open(tmp_path / "s", root_key=root) as kms:
        key = kms.create_key().key_metadata.key_id
        deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
        kms.put_key_policy(key_id=key, policy=deny, bypass_policy_lockout_safety_check=True)
        with pytest.raises(strongroom.InvalidRootKeyException):
            kms.recover_key_policy(key_id=key, root_key=bytes(32))
        kms.recover_key_policy(key_id=key, root_key=root)
        kms.describe_key(key_id=key)


def test_signatures_verify_with_cryptography(kms) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    for spec, alg, verify in [
        ("ECC_NIST_P256", "ECDSA_SHA_256", lambda pk, sig, m: pk.verify(sig, m, ec.ECDSA(hashes.SHA256()))),
        ("ECC_NIST_P384", "ECDSA_SHA_384", lambda pk, sig, m: pk.verify(sig, m, ec.ECDSA(hashes.SHA384()))),
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            lambda pk, sig, m: pk.verify(sig, m, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()),
        ),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", lambda pk, sig, m: pk.verify(sig, m, padding.PKCS1v15(), hashes.SHA256())),
    ]:
        key = kms.create_key(key_spec=spec, key_usage=strongroom.KeyUsage.SIGN_VERIFY).key_metadata.key_id
        der = kms.get_public_key(key_id=key).public_key
        pk = serialization.load_der_public_key(der)
        sig = kms.sign(key_id=key, message=b"pay 100 to bob", signing_algorithm=alg).signature
        verify(pk, sig, b"pay 100 to bob")
        assert kms.verify(key_id=key, message=b"pay 100 to bob", signature=sig, signing_algorithm=alg).signature_valid
        with pytest.raises(strongroom.KMSInvalidSignatureException):
            kms.verify(key_id=key, message=b"pay 999 to bob", signature=sig, signing_algorithm=alg)
    mac_key = kms.create_key(key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC").key_metadata.key_id
    mac = kms.generate_mac(key_id=mac_key, message=b"m", mac_algorithm="HMAC_SHA_256").mac
    assert kms.verify_mac(key_id=mac_key, message=b"m", mac=mac, mac_algorithm="HMAC_SHA_256").mac_valid
    with pytest.raises(strongroom.KMSInvalidMacException):
        kms.verify_mac(key_id=mac_key, message=b"n", mac=mac, mac_algorithm="HMAC_SHA_256")


def test_shared_across_threads(kms) -> None:
    key = kms.create_key().key_metadata.key_id

    def work(i: int) -> bytes:
        ctx = {"n": str(i)}
        blob = kms.encrypt(key_id=key, plaintext=str(i).encode(), encryption_context=ctx).ciphertext_blob
        return kms.decrypt(ciphertext_blob=blob, encryption_context=ctx).plaintext

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(400)))
    assert results == [str(i).encode() for i in range(400)]
    assert sum(1 for e in kms.audit_log() if e["Operation"] == "Encrypt") == 400


def test_gil_is_released_during_bulk_crypto(kms) -> None:
    """While one thread envelope-encrypts 64 MiB, another keeps running Python."""
    env = kms.envelope(kms.create_key().key_metadata.key_id)
    data = b"\0" * (64 << 20)
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0)

    t = threading.Thread(target=count)
    t.start()
    start_ticks = ticks
    for _ in range(3):
        env.decrypt(env.encrypt(data))
    done.set()
    t.join()
    assert ticks - start_ticks > 100, f"the counting thread ran {ticks - start_ticks} times"


def test_audit_log_and_callers(kms) -> None:
    key = kms.create_key().key_metadata.key_id
    with pytest.raises(strongroom.AccessDeniedException):
        kms.as_user("mallory").disable_key(key_id=key)
    events = kms.audit_log()
    last = events[-1]
    assert last["Operation"] == "DisableKey" and last["Outcome"] == "AccessDeniedException"
    assert last["PrincipalArn"].endswith("user/mallory")
    json.dumps(events)


def test_more_operations(kms) -> None:
    key = kms.create_key().key_metadata.key_id
    assert kms.list_key_policies(key_id=key).policy_names == ["default"]
    kms.rotate_key_on_demand(key_id=key)
    rot = kms.list_key_rotations(key_id=key).rotations
    assert len(rot) == 1 and isinstance(rot[0].rotation_date, datetime)
    pair = kms.generate_data_key_pair(key_id=key, key_pair_spec=strongroom.KeySpec.ECC_NIST_P256)
    assert pair.key_pair_spec is strongroom.DataKeyPairSpec.ECC_NIST_P256 and pair.private_key_plaintext
    assert "redacted" in repr(pair)
    assert kms.decrypt(ciphertext_blob=pair.private_key_ciphertext_blob).plaintext == pair.private_key_plaintext
    assert not hasattr(kms.generate_data_key_pair_without_plaintext(key_id=key, key_pair_spec="RSA_2048"), "private_key_plaintext")
    a = kms.create_key(key_spec="ECC_NIST_P256", key_usage="KEY_AGREEMENT").key_metadata.key_id
    b = kms.create_key(key_spec="ECC_NIST_P256", key_usage="KEY_AGREEMENT").key_metadata.key_id
    ab = kms.derive_shared_secret(key_id=a, key_agreement_algorithm="ECDH", public_key=kms.get_public_key(key_id=b).public_key)
    ba = kms.derive_shared_secret(key_id=b, key_agreement_algorithm="ECDH", public_key=kms.get_public_key(key_id=a).public_key)
    assert ab.shared_secret == ba.shared_secret and "redacted" in repr(ab)
    role = "arn:aws:iam::111122223333:role/r"
    kms.put_identity_policy(principal_arn=role, policy_name="p", policy_document={"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]})
    assert kms.get_identity_policy(principal_arn=role, policy_name="p").policy_name == "p"
    kms.delete_identity_policy(principal_arn=role, policy_name="p")
    g = kms.create_grant(key_id=key, grantee_principal=role, retiring_principal=role, operations=["Encrypt"])
    assert [x.grant_id for x in kms.list_retirable_grants(retiring_principal=role).grants] == [g.grant_id]
    kms.tag_resource(key_id=key, tags=[strongroom.Tag("team", "infra")])
    assert kms.list_resource_tags(key_id=key).tags == [strongroom.Tag("team", "infra")]
    kms.untag_resource(key_id=key, tag_keys=["team"])


def test_imported_key_material(kms) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = kms.create_key(origin=strongroom.Origin.EXTERNAL).key_metadata.key_id
    assert kms.describe_key(key_id=key).key_metadata.key_state is strongroom.KeyState.PENDING_IMPORT
    p = kms.get_parameters_for_import(key_id=key, wrapping_algorithm="RSAES_OAEP_SHA_256", wrapping_key_spec="RSA_2048")
    assert isinstance(p.parameters_valid_to, datetime)
    pub = serialization.load_der_public_key(p.public_key)
    material = bytes(range(32))
    wrapped = pub.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    kms.import_key_material(key_id=key, import_token=p.import_token, encrypted_key_material=wrapped,
                            expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE")
    blob = kms.encrypt(key_id=key, plaintext=b"byok").ciphertext_blob
    kms.delete_imported_key_material(key_id=key)
    with pytest.raises(strongroom.KMSInvalidStateException):
        kms.decrypt(ciphertext_blob=blob)


def test_several_imported_materials(kms) -> None:
    """ImportType NEW_KEY_MATERIAL, PENDING_ROTATION, RotateKeyOnDemand and
    per-material deletion, wrapped by pyca/cryptography."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = kms.create_key(origin=strongroom.Origin.EXTERNAL).key_metadata.key_id

    def imp(material: bytes, **kw):
        p = kms.get_parameters_for_import(key_id=key, wrapping_algorithm="RSAES_OAEP_SHA_256", wrapping_key_spec="RSA_2048")
        pub = serialization.load_der_public_key(p.public_key)
        wrapped = pub.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        return kms.import_key_material(key_id=key, import_token=p.import_token, encrypted_key_material=wrapped,
                                       expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE", **kw).key_material_id

    first = imp(b"\x01" * 32, key_material_description="first")
    old = kms.encrypt(key_id=key, plaintext=b"old").ciphertext_blob
    second = imp(b"\x02" * 32, import_type=strongroom.ImportType.NEW_KEY_MATERIAL)
    listed = kms.list_key_rotations(key_id=key, include_key_material="ALL_KEY_MATERIAL").rotations
    assert [(r.key_material_id, r.key_material_state) for r in listed] == [
        (first, strongroom.KeyMaterialState.CURRENT), (second, strongroom.KeyMaterialState.PENDING_ROTATION)]
    assert listed[0].key_material_description == "first" and listed[0].import_state is strongroom.ImportState.IMPORTED
    kms.rotate_key_on_demand(key_id=key)
    assert kms.describe_key(key_id=key).key_metadata.current_key_material_id == second
    assert kms.encrypt(key_id=key, plaintext=b"new").key_material_id == second
    assert kms.decrypt(ciphertext_blob=old).plaintext == b"old"
    with pytest.raises(strongroom.IncorrectKeyMaterialException):
        imp(b"\x01" * 32, key_material_id=second)
    assert kms.delete_imported_key_material(key_id=key, key_material_id=first).key_material_id == first
    assert kms.describe_key(key_id=key).key_metadata.key_state is strongroom.KeyState.PENDING_IMPORT
    assert imp(b"\x01" * 32) == first
    assert kms.decrypt(ciphertext_blob=old).plaintext == b"old"
