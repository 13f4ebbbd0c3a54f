#!/usr/bin/env python3
"""Strongroom's envelope encryption from Python against the official
aws-encryption-sdk (suites 0x0478 and 0x0578, with and without its caching
CMM) and against cryptography's bare AESGCM, 1 KiB / 64 KiB / 1 MiB,
encrypt + decrypt round trips, interleaved in one run (each round measures
every contender once, in rotating order; the median of the rounds is
reported).

    python bench.py [--rounds N] [--quick]

Prints a table and the ratios the issue sets targets for (Strongroom vs the
official SDK, same suite, no cache on either side: >= 30x at 1 KiB,
>= 20x at 1 MiB).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Measure the installed package, not the source tree beside this script.
_here = pathlib.Path(__file__).resolve().parent
sys.path = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _here]
import strongroom  # noqa: E402

KEY = os.urandom(32)
SIZES = [("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)]
SUITES = {
    0x0478: (strongroom.Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY, Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY),
    0x0578: (
        strongroom.Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ),
}


def contenders(data: bytes) -> Dict[str, Callable[[], None]]:
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    mk = RawMasterKey(
        provider_id="bench",
        key_id=b"k",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=KEY,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )
    cache = aws_encryption_sdk.LocalCryptoMaterialsCache(capacity=100)
    caching = aws_encryption_sdk.CachingCryptoMaterialsManager(
        master_key_provider=mk, cache=cache, max_age=600.0, max_messages_encrypted=1 << 32
    )
    raw = strongroom.Envelope.raw_aes(key_namespace="bench", key_name="k", wrapping_key=KEY)
    kms = strongroom.Kms.in_memory()
    key = kms.create_key().key_metadata.arn
    kms_env = kms.envelope(key)
    kms_cached = kms.envelope(key, cache=strongroom.CacheConfig(capacity=100, max_age=600))
    ctx = {"tenant": "acme"}
    out: Dict[str, Callable[[], None]] = {}
    for sid, (ours, theirs) in SUITES.items():
        tag = f"{sid:04x}"

        def sdk(theirs: Algorithm = theirs) -> None:
            ct, _ = client.encrypt(source=data, key_provider=mk, encryption_context=ctx, algorithm=theirs)
            pt, _ = client.decrypt(source=ct, key_provider=mk)
            assert len(pt) == len(data)

        def sdk_cached(theirs: Algorithm = theirs) -> None:
            ct, _ = client.encrypt(source=data, materials_manager=caching, encryption_context=ctx, algorithm=theirs)
            pt, _ = client.decrypt(source=ct, materials_manager=caching)
            assert len(pt) == len(data)

        def ours_raw(ours: strongroom.Suite = ours) -> None:
            m = raw.encrypt(data, encryption_context=ctx, suite=ours)
            assert len(raw.decrypt(m).plaintext) == len(data)

        def ours_kms(ours: strongroom.Suite = ours) -> None:
            m = kms_env.encrypt(data, encryption_context=ctx, suite=ours)
            assert len(kms_env.decrypt(m).plaintext) == len(data)

        def ours_cached(ours: strongroom.Suite = ours) -> None:
            m = kms_cached.encrypt(data, encryption_context=ctx, suite=ours)
            assert len(kms_cached.decrypt(m).plaintext) == len(data)

        out[f"aws-encryption-sdk {tag}"] = sdk
        out[f"aws-encryption-sdk {tag} +cache"] = sdk_cached
        out[f"strongroom raw-aes {tag}"] = ours_raw
        out[f"strongroom kms {tag}"] = ours_kms
        out[f"strongroom kms {tag} +cache"] = ours_cached

    aes = AESGCM(KEY)
    nonce = os.urandom(12)

    def bare() -> None:
        assert len(aes.decrypt(nonce, aes.encrypt(nonce, data, b"aad"), b"aad")) == len(data)

    out["cryptography AESGCM (bare)"] = bare
    return out


def time_one(fn: Callable[[], None], budget: float) -> float:
    """Seconds per call: as many calls as fit in `budget` (at least 1)."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= budget:
            return el / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one short round (CI smoke run)")
    a = ap.parse_args()
    rounds, budget = (1, 0.05) if a.quick else (a.rounds, 0.3)
    results: Dict[Tuple[str, str], float] = {}
    for label, size in SIZES:
        data = os.urandom(size)
        cs = contenders(data)
        names = list(cs)
        samples: Dict[str, List[float]] = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for n in order:
                samples[n].append(time_one(cs[n], budget))
        for n in names:
            results[(label, n)] = statistics.median(samples[n])
    print(f"{'size':6} {'contender':34} {'round trip':>12} {'MB/s':>9}")
    for (label, n), t in results.items():
        size = dict(SIZES)[label]
        print(f"{label:6} {n:34} {t * 1e6:10.1f}µs {2 * size / t / 1e6:9.1f}")
    print("\nStrongroom vs the official SDK, same suite, raw AES key, no cache (targets: >=30x at 1 KiB, >=20x at 1 MiB):")
    for label, _ in SIZES:
        for sid in SUITES:
            tag = f"{sid:04x}"
            sdk = results[(label, f"aws-encryption-sdk {tag}")]
            ours = results[(label, f"strongroom raw-aes {tag}")]
            kms_ = results[(label, f"strongroom kms {tag}")]
            print(f"  {label:6} {tag}: raw-aes {sdk / ours:6.1f}x   kms keyring {sdk / kms_:6.1f}x")


if __name__ == "__main__":
    main()
