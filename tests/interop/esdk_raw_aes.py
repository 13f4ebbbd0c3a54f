"""Interop helper: the official AWS Encryption SDK (Python) with a raw AES
master key. Usage:
  esdk_raw_aes.py encrypt KEY_HEX NAMESPACE NAME IN OUT [CONTEXT_JSON] [FRAME_LEN] [SUITE]
  esdk_raw_aes.py decrypt KEY_HEX NAMESPACE NAME IN OUT
SUITE is the suite id in hex (default 0478); non-committing suites (0014 ...
0378) are produced under FORBID_ENCRYPT_ALLOW_DECRYPT. FRAME_LEN 0 gives a
non-framed body."""
import json
import sys

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey


def main():
    mode, key_hex, namespace, name, src, dst = sys.argv[1:7]
    provider = RawMasterKey(
        provider_id=namespace,
        key_id=name.encode(),
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=bytes.fromhex(key_hex),
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    data = open(src, "rb").read()
    if mode == "encrypt":
        ctx = json.loads(sys.argv[7]) if len(sys.argv) > 7 else {}
        frame = int(sys.argv[8]) if len(sys.argv) > 8 else 4096
        suite = sys.argv[9] if len(sys.argv) > 9 else "0478"
        algorithm = Algorithm.get_by_id(int(suite, 16))
        if not algorithm.is_committing():
            # Older, non-committing suites can only be produced under this policy.
            client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
        out, _ = client.encrypt(source=data, key_provider=provider, encryption_context=ctx,
                                algorithm=algorithm, frame_length=frame)
    else:
        out, header = client.decrypt(source=data, key_provider=provider)
        sys.stderr.write(json.dumps(dict(header.encryption_context)) + "\n")
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
