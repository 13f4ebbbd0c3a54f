"""boto3 against `strongroom serve` (the binary, started here on
127.0.0.1:0): round trips, errors, SigV4 refusals, policies through the
wire, multi-Region keys across the server's regions.

Run by scripts/server-test.sh: STRONGROOM_BIN is the strongroom binary.
"""

import datetime
import json
import os
import subprocess
import time

import boto3
import botocore.auth
import botocore.config
import pytest
import botocore.exceptions
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"
CONFIG = f"""
account = "{ACCOUNT}"
regions = ["us-east-1", "eu-west-1"]
[[access_keys]]
id = "AKIDROOT"
secret = "root-secret"
principal = "arn:aws:iam::{ACCOUNT}:root"
[[access_keys]]
id = "AKIDALICE"
secret = "alice-secret"
principal = "arn:aws:iam::{ACCOUNT}:user/alice"
[[access_keys]]
id = "AKIDBOB"
secret = "bob-secret"
principal = "arn:aws:iam::{ACCOUNT}:user/bob"
"""
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    d = tmp_path_factory.mktemp("server")
    (d / "cfg.toml").write_text(CONFIG)
    port_file = d / "url"
    proc = subprocess.Popen(
        [os.environ["STRONGROOM_BIN"], "serve", "--in-memory", "--listen", "127.0.0.1:0",
         "--config", str(d / "cfg.toml"), "--port-file", str(port_file), "--access-log", str(d / "access.log")],
        stdout=subprocess.PIPE,
    )
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on http://127.0.0.1:"), line
    assert port_file.read_text().strip() == line.split()[-1]
    yield line.split()[-1]
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    log = (d / "access.log").read_text()
    # The access log names principals and operations, never a secret.
    assert "Encrypt" in log and ALICE in log
    assert "secret" not in log


def client(url, key="AKIDROOT", secret="root-secret", region="us-east-1"):
    return boto3.client(
        "kms", endpoint_url=url, region_name=region, aws_access_key_id=key,
        aws_secret_access_key=secret, config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def code(e):
    return e.value.response["Error"]["Code"]


def test_round_trip(url):
    kms = client(url)
    key = kms.create_key(Description="boto3")["KeyMetadata"]
    assert key["KeyState"] == "Enabled"
    assert isinstance(key["CreationDate"], datetime.datetime)
    kms.create_alias(AliasName="alias/boto3", TargetKeyId=key["KeyId"])
    ct = kms.encrypt(KeyId="alias/boto3", Plaintext=b"hello", EncryptionContext={"a": "b"})
    assert ct["KeyId"] == key["Arn"]
    out = kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert out["Plaintext"] == b"hello"
    dk = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    assert any(k["KeyId"] == key["KeyId"] for k in kms.list_keys()["Keys"])
    # Paginators work over the wire.
    pages = list(kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 1}))
    assert any(a["AliasName"] == "alias/boto3" for p in pages for a in p["Aliases"])
    sig_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    sig = kms.sign(KeyId=sig_key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert kms.verify(KeyId=sig_key, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]


def test_errors(url):
    kms = client(url)
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId="alias/none")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ct = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"a": "b"})["CiphertextBlob"]
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=ct, EncryptionContext={"a": "c"})
    kms.disable_key(KeyId=key)
    with pytest.raises(kms.exceptions.DisabledException) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert e.value.response["ResponseMetadata"]["RequestId"]
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    with pytest.raises(kms.exceptions.KMSInvalidStateException):
        kms.enable_key(KeyId=key)
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=5000)
    assert code(e) == "ValidationException"


def test_sigv4_refusals(url, monkeypatch):
    with pytest.raises(ClientError) as e:
        client(url, secret="wrong").list_keys()
    assert code(e) == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        client(url, key="AKIDNOBODY", secret="x").list_keys()
    assert code(e) == "UnrecognizedClientException"
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() - datetime.timedelta(minutes=20))
    with pytest.raises(ClientError) as e:
        client(url).list_keys()
    assert code(e) == "InvalidSignatureException"
    assert "Signature expired" in e.value.response["Error"]["Message"]
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() - datetime.timedelta(minutes=10))
    client(url).list_keys()


def test_key_policy_two_principals(url):
    root = client(url)
    alice = client(url, "AKIDALICE", "alice-secret")
    bob = client(url, "AKIDBOB", "bob-secret")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "alice", "Effect": "Allow", "Principal": {"AWS": ALICE},
             "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"},
        ],
    }
    import json
    key = root.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    ct = alice.encrypt(KeyId=key, Plaintext=b"for alice")["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=ct)["Plaintext"] == b"for alice"
    with pytest.raises(ClientError) as e:
        bob.decrypt(CiphertextBlob=ct)
    assert code(e) == "AccessDeniedException"
    assert BOB in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        bob.encrypt(KeyId=key, Plaintext=b"x")
    assert code(e) == "AccessDeniedException"


def test_grant_with_context_constraint(url):
    root = client(url)
    bob = client(url, "AKIDBOB", "bob-secret")
    key = root.create_key()["KeyMetadata"]["KeyId"]
    ok = root.encrypt(KeyId=key, Plaintext=b"t1", EncryptionContext={"tenant": "t1"})["CiphertextBlob"]
    other = root.encrypt(KeyId=key, Plaintext=b"t2", EncryptionContext={"tenant": "t2"})["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        bob.decrypt(CiphertextBlob=ok, EncryptionContext={"tenant": "t1"})
    assert code(e) == "AccessDeniedException"
    g = root.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Decrypt"],
                          Constraints={"EncryptionContextSubset": {"tenant": "t1"}})
    assert bob.decrypt(CiphertextBlob=ok, EncryptionContext={"tenant": "t1"})["Plaintext"] == b"t1"
    with pytest.raises(ClientError) as e:
        bob.decrypt(CiphertextBlob=other, EncryptionContext={"tenant": "t2"})
    assert code(e) == "AccessDeniedException"
    grants = root.list_grants(KeyId=key)["Grants"]
    assert [x["GrantId"] for x in grants] == [g["GrantId"]]
    root.revoke_grant(KeyId=key, GrantId=g["GrantId"])
    with pytest.raises(ClientError) as e:
        bob.decrypt(CiphertextBlob=ok, EncryptionContext={"tenant": "t1"})
    assert code(e) == "AccessDeniedException"


def test_multi_region(url):
    east = client(url, region="us-east-1")
    west = client(url, region="eu-west-1")
    mrk = east.create_key(MultiRegion=True)["KeyMetadata"]
    assert mrk["MultiRegion"] and mrk["KeyId"].startswith("mrk-")
    rep = east.replicate_key(KeyId=mrk["KeyId"], ReplicaRegion="eu-west-1")
    assert rep["ReplicaKeyMetadata"]["Arn"].startswith("arn:aws:kms:eu-west-1:")
    ct = east.encrypt(KeyId=mrk["KeyId"], Plaintext=b"mrk", EncryptionContext={"r": "1"})["CiphertextBlob"]
    # The replica decrypts what the primary encrypted.
    assert west.decrypt(CiphertextBlob=ct, EncryptionContext={"r": "1"})["Plaintext"] == b"mrk"
    # Cross-region ReEncrypt to a single-Region key in eu-west-1.
    dest = west.create_key()["KeyMetadata"]["Arn"]
    re = east.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext={"r": "1"}, DestinationKeyId=dest,
                         DestinationEncryptionContext={"r": "2"})
    assert re["KeyId"] == dest
    assert west.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"r": "2"})["Plaintext"] == b"mrk"
    # UpdatePrimaryRegion: the replica becomes the primary.
    east.update_primary_region(KeyId=mrk["KeyId"], PrimaryRegion="eu-west-1")
    md = None
    for _ in range(50):
        md = west.describe_key(KeyId=mrk["KeyId"])["KeyMetadata"]
        if md["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY":
            break
        time.sleep(0.1)
    assert md["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert md["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == "eu-west-1"
    # /health says nothing about the regions open (unsigned).
    health = __import__("urllib.request").request.urlopen(url + "/health").read()
    assert json.loads(health) == {"status": "ok"}


def test_tls(tmp_path):
    """--tls-cert/--tls-key: HTTPS with rustls; boto3 verifies the
    certificate (self-signed for 127.0.0.1, made with openssl here)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    (tmp_path / "cfg.toml").write_text(CONFIG)
    proc = subprocess.Popen(
        [os.environ["STRONGROOM_BIN"], "serve", "--in-memory", "--listen", "127.0.0.1:0",
         "--config", str(tmp_path / "cfg.toml"), "--tls-cert", str(cert), "--tls-key", str(key),
         "--access-log", "off"],
        stdout=subprocess.PIPE,
    )
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("listening on https://127.0.0.1:"), line
        tls_url = line.split()[-1]
        kms = boto3.client("kms", endpoint_url=tls_url, region_name="us-east-1", verify=str(cert),
                           aws_access_key_id="AKIDROOT", aws_secret_access_key="root-secret")
        k = kms.create_key()["KeyMetadata"]["KeyId"]
        ct = kms.encrypt(KeyId=k, Plaintext=b"over tls")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"over tls"
        # Without trusting the certificate, the client refuses the server.
        untrusting = boto3.client("kms", endpoint_url=tls_url, region_name="us-east-1",
                                  aws_access_key_id="AKIDROOT", aws_secret_access_key="root-secret",
                                  config=botocore.config.Config(retries={"max_attempts": 1}))
        with pytest.raises(botocore.exceptions.SSLError):
            untrusting.list_keys()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
