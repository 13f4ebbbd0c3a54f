#!/usr/bin/env python3
"""Writes tests/vectors/core/regions-and-import.json: hand-written cases for
imported-key states and multi-Region keys (kms-semantics §8-9)."""
import json, os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from to_aws_shape import convert_doc  # noqa: E402  (AWS's wire shape)
T0 = 1767225600000
DAY = 86400000

def step(op, req, region=None, error=None, expect=None, save=None):
    s = {"op": op, "request": req}
    if region: s["Region"] = region
    if error: s["error"] = error
    if expect is not None: s["expect"] = expect
    if save: s["save"] = save
    return s

US, EU, AP = "us-east-1", "eu-west-1", "ap-south-1"
scen = [
 {"name": "EXTERNAL keys before and after their material", "rng_seed": "71" * 32, "start_time_ms": T0, "steps": [
    step("CreateKey", {"Origin": "EXTERNAL"}, save={"k": "KeyMetadata.KeyId"}, expect={"KeyMetadata": {"KeyState": "PendingImport", "Origin": "EXTERNAL", "CurrentKeyMaterialId": None}}),
    step("Encrypt", {"KeyId": "${k}", "Plaintext": "00"}, error="KMSInvalidStateException"),
    step("EnableKey", {"KeyId": "${k}"}, error="KMSInvalidStateException"),
    step("EnableKeyRotation", {"KeyId": "${k}"}, error="UnsupportedOperationException"),
    step("GetParametersForImport", {"KeyId": "${k}", "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}, expect={"ParametersValidToMs": T0 + DAY}),
    step("GetParametersForImport", {"KeyId": "${k}", "WrappingAlgorithm": "RSAES_OAEP_SHA_256"}, error="ValidationException"),
    step("GetParametersForImport", {"KeyId": "${k}", "WrappingAlgorithm": "RSAES_PKCS1_V1_5", "WrappingKeySpec": "RSA_2048"}, error="UnsupportedOperationException"),
    step("ImportKeyMaterial", {"KeyId": "${k}", "ImportToken": "srim1nope", "EncryptedKeyMaterial": "00", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}, error="InvalidImportTokenException"),
    step("ImportKeyMaterial", {"KeyId": "${k}", "ImportToken": "srim1nope", "EncryptedKeyMaterial": "00"}, error="ValidationException"),
    step("DeleteImportedKeyMaterial", {"KeyId": "${k}"}),
    # Several materials per key: a key without material lists none, has none
    # to delete or rotate to; material ids are 64 lowercase hex.
    step("ListKeyRotations", {"KeyId": "${k}", "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}, expect={"Rotations": [], "Truncated": False}),
    step("DeleteImportedKeyMaterial", {"KeyId": "${k}", "KeyMaterialId": "ab" * 32}, error="NotFoundException"),
    step("DeleteImportedKeyMaterial", {"KeyId": "${k}", "KeyMaterialId": "AB" * 32}, error="ValidationException"),
    step("RotateKeyOnDemand", {"KeyId": "${k}"}, error="UnsupportedOperationException"),
    step("ScheduleKeyDeletion", {"KeyId": "${k}", "PendingWindowInDays": 7}, expect={"KeyState": "PendingDeletion"}),
    step("CancelKeyDeletion", {"KeyId": "${k}"}),
    step("DescribeKey", {"KeyId": "${k}"}, expect={"KeyMetadata": {"KeyState": "PendingImport"}}),
    step("CreateKey", {}, save={"n": "KeyMetadata.KeyId"}),
    step("GetParametersForImport", {"KeyId": "${n}", "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}, error="UnsupportedOperationException"),
    step("DeleteImportedKeyMaterial", {"KeyId": "${n}"}, error="UnsupportedOperationException"),
    step("CreateKey", {"Origin": "EXTERNAL", "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, expect={"KeyMetadata": {"KeyState": "PendingImport", "Origin": "EXTERNAL", "KeySpec": "HMAC_256"}}),
    step("CreateKey", {"Origin": "EXTERNAL", "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, expect={"KeyMetadata": {"KeyState": "PendingImport", "Origin": "EXTERNAL"}}),
    step("CreateKey", {"Origin": "EXTERNAL", "KeySpec": "ML_DSA_44", "KeyUsage": "SIGN_VERIFY"}, error="UnsupportedOperationException"),
    step("CreateKey", {"Origin": "AWS_CLOUDHSM"}, error="UnsupportedOperationException"),
 ]},
 {"name": "multi-Region keys", "rng_seed": "72" * 32, "start_time_ms": T0, "regions": [US, EU, AP], "steps": [
    step("CreateKey", {"MultiRegion": True}, save={"k": "KeyMetadata.KeyId"}, expect={"KeyMetadata": {"MultiRegion": True, "MultiRegionConfiguration": {"MultiRegionKeyType": "PRIMARY", "PrimaryKey": {"Region": US}, "ReplicaKeys": []}}}),
    step("CreateKey", {}, save={"single": "KeyMetadata.KeyId"}),
    step("ReplicateKey", {"KeyId": "${single}", "ReplicaRegion": EU}, error="UnsupportedOperationException"),
    step("ReplicateKey", {"KeyId": "${k}", "ReplicaRegion": EU, "Description": "eu replica", "Tags": [{"TagKey": "r", "TagValue": "eu"}]},
         expect={"ReplicaKeyMetadata": {"KeyId": "${k}", "Description": "eu replica", "KeyState": "Enabled", "MultiRegionConfiguration": {"MultiRegionKeyType": "REPLICA", "PrimaryKey": {"Region": US}}}, "ReplicaTags": [{"TagKey": "r", "TagValue": "eu"}]}),
    step("ReplicateKey", {"KeyId": "${k}", "ReplicaRegion": EU}, error="AlreadyExistsException"),
    step("ReplicateKey", {"KeyId": "${k}", "ReplicaRegion": AP}, region=EU, error="UnsupportedOperationException"),
    step("DescribeKey", {"KeyId": "${k}"}, expect={"KeyMetadata": {"MultiRegionConfiguration": {"ReplicaKeys": [{"Region": EU}]}}}),
    step("Encrypt", {"KeyId": "${k}", "Plaintext": "636f7079", "EncryptionContext": {"snap": "1"}}, save={"blob": "CiphertextBlob"}),
    step("Decrypt", {"CiphertextBlob": "${blob}", "EncryptionContext": {"snap": "1"}}, region=EU, expect={"Plaintext": "636f7079"}),
    step("ListResourceTags", {"KeyId": "${k}"}, expect={"Tags": []}),
    step("RotateKeyOnDemand", {"KeyId": "${k}"}, region=EU, error="UnsupportedOperationException"),
    step("EnableKeyRotation", {"KeyId": "${k}", "RotationPeriodInDays": 180}),
    step("GetKeyRotationStatus", {"KeyId": "${k}"}, region=EU, expect={"KeyRotationEnabled": True, "RotationPeriodInDays": 180}),
    step("RotateKeyOnDemand", {"KeyId": "${k}"}),
    step("Encrypt", {"KeyId": "${k}", "Plaintext": "6e6577"}, save={"blob2": "CiphertextBlob", "m2": "KeyMaterialId"}),
    step("Decrypt", {"CiphertextBlob": "${blob2}"}, region=EU, expect={"Plaintext": "6e6577", "KeyMaterialId": "${m2}"}),
    step("DisableKey", {"KeyId": "${k}"}, region=EU),
    step("Decrypt", {"CiphertextBlob": "${blob2}"}, region=EU, error="DisabledException"),
    step("Decrypt", {"CiphertextBlob": "${blob2}"}, expect={"Plaintext": "6e6577"}),
    step("EnableKey", {"KeyId": "${k}"}, region=EU),
    step("ReplicateKey", {"KeyId": "${k}", "ReplicaRegion": AP}),
    step("UpdatePrimaryRegion", {"KeyId": "${k}", "PrimaryRegion": EU}),
    step("DescribeKey", {"KeyId": "${k}"}, region=AP, expect={"KeyMetadata": {"MultiRegionConfiguration": {"MultiRegionKeyType": "REPLICA", "PrimaryKey": {"Region": EU}}}}),
    step("RotateKeyOnDemand", {"KeyId": "${k}"}, error="UnsupportedOperationException"),
    step("RotateKeyOnDemand", {"KeyId": "${k}"}, region=EU),
    step("Encrypt", {"KeyId": "${k}", "Plaintext": "6575"}, region=EU, save={"blob3": "CiphertextBlob"}),
    step("Decrypt", {"CiphertextBlob": "${blob3}"}, region=AP, expect={"Plaintext": "6575"}),
    step("Decrypt", {"CiphertextBlob": "${blob3}"}, region=US, expect={"Plaintext": "6575"}),
    step("ScheduleKeyDeletion", {"KeyId": "${k}", "PendingWindowInDays": 7}, region=EU, expect={"KeyState": "PendingReplicaDeletion", "DeletionDateMs": None}),
    step("Encrypt", {"KeyId": "${k}", "Plaintext": "00"}, region=EU, error="KMSInvalidStateException"),
    step("ScheduleKeyDeletion", {"KeyId": "${k}", "PendingWindowInDays": 7}, region=US),
    step("ScheduleKeyDeletion", {"KeyId": "${k}", "PendingWindowInDays": 7}, region=AP),
    {"advance_ms": 7 * DAY},
    step("DescribeKey", {"KeyId": "${k}"}, region=US, error="NotFoundException"),
    step("DescribeKey", {"KeyId": "${k}"}, region=AP, error="NotFoundException"),
    step("DescribeKey", {"KeyId": "${k}"}, region=EU, expect={"KeyMetadata": {"KeyState": "PendingDeletion"}}),
    {"advance_ms": 7 * DAY},
    step("DescribeKey", {"KeyId": "${k}"}, region=EU, error="NotFoundException"),
    # An imported multi-Region key's replica starts without material (none
    # travels): it lists no material and waits for its own import.
    step("CreateKey", {"Origin": "EXTERNAL", "MultiRegion": True}, save={"x": "KeyMetadata.KeyId"}, expect={"KeyMetadata": {"KeyState": "PendingImport"}}),
    step("ReplicateKey", {"KeyId": "${x}", "ReplicaRegion": AP}, expect={"ReplicaKeyMetadata": {"KeyState": "PendingImport", "Origin": "EXTERNAL", "CurrentKeyMaterialId": None}}),
    step("ListKeyRotations", {"KeyId": "${x}", "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}, region=AP, expect={"Rotations": []}),
    step("GetParametersForImport", {"KeyId": "${x}", "WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256", "WrappingKeySpec": "RSA_3072"}, region=AP, expect={"KeyId": "arn:aws:kms:ap-south-1:111122223333:key/${x}"}),
 ]},
]
out = os.path.join(os.path.dirname(__file__), "..", "core", "regions-and-import.json")
json.dump(convert_doc({"format": "strongroom-scenarios/1", "description": "Hand-written cases for imported-key states and multi-Region keys (kms-semantics §8-9); generated from tests/vectors/tools/gen_regions.py. Scenarios with \"regions\" open one KMS per region (first is the default; same account and clock; RNG seed with its last byte XORed with the region's index); a step's \"Region\" picks one; ReplicateKey and UpdatePrimaryRegion name the other region in the request.", "account": "111122223333", "region": US, "scenarios": scen}, "regions-and-import.json"), open(out, "w"), indent=1)
print(sum(len(s["steps"]) for s in scen), "steps")
