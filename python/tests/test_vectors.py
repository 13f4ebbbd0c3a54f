"""Replays the language-neutral vectors (tests/vectors/README.md) through the
installed package, as the Rust, JS and Kotlin suites do."""

import base64
import json
import shutil
from typing import Any, Dict

import pytest

import strongroom
from strongroom.testing import DeterministicKms, ManualClock, canonical_encryption_context
from conftest import FIXTURES, VECTORS, requires_test_rng

ACCOUNT = "111122223333"
T0 = 1_767_225_600_000


def load(name: str) -> Dict[str, Any]:
    return json.loads((VECTORS / name).read_text())


def substitute(v: Any, vars: Dict[str, str]) -> Any:
    if isinstance(v, str):
        for k, val in vars.items():
            v = v.replace("${" + k + "}", val)
        return v
    if isinstance(v, list):
        return [substitute(x, vars) for x in v]
    if isinstance(v, dict):
        return {k: substitute(x, vars) for k, x in v.items()}
    return v


def get_path(v: Any, path: str) -> Any:
    for part in path.split("."):
        v = v[int(part)] if part.isdigit() else v[part]
    return v


def partial_match(expected: Any, actual: Any, at: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{at}: expected an object, got {actual!r}"
        for k, ev in expected.items():
            partial_match(ev, actual.get(k), f"{at}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{at}: {expected!r} vs {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            partial_match(e, a, f"{at}[{i}]")
    else:
        assert expected == actual, f"{at}: expected {expected!r}, got {actual!r}"


def run_scenario(scn: Dict[str, Any]) -> int:
    clock = ManualClock(scn.get("start_time_ms", T0))
    seed = bytes.fromhex(scn["rng_seed"])
    regions = {}
    for i, r in enumerate(scn.get("regions", [])):
        s = bytearray(seed)
        s[31] ^= i
        regions[r] = DeterministicKms(seed=bytes(s), clock=clock, region=r)
    kms = next(iter(regions.values())) if regions else DeterministicKms(seed=seed, clock=clock)
    vars: Dict[str, str] = {}
    n = 0
    for i, step in enumerate(scn["steps"]):
        if "advance_ms" in step:
            clock.advance(ms=step["advance_ms"])
            continue
        op = step["op"]
        req = substitute(step.get("request", {}), vars)
        for field in ("Policy", "PolicyDocument"):
            if isinstance(req.get(field), dict):
                req[field] = json.dumps(req[field])
        base = regions[step["Region"]] if "Region" in step else kms
        if "As" in step:
            c = substitute(step["As"], vars)
            base = base.as_caller(
                c["PrincipalArn"],
                account=c["Account"],
                via_service=c.get("ViaService"),
                source_account=c.get("SourceAccount"),
            )
        where = f"{scn['name']} step {i} ({op})"
        try:
            if op == "ReplicateKey":
                out = base.replicate_key(
                    key_id=req["KeyId"],
                    replica=regions[req["ReplicaRegion"]],
                    description=req.get("Description"),
                    policy=req.get("Policy"),
                    bypass_policy_lockout_safety_check=req.get("BypassPolicyLockoutSafetyCheck", False),
                    tags=[strongroom.Tag(t["TagKey"], t["TagValue"]) for t in req.get("Tags", [])],
                )
            elif op == "UpdatePrimaryRegion":
                base.update_primary_region(key_id=req["KeyId"], new_primary=regions[req["PrimaryRegion"]])
                out = {}
            else:
                out = base.call(op, req)
        except strongroom.KmsError as e:
            assert "error" in step, f"{where}: unexpected {e}"
            assert e.code == step["error"], f"{where}: {e}"
            assert isinstance(e, strongroom.ERRORS[step["error"]])
            n += 1
            continue
        assert "error" not in step, f"{where}: expected {step['error']}, got {out}"
        if "expect" in step:
            partial_match(substitute(step["expect"], vars), out, where)
        for var, path in step.get("save", {}).items():
            val = get_path(out, path)
            vars[var] = val if isinstance(val, str) else json.dumps(val)
        n += 1
    return n


@pytest.mark.parametrize(
    "name,minimum",
    [
        ("core/scenarios.json", 50),
        ("core/kat-seeded.json", 10),
        ("core/authorization.json", 200),
        ("core/asymmetric.json", 20),
        ("core/regions-and-import.json", 20),
    ],
)
@requires_test_rng
def test_scenarios(name: str, minimum: int) -> None:
    doc = load(name)
    assert doc["format"] == "strongroom-scenarios/1"
    steps = sum(run_scenario(s) for s in doc["scenarios"])
    assert steps >= minimum, f"only {steps} steps ran"


def test_official_sdk_messages_decrypt() -> None:
    doc = load("esdk/official-python-sdk.json")
    env = strongroom.Envelope.raw_aes(
        key_namespace=doc["key_namespace"], key_name=doc["key_name"], wrapping_key=bytes.fromhex(doc["key"])
    )
    pt = bytes.fromhex(doc["plaintext"])
    for case in doc["cases"]:
        msg = bytes.fromhex(case["message"])
        committing = case["suite"] in ("0478", "0578")
        if not committing:
            with pytest.raises(strongroom.ValidationException):
                env.decrypt(msg)
        out = env.decrypt(msg, allow_legacy_suites=True)
        assert out.plaintext == pt, case["suite"]
        for k, v in doc["encryption_context"].items():
            assert out.encryption_context[k] == v
        assert out.info.suite == int(case["suite"], 16)


def test_strongroom_seeded_messages_decrypt() -> None:
    doc = load("esdk/strongroom-seeded.json")
    env = strongroom.Envelope.raw_aes(key_namespace="strongroom-test", key_name="key1", wrapping_key=bytes.fromhex(doc["key"]))
    for case in doc["cases"]:
        out = env.decrypt(bytes.fromhex(case["message"]))
        assert out.plaintext == bytes.fromhex(doc["plaintext"])


def test_fixture_store_v1_opens(tmp_path) -> None:
    exp = json.loads((FIXTURES / "store-v1" / "expect.json").read_text())
    shutil.copytree(FIXTURES / "store-v1", tmp_path / "store")
    with strongroom.Kms.open(
        tmp_path / "store", root_key=bytes.fromhex(exp["root_key"]), clock=ManualClock(exp["now_ms"])
    ) as kms:
        md = kms.describe_key(key_id=exp["alias"]).key_metadata
        assert md.key_id == exp["key_id"]
        for b in exp["blobs"]:
            # expect.json holds blobs as AWS does: base64.
            out = kms.decrypt(ciphertext_blob=base64.b64decode(b["blob"]), encryption_context=b["context"])
            assert out.plaintext == base64.b64decode(b["plaintext"])
            assert out.key_id == b["key_arn"]


def test_encryption_context_encoding() -> None:
    doc = load("core/encryption-context.json")
    n = 0
    for case in doc["cases"]:
        if "error" in case:
            with pytest.raises(strongroom.KmsError) as e:
                canonical_encryption_context(case["context"])
            assert e.value.code == case["error"], case["name"]
        else:
            assert canonical_encryption_context(case["context"]).hex() == case["canonical"], case["name"]
        n += 1
    assert n >= 5
