#!/usr/bin/env python3
"""Writes tests/vectors/core/asymmetric.json: hand-written behaviour cases for
asymmetric and HMAC keys (kms-semantics §4-5). Expectations are written by
hand; signatures, MACs and shared secrets are checked by round trip and by
agreement between two sides, not by frozen bytes."""
import json, os, hashlib
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from to_aws_shape import convert_doc  # noqa: E402  (AWS's wire shape)

T0 = 1767225600000
msg = "6d657373616765"  # "message"
digest256 = hashlib.sha256(b"message").hexdigest()
digest512 = hashlib.sha512(b"message").hexdigest()

def step(op, req, error=None, expect=None, save=None):
    s = {"op": op, "request": req}
    if error: s["error"] = error
    if expect is not None: s["expect"] = expect
    if save: s["save"] = save
    return s

def key(spec, usage, name):
    return step("CreateKey", {"KeySpec": spec, "KeyUsage": usage}, save={name: "KeyMetadata.KeyId"},
                expect={"KeyMetadata": {"KeySpec": spec, "KeyUsage": usage}})

def sc(name, seed, steps):
    return {"name": name, "rng_seed": seed * 32, "start_time_ms": T0, "steps": steps}

scen = [
 sc("ECDSA sign and verify", "a1", [
    key("ECC_NIST_P256", "SIGN_VERIFY", "p256"),
    key("ECC_NIST_P384", "SIGN_VERIFY", "p384"),
    step("GetPublicKey", {"KeyId": "${p256}"}, expect={"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY", "SigningAlgorithms": ["ECDSA_SHA_256"], "EncryptionAlgorithms": []}),
    step("Sign", {"KeyId": "${p256}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256"}, save={"s1": "Signature"}, expect={"SigningAlgorithm": "ECDSA_SHA_256"}),
    step("Verify", {"KeyId": "${p256}", "Message": msg, "Signature": "${s1}", "SigningAlgorithm": "ECDSA_SHA_256"}, expect={"SignatureValid": True}),
    step("Verify", {"KeyId": "${p256}", "Message": digest256, "MessageType": "DIGEST", "Signature": "${s1}", "SigningAlgorithm": "ECDSA_SHA_256"}, expect={"SignatureValid": True}),
    step("Sign", {"KeyId": "${p256}", "Message": digest256, "MessageType": "DIGEST", "SigningAlgorithm": "ECDSA_SHA_256"}, save={"s2": "Signature"}),
    step("Verify", {"KeyId": "${p256}", "Message": msg, "Signature": "${s2}", "SigningAlgorithm": "ECDSA_SHA_256"}, expect={"SignatureValid": True}),
    step("Verify", {"KeyId": "${p256}", "Message": "6f74686572", "Signature": "${s1}", "SigningAlgorithm": "ECDSA_SHA_256"}, error="KMSInvalidSignatureException"),
    step("Verify", {"KeyId": "${p384}", "Message": msg, "Signature": "${s1}", "SigningAlgorithm": "ECDSA_SHA_384"}, error="KMSInvalidSignatureException"),
    step("Sign", {"KeyId": "${p256}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_384"}, error="InvalidKeyUsageException"),
    step("Sign", {"KeyId": "${p256}", "Message": digest256[:-2], "MessageType": "DIGEST", "SigningAlgorithm": "ECDSA_SHA_256"}, error="ValidationException"),
    step("Sign", {"KeyId": "${p256}", "Message": "", "SigningAlgorithm": "ECDSA_SHA_256"}, error="ValidationException"),
    step("Sign", {"KeyId": "${p256}", "Message": msg}, error="ValidationException"),
    step("Encrypt", {"KeyId": "${p256}", "Plaintext": "00"}, error="InvalidKeyUsageException"),
    step("EnableKeyRotation", {"KeyId": "${p256}"}, error="UnsupportedOperationException"),
    step("Sign", {"KeyId": "${p384}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_384"}, save={"s3": "Signature"}),
    step("Verify", {"KeyId": "${p384}", "Message": msg, "Signature": "${s3}", "SigningAlgorithm": "ECDSA_SHA_384"}, expect={"SignatureValid": True}),
    step("DisableKey", {"KeyId": "${p256}"}),
    step("Sign", {"KeyId": "${p256}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256"}, error="DisabledException"),
    step("GetPublicKey", {"KeyId": "${p256}"}, error="DisabledException"),
 ]),
 sc("RSA signatures and OAEP encryption", "b2", [
    key("RSA_2048", "SIGN_VERIFY", "rs"),
    key("RSA_2048", "ENCRYPT_DECRYPT", "re"),
    step("Sign", {"KeyId": "${rs}", "Message": msg, "SigningAlgorithm": "RSASSA_PSS_SHA_256"}, save={"pss": "Signature"}),
    step("Verify", {"KeyId": "${rs}", "Message": msg, "Signature": "${pss}", "SigningAlgorithm": "RSASSA_PSS_SHA_256"}, expect={"SignatureValid": True}),
    step("Verify", {"KeyId": "${rs}", "Message": msg, "Signature": "${pss}", "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}, error="KMSInvalidSignatureException"),
    step("Sign", {"KeyId": "${rs}", "Message": msg, "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}, save={"p1": "Signature"}),
    step("Verify", {"KeyId": "${rs}", "Message": digest256, "MessageType": "DIGEST", "Signature": "${p1}", "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}, expect={"SignatureValid": True}),
    step("Sign", {"KeyId": "${rs}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256"}, error="InvalidKeyUsageException"),
    step("GetPublicKey", {"KeyId": "${re}"}, expect={"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"], "SigningAlgorithms": []}),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "73656372657421", "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}, save={"ct1": "CiphertextBlob"}, expect={"EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
    step("Decrypt", {"KeyId": "${re}", "CiphertextBlob": "${ct1}", "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}, expect={"Plaintext": "73656372657421", "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
    step("Decrypt", {"KeyId": "${re}", "CiphertextBlob": "${ct1}", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, error="InvalidCiphertextException"),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "00" * 214, "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "00" * 215, "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}, error="ValidationException"),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "00", "EncryptionAlgorithm": "SM2PKE"}, error="InvalidKeyUsageException"),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "73656372657421", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, save={"ct": "CiphertextBlob"}, expect={"EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
    step("Decrypt", {"KeyId": "${re}", "CiphertextBlob": "${ct}", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, expect={"Plaintext": "73656372657421"}),
    step("Decrypt", {"KeyId": "${re}", "CiphertextBlob": "${ct}"}, error="ValidationException"),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "00", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256", "EncryptionContext": {"a": "b"}}, error="ValidationException"),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "00"}, error="ValidationException"),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "00" * 191, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, error="ValidationException"),
    step("Encrypt", {"KeyId": "${re}", "Plaintext": "00" * 190, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
    step("Decrypt", {"KeyId": "${re}", "CiphertextBlob": "00" * 256, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, error="InvalidCiphertextException"),
 ]),
 sc("ECDH agrees from both sides", "c3", [
    key("ECC_NIST_P256", "KEY_AGREEMENT", "a"),
    key("ECC_NIST_P256", "KEY_AGREEMENT", "b"),
    key("ECC_NIST_P384", "SIGN_VERIFY", "other"),
    step("GetPublicKey", {"KeyId": "${a}"}, save={"pa": "PublicKey"}, expect={"KeyAgreementAlgorithms": ["ECDH"]}),
    step("GetPublicKey", {"KeyId": "${b}"}, save={"pb": "PublicKey"}),
    step("GetPublicKey", {"KeyId": "${other}"}, save={"p384": "PublicKey"}),
    step("DeriveSharedSecret", {"KeyId": "${a}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "${pb}"}, save={"ab": "SharedSecret"}),
    step("DeriveSharedSecret", {"KeyId": "${b}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "${pa}"}, expect={"SharedSecret": "${ab}", "KeyAgreementAlgorithm": "ECDH", "KeyOrigin": "AWS_KMS"}),
    step("DeriveSharedSecret", {"KeyId": "${a}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "${p384}"}, error="ValidationException"),
    step("DeriveSharedSecret", {"KeyId": "${a}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "3059"}, error="ValidationException"),
    step("DeriveSharedSecret", {"KeyId": "${a}", "PublicKey": "${pb}"}, error="ValidationException"),
    step("DeriveSharedSecret", {"KeyId": "${other}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "${pb}"}, error="InvalidKeyUsageException"),
    step("Sign", {"KeyId": "${a}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256"}, error="InvalidKeyUsageException"),
 ]),
 sc("HMAC", "d4", [
    key("HMAC_256", "GENERATE_VERIFY_MAC", "h"),
    step("CreateKey", {"KeySpec": "HMAC_256"}, error="ValidationException"),
    step("GenerateMac", {"KeyId": "${h}", "Message": msg, "MacAlgorithm": "HMAC_SHA_256"}, save={"mac": "Mac"}),
    step("VerifyMac", {"KeyId": "${h}", "Message": msg, "MacAlgorithm": "HMAC_SHA_256", "Mac": "${mac}"}, expect={"MacValid": True}),
    step("VerifyMac", {"KeyId": "${h}", "Message": "6d65737361676f", "MacAlgorithm": "HMAC_SHA_256", "Mac": "${mac}"}, error="KMSInvalidMacException"),
    step("GenerateMac", {"KeyId": "${h}", "Message": msg, "MacAlgorithm": "HMAC_SHA_512"}, error="InvalidKeyUsageException"),
    step("GenerateMac", {"KeyId": "${h}", "Message": msg}, error="ValidationException"),
    step("GetPublicKey", {"KeyId": "${h}"}, error="UnsupportedOperationException"),
    step("RotateKeyOnDemand", {"KeyId": "${h}"}, error="UnsupportedOperationException"),
 ]),
 sc("secp256k1, P-521, Ed25519 and ML-DSA signatures", "f6", [
    key("ECC_SECG_P256K1", "SIGN_VERIFY", "k1"),
    key("ECC_NIST_P521", "SIGN_VERIFY", "p521"),
    key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "ed"),
    key("ML_DSA_44", "SIGN_VERIFY", "ml44"),
    key("ML_DSA_65", "SIGN_VERIFY", "ml65"),
    key("ML_DSA_87", "SIGN_VERIFY", "ml87"),
    step("CreateKey", {"KeySpec": "ECC_SECG_P256K1", "KeyUsage": "KEY_AGREEMENT"}, error="ValidationException"),
    step("CreateKey", {"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "ENCRYPT_DECRYPT"}, error="ValidationException"),
    step("CreateKey", {"KeySpec": "ML_DSA_65", "KeyUsage": "KEY_AGREEMENT"}, error="ValidationException"),
    step("CreateKey", {"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"}, error="UnsupportedOperationException"),
    step("DescribeKey", {"KeyId": "${k1}"}, expect={"KeyMetadata": {"SigningAlgorithms": ["ECDSA_SHA_256"], "CustomerMasterKeySpec": "ECC_SECG_P256K1"}}),
    step("DescribeKey", {"KeyId": "${ed}"}, expect={"KeyMetadata": {"SigningAlgorithms": ["ED25519_SHA_512", "ED25519_PH_SHA_512"], "CustomerMasterKeySpec": None}}),
    step("GetPublicKey", {"KeyId": "${p521}"}, expect={"KeySpec": "ECC_NIST_P521", "SigningAlgorithms": ["ECDSA_SHA_512"]}),
    step("GetPublicKey", {"KeyId": "${ml65}"}, expect={"KeySpec": "ML_DSA_65", "SigningAlgorithms": ["ML_DSA_SHAKE_256"]}),
    step("Sign", {"KeyId": "${k1}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256"}, save={"k1s": "Signature"}),
    step("Verify", {"KeyId": "${k1}", "Message": digest256, "MessageType": "DIGEST", "Signature": "${k1s}", "SigningAlgorithm": "ECDSA_SHA_256"}, expect={"SignatureValid": True}),
    step("Verify", {"KeyId": "${k1}", "Message": "6f74686572", "Signature": "${k1s}", "SigningAlgorithm": "ECDSA_SHA_256"}, error="KMSInvalidSignatureException"),
    step("Sign", {"KeyId": "${k1}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_512"}, error="InvalidKeyUsageException"),
    step("Sign", {"KeyId": "${p521}", "Message": digest512, "MessageType": "DIGEST", "SigningAlgorithm": "ECDSA_SHA_512"}, save={"p5s": "Signature"}),
    step("Verify", {"KeyId": "${p521}", "Message": msg, "Signature": "${p5s}", "SigningAlgorithm": "ECDSA_SHA_512"}, expect={"SignatureValid": True}),
    step("Sign", {"KeyId": "${p521}", "Message": digest256, "MessageType": "DIGEST", "SigningAlgorithm": "ECDSA_SHA_512"}, error="ValidationException"),
    step("Sign", {"KeyId": "${ed}", "Message": msg, "SigningAlgorithm": "ED25519_SHA_512"}, save={"eds": "Signature"}),
    step("Verify", {"KeyId": "${ed}", "Message": msg, "Signature": "${eds}", "SigningAlgorithm": "ED25519_SHA_512"}, expect={"SignatureValid": True}),
    step("Verify", {"KeyId": "${ed}", "Message": "6f74686572", "Signature": "${eds}", "SigningAlgorithm": "ED25519_SHA_512"}, error="KMSInvalidSignatureException"),
    step("Sign", {"KeyId": "${ed}", "Message": digest512, "MessageType": "DIGEST", "SigningAlgorithm": "ED25519_PH_SHA_512"}, save={"ph": "Signature"}),
    step("Verify", {"KeyId": "${ed}", "Message": digest512, "MessageType": "DIGEST", "Signature": "${ph}", "SigningAlgorithm": "ED25519_PH_SHA_512"}, expect={"SignatureValid": True}),
    step("Verify", {"KeyId": "${ed}", "Message": digest512, "MessageType": "DIGEST", "Signature": "${eds}", "SigningAlgorithm": "ED25519_PH_SHA_512"}, error="KMSInvalidSignatureException"),
    step("Sign", {"KeyId": "${ed}", "Message": msg, "SigningAlgorithm": "ED25519_PH_SHA_512"}, error="ValidationException"),
    step("Sign", {"KeyId": "${ed}", "Message": digest512, "MessageType": "DIGEST", "SigningAlgorithm": "ED25519_SHA_512"}, error="ValidationException"),
    step("Sign", {"KeyId": "${ed}", "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256"}, error="InvalidKeyUsageException"),
    step("Sign", {"KeyId": "${ml44}", "Message": msg, "SigningAlgorithm": "ML_DSA_SHAKE_256"}, save={"m44": "Signature"}),
    step("Verify", {"KeyId": "${ml44}", "Message": msg, "Signature": "${m44}", "SigningAlgorithm": "ML_DSA_SHAKE_256"}, expect={"SignatureValid": True}),
    step("Verify", {"KeyId": "${ml65}", "Message": msg, "Signature": "${m44}", "SigningAlgorithm": "ML_DSA_SHAKE_256"}, error="KMSInvalidSignatureException"),
    step("Sign", {"KeyId": "${ml65}", "Message": msg, "SigningAlgorithm": "ML_DSA_SHAKE_256"}, save={"m65": "Signature"}),
    step("Verify", {"KeyId": "${ml65}", "Message": msg, "Signature": "${m65}", "SigningAlgorithm": "ML_DSA_SHAKE_256"}, expect={"SignatureValid": True}),
    step("Sign", {"KeyId": "${ml87}", "Message": "00" * 64, "MessageType": "EXTERNAL_MU", "SigningAlgorithm": "ML_DSA_SHAKE_256"}, save={"m87": "Signature"}),
    step("Verify", {"KeyId": "${ml87}", "Message": "00" * 64, "MessageType": "EXTERNAL_MU", "Signature": "${m87}", "SigningAlgorithm": "ML_DSA_SHAKE_256"}, expect={"SignatureValid": True}),
    step("Verify", {"KeyId": "${ml87}", "Message": "01" * 64, "MessageType": "EXTERNAL_MU", "Signature": "${m87}", "SigningAlgorithm": "ML_DSA_SHAKE_256"}, error="KMSInvalidSignatureException"),
    step("Sign", {"KeyId": "${ml87}", "Message": "00" * 63, "MessageType": "EXTERNAL_MU", "SigningAlgorithm": "ML_DSA_SHAKE_256"}, error="ValidationException"),
    step("Sign", {"KeyId": "${ml44}", "Message": digest256, "MessageType": "DIGEST", "SigningAlgorithm": "ML_DSA_SHAKE_256"}, error="ValidationException"),
    step("Sign", {"KeyId": "${p521}", "Message": "00" * 64, "MessageType": "EXTERNAL_MU", "SigningAlgorithm": "ECDSA_SHA_512"}, error="ValidationException"),
    step("EnableKeyRotation", {"KeyId": "${ml44}"}, error="UnsupportedOperationException"),
 ]),
 sc("P-521 ECDH and RSA re-encryption", "a7", [
    key("ECC_NIST_P521", "KEY_AGREEMENT", "a"),
    key("ECC_NIST_P521", "KEY_AGREEMENT", "b"),
    step("GetPublicKey", {"KeyId": "${a}"}, save={"pa": "PublicKey"}, expect={"KeyAgreementAlgorithms": ["ECDH"]}),
    step("GetPublicKey", {"KeyId": "${b}"}, save={"pb": "PublicKey"}),
    step("DeriveSharedSecret", {"KeyId": "${a}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "${pb}"}, save={"ab": "SharedSecret"}),
    step("DeriveSharedSecret", {"KeyId": "${b}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "${pa}"}, expect={"SharedSecret": "${ab}"}),
    key("RSA_3072", "ENCRYPT_DECRYPT", "r"),
    step("CreateKey", {}, save={"s": "KeyMetadata.KeyId"}),
    step("Encrypt", {"KeyId": "${r}", "Plaintext": "73656372657421", "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}, save={"ct": "CiphertextBlob"}),
    step("ReEncrypt", {"CiphertextBlob": "${ct}", "DestinationKeyId": "${s}"}, error="InvalidCiphertextException"),
    step("ReEncrypt", {"CiphertextBlob": "${ct}", "SourceKeyId": "${r}", "DestinationKeyId": "${s}"}, error="ValidationException"),
    step("ReEncrypt", {"CiphertextBlob": "${ct}", "SourceKeyId": "${r}", "SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_1", "DestinationKeyId": "${s}", "DestinationEncryptionContext": {"k": "v"}}, save={"sym": "CiphertextBlob"}, expect={"SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_1", "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
    step("Decrypt", {"CiphertextBlob": "${sym}", "EncryptionContext": {"k": "v"}}, expect={"Plaintext": "73656372657421"}),
    step("ReEncrypt", {"CiphertextBlob": "${sym}", "SourceEncryptionContext": {"k": "v"}, "DestinationKeyId": "${r}"}, error="ValidationException"),
    step("ReEncrypt", {"CiphertextBlob": "${sym}", "SourceEncryptionContext": {"k": "v"}, "DestinationKeyId": "${r}", "DestinationEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, save={"back": "CiphertextBlob"}, expect={"DestinationEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
    step("Decrypt", {"KeyId": "${r}", "CiphertextBlob": "${back}", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, expect={"Plaintext": "73656372657421"}),
    step("ReEncrypt", {"CiphertextBlob": "${sym}", "SourceEncryptionContext": {"k": "v"}, "DestinationKeyId": "${r}", "DestinationEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "DestinationEncryptionContext": {"a": "b"}}, error="ValidationException"),
 ]),
 sc("data key pairs", "e5", [
    step("CreateKey", {}, save={"k": "KeyMetadata.KeyId"}),
    step("GenerateDataKeyPair", {"KeyId": "${k}", "KeyPairSpec": "ECC_NIST_P256", "EncryptionContext": {"p": "q"}}, save={"priv": "PrivateKeyPlaintext", "blob": "PrivateKeyCiphertextBlob"}, expect={"KeyPairSpec": "ECC_NIST_P256"}),
    step("Decrypt", {"CiphertextBlob": "${blob}", "EncryptionContext": {"p": "q"}}, expect={"Plaintext": "${priv}"}),
    step("Decrypt", {"CiphertextBlob": "${blob}"}, error="InvalidCiphertextException"),
    step("GenerateDataKeyPairWithoutPlaintext", {"KeyId": "${k}", "KeyPairSpec": "RSA_2048"}, expect={"KeyPairSpec": "RSA_2048"}),
    step("GenerateDataKeyPair", {"KeyId": "${k}", "KeyPairSpec": "ECC_SECG_P256K1", "EncryptionContext": {"p": "q"}}, save={"k1priv": "PrivateKeyPlaintext", "k1blob": "PrivateKeyCiphertextBlob"}, expect={"KeyPairSpec": "ECC_SECG_P256K1"}),
    step("Decrypt", {"CiphertextBlob": "${k1blob}", "EncryptionContext": {"p": "q"}}, expect={"Plaintext": "${k1priv}"}),
    step("GenerateDataKeyPair", {"KeyId": "${k}", "KeyPairSpec": "ECC_NIST_P521"}, expect={"KeyPairSpec": "ECC_NIST_P521"}),
    step("GenerateDataKeyPairWithoutPlaintext", {"KeyId": "${k}", "KeyPairSpec": "ECC_NIST_EDWARDS25519"}, expect={"KeyPairSpec": "ECC_NIST_EDWARDS25519", "PrivateKeyPlaintext": None}),
    step("GenerateDataKeyPair", {"KeyId": "${k}", "KeyPairSpec": "SM2"}, error="UnsupportedOperationException"),
    step("GenerateDataKeyPair", {"KeyId": "${k}"}, error="ValidationException"),
 ]),
 sc("ML-KEM encapsulation", "f6", [
    key("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", "m"),
    step("DescribeKey", {"KeyId": "${m}"}, expect={"KeyMetadata": {"EncapsulationAlgorithms": ["ML_KEM"], "SigningAlgorithms": [], "EncryptionAlgorithms": []}}),
    step("GetPublicKey", {"KeyId": "${m}"}, expect={"KeySpec": "ML_KEM_768", "KeyUsage": "ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms": ["ML_KEM"]}),
    step("Encapsulate", {"KeyId": "${m}", "EncapsulationAlgorithm": "ML_KEM"}, save={"ss": "SharedSecret", "ct": "SharedSecretCiphertextBlob"}, expect={"EncapsulationAlgorithm": "ML_KEM"}),
    step("Decapsulate", {"KeyId": "${m}", "SharedSecretCiphertextBlob": "${ct}", "EncapsulationAlgorithm": "ML_KEM"}, expect={"SharedSecret": "${ss}", "EncapsulationAlgorithm": "ML_KEM"}),
    step("Decapsulate", {"KeyId": "${m}", "SharedSecretCiphertextBlob": "00" * 1087, "EncapsulationAlgorithm": "ML_KEM"}, error="InvalidCiphertextException"),
    step("Decapsulate", {"KeyId": "${m}", "SharedSecretCiphertextBlob": "00" * 1088, "EncapsulationAlgorithm": "ML_KEM"}),
    step("Encapsulate", {"KeyId": "${m}"}, error="ValidationException"),
    step("Sign", {"KeyId": "${m}", "Message": msg, "SigningAlgorithm": "ML_DSA_SHAKE_256"}, error="InvalidKeyUsageException"),
    step("CreateKey", {"KeySpec": "ML_KEM_512", "KeyUsage": "SIGN_VERIFY"}, error="ValidationException"),
    step("CreateKey", {"KeySpec": "ECC_NIST_P256", "KeyUsage": "ENCAPSULATE_DECAPSULATE"}, error="ValidationException"),
    key("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", "m2"),
    step("Encapsulate", {"KeyId": "${m2}", "EncapsulationAlgorithm": "ML_KEM"}, save={"ss2": "SharedSecret", "ct2": "SharedSecretCiphertextBlob"}),
    step("Decapsulate", {"KeyId": "${m2}", "SharedSecretCiphertextBlob": "${ct2}", "EncapsulationAlgorithm": "ML_KEM"}, expect={"SharedSecret": "${ss2}"}),
    step("Decapsulate", {"KeyId": "${m2}", "SharedSecretCiphertextBlob": "${ct}", "EncapsulationAlgorithm": "ML_KEM"}, error="InvalidCiphertextException"),
    step("CreateKey", {}, save={"s": "KeyMetadata.KeyId"}),
    step("Encapsulate", {"KeyId": "${s}", "EncapsulationAlgorithm": "ML_KEM"}, error="InvalidKeyUsageException"),
    step("GenerateDataKeyPair", {"KeyId": "${s}", "KeyPairSpec": "ML_KEM_512"}, save={"priv": "PrivateKeyPlaintext", "blob": "PrivateKeyCiphertextBlob"}, expect={"KeyPairSpec": "ML_KEM_512"}),
    step("Decrypt", {"CiphertextBlob": "${blob}"}, expect={"Plaintext": "${priv}"}),
    step("DisableKey", {"KeyId": "${m}"}),
    step("Encapsulate", {"KeyId": "${m}", "EncapsulationAlgorithm": "ML_KEM"}, error="DisabledException"),
    step("Decapsulate", {"KeyId": "${m}", "SharedSecretCiphertextBlob": "${ct}", "EncapsulationAlgorithm": "ML_KEM"}, error="DisabledException"),
 ]),
]
out = os.path.join(os.path.dirname(__file__), "..", "core", "asymmetric.json")
json.dump(convert_doc({"format": "strongroom-scenarios/1", "description": "Hand-written asymmetric and HMAC cases (kms-semantics §4-5); generated from tests/vectors/tools/gen_asymmetric.py.", "account": "111122223333", "region": "us-east-1", "scenarios": scen}, "asymmetric.json"), open(out, "w"), indent=1)
print(sum(len(s["steps"]) for s in scen), "steps")
