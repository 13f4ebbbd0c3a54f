"""The AWS Encryption SDK's canonical test manifest, run with the official
Python SDK. Usage:
  esdk_manifest.py generate ENCRYPT_MANIFEST OUT_DIR
      encrypt every raw-key test of an awses-encrypt (v2) manifest with the
      official SDK into an awses-decrypt (v2) manifest in OUT_DIR
      (manifest.json, keys.json, plaintexts/, ciphertexts/). Tests that name
      AWS KMS keys are left out (they need AWS). Plaintexts are
      deterministic (SHA-256 counter stream), so a regenerated manifest has
      the same plaintexts.
  esdk_manifest.py decrypt DECRYPT_MANIFEST
      decrypt every test of an awses-decrypt manifest with the official SDK
      and compare the plaintexts; prints the counts, exits 1 on any failure.
Spec of both manifest formats: aws-crypto-tools-test-vector-framework,
features/0003-awses-message-encryption.md and 0004-awses-message-decryption.md."""
import base64
import hashlib
import json
import os
import sys

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey

RSA_ALGS = {
    ("pkcs1", None): WrappingAlgorithm.RSA_PKCS1,
    ("oaep-mgf1", "sha1"): WrappingAlgorithm.RSA_OAEP_SHA1_MGF1,
    ("oaep-mgf1", "sha256"): WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
    ("oaep-mgf1", "sha384"): WrappingAlgorithm.RSA_OAEP_SHA384_MGF1,
    ("oaep-mgf1", "sha512"): WrappingAlgorithm.RSA_OAEP_SHA512_MGF1,
}
AES_ALGS = {
    128: WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
    192: WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
    256: WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
}


def load(path):
    with open(path) as f:
        return json.load(f)


def file_uri(base, uri):
    assert uri.startswith("file://"), uri
    return os.path.join(os.path.dirname(base), uri[len("file://"):])


_WRAPPING_KEYS = {}


def wrapping_key(alg, material, kind):
    """Loading an RSA-4096 private key (with its checks) costs ~0.1 s: load
    each key once."""
    k = (alg, material, kind)
    if k not in _WRAPPING_KEYS:
        _WRAPPING_KEYS[k] = WrappingKey(wrapping_algorithm=alg, wrapping_key=material, wrapping_key_type=kind)
    return _WRAPPING_KEYS[k]


def master_key(spec, keys, for_decrypt):
    """A RawMasterKey for one manifest master-key entry, or None if this
    entry cannot decrypt (an encrypt-only public key)."""
    key = keys[spec["key"]]
    if spec["encryption-algorithm"] == "aes":
        alg = AES_ALGS[key["bits"]]
        material = base64.b64decode(key["material"])
        kind = EncryptionKeyType.SYMMETRIC
    else:
        alg = RSA_ALGS[(spec["padding-algorithm"], spec.get("padding-hash"))]
        if for_decrypt and not key["decrypt"]:
            return None
        material = key["material"].encode()
        kind = EncryptionKeyType.PRIVATE if key["type"] == "private" else EncryptionKeyType.PUBLIC
    return RawMasterKey(
        provider_id=spec["provider-id"],
        key_id=key["key-id"].encode(),
        wrapping_key=wrapping_key(alg, material, kind),
    )


def provider(specs, keys, for_decrypt):
    mks = [m for m in (master_key(s, keys, for_decrypt) for s in specs) if m is not None]
    first = mks[0]
    for other in mks[1:]:
        first.add_master_key_provider(other)
    return first


def plaintext(name, size):
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(("%s:%d" % (name, i)).encode()).digest()
        i += 1
    return bytes(out[:size])


def generate(src, out_dir):
    manifest = load(src)
    assert manifest["manifest"] == {"type": "awses-encrypt", "version": 2}, manifest["manifest"]
    keys_path = file_uri(src, manifest["keys"])
    keys = load(keys_path)["keys"]
    os.makedirs(os.path.join(out_dir, "plaintexts"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "ciphertexts"), exist_ok=True)
    plaintexts = {}
    for name, size in manifest["plaintexts"].items():
        plaintexts[name] = plaintext(name, size)
        with open(os.path.join(out_dir, "plaintexts", name), "wb") as f:
            f.write(plaintexts[name])
    with open(keys_path) as f, open(os.path.join(out_dir, "keys.json"), "w") as g:
        g.write(f.read())
    committing = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    legacy = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    tests = {}
    for name, t in sorted(manifest["tests"].items()):
        if any(m["type"] != "raw" for m in t["master-keys"]):
            continue
        algorithm = Algorithm.get_by_id(int(t["algorithm"], 16))
        client = committing if algorithm.is_committing() else legacy
        ct, _ = client.encrypt(
            source=plaintexts[t["plaintext"]],
            key_provider=provider(t["master-keys"], keys, False),
            encryption_context=t["encryption-context"],
            algorithm=algorithm,
            frame_length=t["frame-size"],
        )
        with open(os.path.join(out_dir, "ciphertexts", name), "wb") as f:
            f.write(ct)
        tests[name] = {
            "plaintext": "file://plaintexts/" + t["plaintext"],
            "ciphertext": "file://ciphertexts/" + name,
            "master-keys": t["master-keys"],
            # Not part of the awses-decrypt format; kept for readers that
            # re-encrypt the same test.
            "encryption-context": t["encryption-context"],
            "algorithm": t["algorithm"],
            "frame-size": t["frame-size"],
        }
    out = {
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "aws-encryption-sdk-python", "version": aws_encryption_sdk.__version__},
        "keys": "file://keys.json",
        "tests": tests,
    }
    tmp = os.path.join(out_dir, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(out_dir, "manifest.json"))
    print("generated %d tests" % len(tests))


def decrypt(path):
    manifest = load(path)
    assert manifest["manifest"]["type"] == "awses-decrypt", manifest["manifest"]
    keys = load(file_uri(path, manifest["keys"]))["keys"]
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
    ok, failed = 0, []
    for name, t in sorted(manifest["tests"].items()):
        with open(file_uri(path, t["ciphertext"]), "rb") as f:
            ct = f.read()
        with open(file_uri(path, t["plaintext"]), "rb") as f:
            want = f.read()
        try:
            got, _ = client.decrypt(source=ct, key_provider=provider(t["master-keys"], keys, True))
        except Exception as e:  # noqa: BLE001 - every failure is counted
            failed.append("%s: %s" % (name, type(e).__name__))
            continue
        if got == want:
            ok += 1
        else:
            failed.append("%s: wrong plaintext" % name)
    print("decrypted %d of %d" % (ok, len(manifest["tests"])))
    for f in failed[:20]:
        print("  failed " + f)
    sys.exit(1 if failed else 0)


def main():
    if sys.argv[1] == "generate":
        generate(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "decrypt":
        decrypt(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
