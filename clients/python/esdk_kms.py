"""The official AWS Encryption SDK (Python, aws-encryption-sdk pinned in
scripts/lib.sh) with its AWS KMS master key provider pointed at a KMS
endpoint: Strongroom's `strongroom serve`, or moto's server.

The SDK makes its own boto3 KMS clients; they take AWS_ENDPOINT_URL_KMS,
AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment,
as for any application pointed at a local endpoint.

Usage:
  esdk_kms.py check
      create a key (boto3), encrypt and decrypt a message through the SDK's
      KMS master key provider with an encryption context; a provider for
      another key cannot open it; a tampered message is refused. Prints a
      closing "N passed, N failed" line.
  esdk_kms.py create-key
      print the ARN of a new symmetric key.
  esdk_kms.py encrypt KEY_ARN IN OUT CONTEXT_JSON [SUITE]
  esdk_kms.py decrypt KEY_ARN IN OUT
      one message, for the interop test with Strongroom's own ESDK KMS
      keyring (clients/rust/tests/esdk_interop.rs); SUITE is the algorithm
      suite id in hex (default: the SDK's, 0578); decrypt prints the
      message's encryption context as JSON on stdout.
"""
import json
import logging
import os
import sys

import aws_encryption_sdk
import boto3
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from cryptography.exceptions import InvalidTag

CLIENT = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def provider(key_arn):
    return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])


def create_key(description):
    # boto3 reads AWS_DEFAULT_REGION, not AWS_REGION (the other SDKs' variable).
    kms = boto3.client("kms", region_name=os.environ["AWS_REGION"])
    return kms.create_key(Description=description)["KeyMetadata"]["Arn"]


def check():
    passed = failed = 0

    def run(name, fn):
        nonlocal passed, failed
        try:
            fn()
        except Exception as e:  # noqa: BLE001 -- every failure is reported, then counted
            failed += 1
            print(f"not ok - esdk-python: {name}: {type(e).__name__}: {e}")
        else:
            passed += 1
            print(f"ok - esdk-python: {name}")

    # The SDK logs a traceback for every refused message; the refusals are
    # what the checks below expect.
    logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
    state = {}
    context = {"purpose": "client-check", "client": "esdk-python"}
    plaintext = os.urandom(10_000)

    def keys():
        state["arn"] = create_key("strongroom client check (esdk-python)")
        state["other"] = create_key("strongroom client check (esdk-python, other)")

    def round_trip():
        msg, header = CLIENT.encrypt(source=plaintext, key_provider=provider(state["arn"]), encryption_context=context,
                                     frame_length=4096)
        assert plaintext not in msg, "the message hides the plaintext"
        edks = header.encrypted_data_keys
        assert [k.key_provider.provider_id for k in edks] == ["aws-kms"], edks
        assert edks.pop().key_provider.key_info == state["arn"].encode(), "the EDK names the key ARN"
        state["msg"] = msg
        back, dheader = CLIENT.decrypt(source=msg, key_provider=provider(state["arn"]))
        assert back == plaintext, "decrypt gives back the plaintext"
        for k, v in context.items():
            assert dheader.encryption_context[k] == v, dheader.encryption_context

    def other_key_refused():
        try:
            CLIENT.decrypt(source=state["msg"], key_provider=provider(state["other"]))
        except aws_encryption_sdk.exceptions.DecryptKeyError:
            return
        raise AssertionError("a provider for another key opened the message")

    def tamper_refused():
        t = bytearray(state["msg"])
        t[len(t) // 2] ^= 1
        try:
            CLIENT.decrypt(source=bytes(t), key_provider=provider(state["arn"]))
        except (aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError, InvalidTag):
            return
        raise AssertionError("a tampered message opened")

    run("CreateKey (boto3)", keys)
    run("encrypt and decrypt through the KMS master key provider", round_trip)
    run("a provider for another key cannot decrypt", other_key_refused)
    run("a tampered message is refused", tamper_refused)
    print(f"esdk-python: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    for v in ("AWS_ENDPOINT_URL_KMS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        if not os.environ.get(v):
            sys.exit(f"esdk_kms.py: set {v}")
    cmd = argv[1]
    if cmd == "check":
        return check()
    if cmd == "create-key":
        print(create_key("strongroom esdk interop"))
        return 0
    if cmd == "encrypt" and len(argv) in (6, 7):
        arn, src, dst, ctx = argv[2:6]
        with open(src, "rb") as f:
            data = f.read()
        extra = {"algorithm": Algorithm.get_by_id(int(argv[6], 16))} if len(argv) == 7 else {}
        msg, _ = CLIENT.encrypt(source=data, key_provider=provider(arn), encryption_context=json.loads(ctx), **extra)
        with open(dst, "wb") as f:
            f.write(msg)
        return 0
    if cmd == "decrypt" and len(argv) == 5:
        arn, src, dst = argv[2:5]
        with open(src, "rb") as f:
            data = f.read()
        out, header = CLIENT.decrypt(source=data, key_provider=provider(arn))
        with open(dst, "wb") as f:
            f.write(out)
        print(json.dumps(dict(header.encryption_context)))
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
