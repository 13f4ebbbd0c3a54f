"""Replays the language-neutral vectors (tests/vectors/README.md) through
boto3 against `strongroom serve`, driven by server/tests/boto3.rs.

Line protocol on stdin/stdout (one JSON object per line):
  driver -> us:  {"file": PATH, "scenario": i, "url": URL, "keys": [...], "region": R}
  us -> driver:  {"advance_ms": N}      (driver advances the server's clock, answers {"ok": true})
  us -> driver:  {"done": steps} | {"error": message}
  driver -> us:  {"exit": true}

Requests are in AWS's JSON shape (blobs base64, timestamps epoch seconds):
blob members are decoded to bytes for boto3 by the KMS model, and boto3's
parsed answers are put back in that shape (bytes -> base64, datetimes ->
epoch seconds) before they are held against the expectations. boto3's
client-side parameter validation is off: the server must refuse bad input
itself.
"""

import base64
import datetime
import json
import sys

import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions


class RawError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def raw_call(url, region, key, op, req):
    """An operation AWS's model does not have (Strongroom's identity-policy
    operations): signed by botocore's SigV4 signer, sent as is."""
    body = json.dumps(req).encode()
    r = botocore.awsrequest.AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + op},
    )
    creds = botocore.credentials.Credentials(key["id"], key["secret"])
    botocore.auth.SigV4Auth(creds, "kms", region).add_auth(r)
    p = r.prepare()
    try:
        with urllib.request.urlopen(urllib.request.Request(p.url, data=body, headers=dict(p.headers), method="POST")) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        err = json.loads(e.read())
        raise RawError(err["__type"], err.get("message"))


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def recv():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


def substitute(v, vars):
    if isinstance(v, str):
        for k, val in vars.items():
            v = v.replace("${" + k + "}", val)
        return v
    if isinstance(v, list):
        return [substitute(x, vars) for x in v]
    if isinstance(v, dict):
        return {k: substitute(x, vars) for k, x in v.items()}
    return v


def to_wire(v):
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, datetime.datetime):
        return v.timestamp()
    if isinstance(v, list):
        return [to_wire(x) for x in v]
    if isinstance(v, dict):
        return {k: to_wire(x) for k, x in v.items()}
    return v


def from_wire(value, shape):
    """A request member in AWS JSON shape -> what boto3 takes."""
    if shape is None:
        return value
    t = shape.type_name
    if t == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except Exception:
            return value.encode()
    if t == "structure" and isinstance(value, dict):
        return {k: from_wire(v, shape.members.get(k)) for k, v in value.items()}
    if t == "list" and isinstance(value, list):
        return [from_wire(v, shape.member) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: from_wire(v, shape.value) for k, v in value.items()}
    if t == "timestamp" and isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    return value


def get_path(v, path):
    for part in path.split("."):
        v = v[int(part)] if part.isdigit() else v[part]
    return v


def partial_match(expected, actual, at=""):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{at}: expected an object, got {actual!r}"
        for k, ev in expected.items():
            partial_match(ev, actual.get(k), f"{at}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{at}: {expected!r} vs {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            partial_match(e, a, f"{at}[{i}]")
    elif isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(expected, bool):
        assert abs(expected - actual) < 1e-6, f"{at}: expected {expected!r}, got {actual!r}"
    else:
        assert expected == actual, f"{at}: expected {expected!r}, got {actual!r}"


def snake(name):
    out = ""
    for i, c in enumerate(name):
        if c.isupper() and i and not name[i - 1].isupper():
            out += "_"
        elif c.isupper() and i and i + 1 < len(name) and name[i + 1].islower() and name[i - 1].isupper():
            out += "_"
        out += c.lower()
    return out


def run(job):
    doc = json.load(open(job["file"]))
    scn = doc["scenarios"][job["scenario"]]
    cfg = botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1})
    clients = {}

    raw = {}
    last = {}

    def keep_raw(http_response, **_):
        try:
            last["body"] = json.loads(http_response.content or b"{}")
        except ValueError:
            last["body"] = {}

    def override_body(request, **_):
        # A request with members the KMS model does not have (the vectors
        # check they are refused): boto3 cannot serialize them, so its body
        # is replaced by the vector's exact JSON before it is signed.
        if "body" in raw:
            request.data = raw.pop("body")

    def client(region, key):
        k = (region, key["id"])
        if k not in clients:
            clients[k] = boto3.client(
                "kms",
                endpoint_url=job["url"],
                region_name=region,
                aws_access_key_id=key["id"],
                aws_secret_access_key=key["secret"],
                config=cfg,
            )
            clients[k].meta.events.register("before-sign.kms", override_body)
            clients[k].meta.events.register("after-call.kms", keep_raw)
        return clients[k]

    def key_for(as_):
        for k in job["keys"]:
            if k["principal"] == as_["PrincipalArn"] and k.get("via") == as_.get("ViaService"):
                return k
        raise AssertionError(f"no access key for {as_}")

    root = key_for({"PrincipalArn": "arn:aws:iam::%s:root" % doc["account"], "ViaService": None})
    default_region = (scn.get("regions") or [job["region"]])[0]
    vars = {}
    n = 0
    for i, step in enumerate(scn["steps"]):
        if "advance_ms" in step:
            send({"advance_ms": step["advance_ms"]})
            assert recv().get("ok")
            continue
        op = step["op"]
        req = substitute(step.get("request", {}), vars)
        for field in ("Policy", "PolicyDocument"):
            if isinstance(req.get(field), dict):
                req[field] = json.dumps(req[field])
        key = key_for(substitute(step["As"], vars)) if "As" in step else root
        c = client(step.get("Region", default_region), key)
        if op not in c.meta.service_model.operation_names:
            try:
                out = raw_call(job["url"], step.get("Region", default_region), key, op, req)
            except RawError as e:
                assert step.get("error") == e.code, f"{scn['name']} step {i} ({op}): {e}"
                n += 1
                continue
            assert "error" not in step, f"{scn['name']} step {i} ({op}): expected {step['error']}"
            if "expect" in step:
                partial_match(substitute(step["expect"], vars), out, f"{scn['name']} step {i}")
            for var, path in step.get("save", {}).items():
                val = get_path(out, path)
                vars[var] = val if isinstance(val, str) else json.dumps(val)
            n += 1
            continue
        model = c.meta.service_model.operation_model(op)
        members = model.input_shape.members if model.input_shape else {}
        if any(k not in members for k in req):
            raw["body"] = json.dumps(req).encode()
            params = {}
        else:
            params = from_wire(req, model.input_shape)
        where = f"{scn['name']} step {i} ({op})"
        try:
            out = getattr(c, snake(op))(**params)
        except botocore.exceptions.ClientError as e:
            code = e.response["Error"]["Code"]
            assert "error" in step, f"{where}: unexpected {code}: {e}"
            assert code == step["error"], f"{where}: expected {step['error']}, got {code}: {e}"
            n += 1
            continue
        assert "error" not in step, f"{where}: expected {step['error']}, got {out}"
        out = to_wire({k: v for k, v in out.items() if k != "ResponseMetadata"})
        # Members AWS's KMS model lacks (Strongroom's additions, e.g.
        # KeyMaterialId on Encrypt) never reach a boto3 caller: they are
        # checked in the raw answer.
        for k, v in last.get("body", {}).items():
            if k not in model.output_shape.members if model.output_shape else True:
                out.setdefault(k, v)
        if "expect" in step:
            partial_match(substitute(step["expect"], vars), out, where)
        for var, path in step.get("save", {}).items():
            val = get_path(out, path)
            vars[var] = val if isinstance(val, str) else json.dumps(val)
        n += 1
    return n


def main():
    while True:
        job = recv()
        if job.get("exit"):
            return
        try:
            send({"done": run(job)})
        except Exception as e:  # reported to the driver, which fails the test
            send({"error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    main()
