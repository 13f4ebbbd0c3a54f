"""Raw ECDH keyring interop with the official AWS Encryption SDK + the AWS
Material Providers Library (Python), for core/tests/esdk_ecdh.rs.

    python esdk_ecdh.py keys DIR          write sender/recipient key pairs (P-256, P-384)
    python esdk_ecdh.py encrypt DIR       the MPL encrypts (static and ephemeral schemes)
    python esdk_ecdh.py decrypt DIR       the MPL decrypts DIR/strongroom-*.msg (static and discovery)

Keys: DIR/<curve>-<who>.pem (PKCS#8 PEM private key), DIR/<curve>-<who>.der
(SPKI DER public key), who = sender | recipient. Messages: DIR/mpl-<curve>-<scheme>.msg,
with plaintext DIR/plaintext and encryption context {"purpose": "ecdh-interop"}.
"""

import pathlib
import sys

import aws_encryption_sdk
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateRawEcdhKeyringInput,
    EphemeralPrivateKeyToStaticPublicKeyInput,
    PublicKeyDiscoveryInput,
    RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey,
    RawEcdhStaticConfigurationsPublicKeyDiscovery,
    RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey,
    RawPrivateKeyToStaticPublicKeyInput,
)
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1}
CTX = {"purpose": "ecdh-interop"}


def mpl():
    return AwsCryptographicMaterialProviders(MaterialProvidersConfig())


def client():
    return aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)


def key(d, curve, who, ext):
    return (d / f"{curve}-{who}.{ext}").read_bytes()


def keyring(curve, scheme):
    if scheme == "static":
        cfg = RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey(
            RawPrivateKeyToStaticPublicKeyInput(
                sender_static_private_key=key(D, curve, "sender", "pem"),
                recipient_public_key=key(D, curve, "recipient", "der"),
            )
        )
    elif scheme == "ephemeral":
        cfg = RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey(
            EphemeralPrivateKeyToStaticPublicKeyInput(recipient_public_key=key(D, curve, "recipient", "der"))
        )
    else:
        cfg = RawEcdhStaticConfigurationsPublicKeyDiscovery(
            PublicKeyDiscoveryInput(recipient_static_private_key=key(D, curve, "recipient", "pem"))
        )
    return mpl().create_raw_ecdh_keyring(CreateRawEcdhKeyringInput(key_agreement_scheme=cfg, curve_spec=curve))


def main():
    global D
    mode, D = sys.argv[1], pathlib.Path(sys.argv[2])
    if mode == "keys":
        for curve, cls in CURVES.items():
            for who in ("sender", "recipient"):
                k = ec.generate_private_key(cls())
                (D / f"{curve}-{who}.pem").write_bytes(
                    k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
                )
                (D / f"{curve}-{who}.der").write_bytes(
                    k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
                )
        (D / "plaintext").write_bytes(bytes(range(256)) * 20)
        return
    pt = (D / "plaintext").read_bytes()
    if mode == "encrypt":
        for curve in CURVES:
            for scheme in ("static", "ephemeral"):
                ct, _ = client().encrypt(source=pt, keyring=keyring(curve, scheme), encryption_context=CTX)
                (D / f"mpl-{curve}-{scheme}.msg").write_bytes(ct)
        print("encrypted 4")
        return
    n = 0
    for msg in sorted(D.glob("strongroom-*.msg")):
        curve, scheme = msg.stem.split("-")[1], msg.stem.split("-")[2]
        for how in ("static", "discovery"):
            if scheme == "ephemeral" and how == "static":
                continue  # a static keyring matches only its own sender key
            out, header = client().decrypt(source=msg.read_bytes(), keyring=keyring(curve, how), encryption_context=CTX)
            assert out == pt, msg
            n += 1
    print(f"decrypted {n}")


if __name__ == "__main__":
    main()
