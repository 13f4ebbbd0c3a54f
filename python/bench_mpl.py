#!/usr/bin/env python3
"""The official AWS Encryption SDK's hierarchical keyring (from the AWS
Material Providers Library) for `bench.py`: 1 KiB encrypt + decrypt round
trips, cache warm, suite 0x0478, its branch key store on moto's DynamoDB
and KMS (no AWS account here; with the cache warm neither is called).
Runs under the MPL's own venv (`scripts/mpl-env.sh` + moto): prints the
median seconds per round trip of ROUNDS rounds of BUDGET seconds.

    python bench_mpl.py ROUNDS BUDGET
"""

import os
import statistics
import sys
import time

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
from moto import mock_aws  # noqa: E402

mock_aws().start()
import aws_encryption_sdk  # noqa: E402
import boto3  # noqa: E402
from aws_cryptographic_material_providers.keystore import KeyStore  # noqa: E402
from aws_cryptographic_material_providers.keystore.config import KeyStoreConfig  # noqa: E402
from aws_cryptographic_material_providers.keystore.models import (  # noqa: E402
    CreateKeyInput,
    CreateKeyStoreInput,
    KMSConfigurationKmsKeyArn,
)
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders  # noqa: E402
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig  # noqa: E402
from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsHierarchicalKeyringInput  # noqa: E402
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy  # noqa: E402


def main() -> None:
    rounds, budget = int(sys.argv[1]), float(sys.argv[2])
    kw = dict(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    kms = boto3.client("kms", **kw)
    ddb = boto3.client("dynamodb", **kw)
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    ks = KeyStore(
        config=KeyStoreConfig(
            ddb_client=ddb,
            ddb_table_name="branch-keys",
            logical_key_store_name="branch-keys",
            kms_client=kms,
            kms_configuration=KMSConfigurationKmsKeyArn(arn),
        )
    )
    ks.create_key_store(CreateKeyStoreInput())
    bk = ks.create_key(CreateKeyInput()).branch_key_identifier
    mpl = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
    ring = mpl.create_aws_kms_hierarchical_keyring(
        CreateAwsKmsHierarchicalKeyringInput(key_store=ks, branch_key_id=bk, ttl_seconds=3600)
    )
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    data = os.urandom(1024)
    ctx = {"tenant": "acme"}

    def once() -> None:
        ct, _ = client.encrypt(
            source=data, keyring=ring, encryption_context=ctx, algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
        )
        pt, _ = client.decrypt(source=ct, keyring=ring)
        assert pt == data

    once()  # warm the branch key cache
    samples = []
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while True:
            once()
            n += 1
            el = time.perf_counter() - start
            if el >= budget:
                samples.append(el / n)
                break
    print(statistics.median(samples))


if __name__ == "__main__":
    main()
