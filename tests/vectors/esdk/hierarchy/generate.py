"""Known-answer vectors for the hierarchical keyring's EDK ciphertext
(aws-kms-hierarchy), computed from the MPL specification with pyca/cryptography
(KBKDFHMAC in counter mode, AESGCM) independently of Strongroom's Rust code:

    python3 generate.py > kat.json

Rust replays them in core/tests/esdk_hierarchy.rs."""

import json
import struct
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.kbkdf import CounterLocation, KBKDFHMAC, Mode

LABEL = b"aws-kms-hierarchy"


def serialize_context(ctx):
    if not ctx:
        return b""
    items = sorted((k.encode(), v.encode()) for k, v in ctx.items())
    out = struct.pack(">H", len(items))
    for k, v in items:
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return out


def derive(branch_key, salt):
    kdf = KBKDFHMAC(
        algorithm=hashes.SHA256(),
        mode=Mode.CounterMode,
        length=32,
        rlen=4,
        llen=4,
        location=CounterLocation.BeforeFixed,
        label=LABEL,
        context=salt,
        fixed=None,
    )
    return kdf.derive(branch_key)


def vector(name, branch_key, branch_key_id, version, salt, iv, data_key, ctx):
    v = uuid.UUID(version).bytes
    aad = LABEL + branch_key_id.encode() + v + serialize_context(ctx)
    sealed = AESGCM(derive(branch_key, salt)).encrypt(iv, data_key, aad)
    return {
        "name": name,
        "branchKey": branch_key.hex(),
        "branchKeyId": branch_key_id,
        "version": version,
        "salt": salt.hex(),
        "iv": iv.hex(),
        "dataKey": data_key.hex(),
        "encryptionContext": ctx,
        "serializedContext": serialize_context(ctx).hex(),
        "wrappingKey": derive(branch_key, salt).hex(),
        "edkCiphertext": (salt + iv + v + sealed).hex(),
    }


vectors = [
    vector(
        "aes-256 data key, two context pairs",
        bytes(range(32)),
        "tenant-a",
        "7f3b9c2e-5d41-4a8e-9b6f-0c1d2e3f4a5b",
        bytes(range(100, 116)),
        bytes(range(200, 212)),
        bytes(range(50, 82)),
        {"tenant": "a", "purpose": "kat"},
    ),
    vector(
        "aes-128 data key (legacy suite), empty context",
        bytes([0xA5] * 32),
        "3c1e8d52-branch",
        "00000000-0000-4000-8000-000000000001",
        bytes([1] * 16),
        bytes([2] * 12),
        bytes([3] * 16),
        {},
    ),
    vector(
        "non-ASCII id and context",
        bytes(range(255, 223, -1)),
        "clé-ünïcode",
        "c0ffee00-1234-4abc-8def-001122334455",
        bytes(range(16)),
        bytes(range(12)),
        bytes(range(32)),
        {"région": "eu-west-3", "aws-crypto-public-key": "AkV0Ofake"},
    ),
]
print(json.dumps({"source": "generate.py (pyca/cryptography, from the MPL specification)", "vectors": vectors}, indent=2, ensure_ascii=False))
