"""Interop helper: the official AWS Encryption SDK (Python, with the AWS
Material Providers Library) with a raw AES keyring behind its required
encryption context CMM. Usage:
  esdk_required_ec.py encrypt KEY_HEX NAMESPACE NAME REQUIRED_KEYS_JSON CONTEXT_JSON IN OUT
  esdk_required_ec.py decrypt KEY_HEX NAMESPACE NAME REQUIRED_KEYS_JSON CONTEXT_JSON IN OUT
On decrypt CONTEXT_JSON is the reproduced context the caller supplies; the
message's full context is written to stderr as JSON."""
import json
import sys

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    AesWrappingAlg,
    CreateDefaultCryptographicMaterialsManagerInput,
    CreateRawAesKeyringInput,
    CreateRequiredEncryptionContextCMMInput,
)

ALGS = {
    16: AesWrappingAlg.ALG_AES128_GCM_IV12_TAG16,
    24: AesWrappingAlg.ALG_AES192_GCM_IV12_TAG16,
    32: AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
}


def main():
    mode, key_hex, namespace, name, required, ctx, src, dst = sys.argv[1:9]
    key = bytes.fromhex(key_hex)
    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    keyring = mpl.create_raw_aes_keyring(
        CreateRawAesKeyringInput(key_namespace=namespace, key_name=name, wrapping_key=key, wrapping_alg=ALGS[len(key)])
    )
    default = mpl.create_default_cryptographic_materials_manager(
        CreateDefaultCryptographicMaterialsManagerInput(keyring=keyring)
    )
    cmm = mpl.create_required_encryption_context_cmm(
        CreateRequiredEncryptionContextCMMInput(underlying_cmm=default, required_encryption_context_keys=json.loads(required))
    )
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    data = open(src, "rb").read()
    if mode == "encrypt":
        out, _ = client.encrypt(source=data, materials_manager=cmm, encryption_context=json.loads(ctx))
    else:
        out, header = client.decrypt(source=data, materials_manager=cmm, encryption_context=json.loads(ctx))
        sys.stderr.write(json.dumps(dict(header.encryption_context)) + "\n")
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
