#!/usr/bin/env python3
"""Convert the language-neutral scenario vectors from Strongroom's former
JSON encoding (bytes as lowercase hex, dates as `...DateMs` Unix
milliseconds) to AWS's JSON 1.1 wire shape (blobs as base64, timestamps as
epoch seconds under AWS's member names), driven by botocore's KMS model.

Only the encoding changes: the same bytes, the same instants. A null in an
`expect` stays (it asserts the member is absent); `check` treats a null
member and an absent one alike. The import token, a blob in AWS's model
and ASCII text in Strongroom, becomes the base64 of its text.

The generators (gen_asymmetric.py, gen_authorization.py, gen_regions.py)
write their hand-written steps through `convert_doc`.

  to_aws_shape.py convert FILE...        rewrite the files in place
  to_aws_shape.py check OLD NEW          exit 1 unless NEW == convert(OLD)
"""
import base64
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MODEL = json.loads(
    (ROOT / "tests/aws-model/botocore-1.44.8-kms-2014-11-01.json").read_text()
)
SHAPES = MODEL["shapes"]
OPS = MODEL["operations"]
HEX = re.compile(r"^(?:[0-9a-f]{2})*$")


def seconds(ms):
    if not isinstance(ms, int) or isinstance(ms, bool):
        raise ValueError(f"not milliseconds: {ms!r}")
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def blob(v, where):
    if isinstance(v, str) and "${" in v:
        if v.startswith("${") and v.endswith("}"):
            return v  # a saved response value: already in the new shape
        raise ValueError(f"{where}: blob mixing text and a variable: {v!r}")
    if not isinstance(v, str) or not HEX.match(v):
        raise ValueError(f"{where}: not lowercase hex: {v!r}")
    return base64.b64encode(bytes.fromhex(v)).decode()


def member_name(k):
    return k[:-2] if k.endswith("DateMs") or k.endswith("ValidToMs") else k


def walk(v, shape, where, drop_null):
    """Convert value `v` of botocore shape `shape` (None: not in AWS's
    model, a Strongroom extra: converted only by member name)."""
    if v is None:
        return None
    s = SHAPES.get(shape) if shape else None
    t = s["type"] if s else None
    if t == "blob" and shape == "CiphertextType" and where.endswith("ImportToken"):
        return v if "${" in v else base64.b64encode(v.encode()).decode()
    if t == "blob":
        return blob(v, where)
    if t == "timestamp":
        return v if isinstance(v, str) and "${" in v else seconds(v)
    if t == "list" and isinstance(v, list):
        return [walk(x, s["member"]["shape"], f"{where}[]", drop_null) for x in v]
    if isinstance(v, dict) and (t == "structure" or t is None):
        out = {}
        members = s["members"] if s else {}
        for k, x in v.items():
            if drop_null and x is None:
                continue
            nk = member_name(k)
            m = members.get(nk)
            if m is None and nk != k:
                raise ValueError(f"{where}.{k}: no AWS member {nk}")
            if m is None:
                out[k] = x
                continue
            out[nk] = walk(x, m["shape"], f"{where}.{nk}", drop_null)
        return out
    return v


def convert_step(step, where):
    op = step.get("op")
    if op not in OPS:
        return step
    o = OPS[op]
    step = dict(step)
    if "request" in step and "input" in o:
        step["request"] = walk(step["request"], o["input"]["shape"], f"{where} request", False)
    if "expect" in step:
        out = o.get("output", {}).get("shape")
        step["expect"] = walk(step["expect"], out, f"{where} expect", False)
    if "save" in step:
        step["save"] = {
            var: ".".join(member_name(p) for p in path.split("."))
            for var, path in step["save"].items()
        }
    return step


def strip_nulls(v):
    if isinstance(v, dict):
        return {k: strip_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [strip_nulls(x) for x in v]
    return v


def convert_doc(doc, name):
    doc = json.loads(json.dumps(doc))
    for scn in doc.get("scenarios", []):
        scn["steps"] = [
            convert_step(st, f"{name}: {scn['name']} step {i}")
            for i, st in enumerate(scn["steps"])
        ]
    return doc


def convert_fixture_expect(doc):
    doc = json.loads(json.dumps(doc))
    for b in doc["blobs"]:
        b["blob"] = blob(b["blob"], "fixture blob")
        b["plaintext"] = blob(b["plaintext"], "fixture plaintext")
    return doc


def convert_any(doc, name):
    if name.endswith("expect.json"):
        return convert_fixture_expect(doc)
    return convert_doc(doc, name)


def main(argv):
    if len(argv) >= 2 and argv[0] == "convert":
        for f in argv[1:]:
            p = Path(f)
            doc = json.loads(p.read_text())
            new = convert_any(doc, str(p))
            # Keep each file's layout style: kat-seeded and the fixture are
            # pretty-printed; hand-written files keep one step per line.
            if p.name in ("kat-seeded.json", "expect.json"):
                text = json.dumps(new, indent=2, ensure_ascii=False) + "\n"
            else:
                text = dump_steps_per_line(new)
            p.write_text(text)
        return 0
    if len(argv) == 3 and argv[0] == "check":
        old = json.loads(Path(argv[1]).read_text())
        new = json.loads(Path(argv[2]).read_text())
        want = strip_nulls(convert_any(old, argv[2]))
        new = strip_nulls(new)
        if want != new:
            diff(want, new, "")
            return 1
        print(f"{argv[2]}: only the encoding changed (hex->base64, ms->seconds)")
        return 0
    print(__doc__)
    return 2


def diff(a, b, at):
    if type(a) is not type(b):
        print(f"{at}: {a!r} != {b!r}")
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                print(f"{at}.{k}: only in {'converted' if k in a else 'new'}")
            else:
                diff(a[k], b[k], f"{at}.{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            print(f"{at}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{at}[{i}]")
    elif a != b:
        print(f"{at}: {a!r} != {b!r}")


def dump_steps_per_line(doc):
    """The hand-written files' layout: two-space indents, one step per line."""
    lines = ["{"]
    keys = list(doc)
    for i, k in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        if k != "scenarios":
            lines.append(f"  {json.dumps(k)}: {json.dumps(doc[k], ensure_ascii=False)}{comma}")
            continue
        lines.append('  "scenarios": [')
        for j, scn in enumerate(doc[k]):
            lines.append("    {")
            skeys = list(scn)
            for si, sk in enumerate(skeys):
                sc = "," if si < len(skeys) - 1 else ""
                if sk != "steps":
                    lines.append(f"      {json.dumps(sk)}: {json.dumps(scn[sk], ensure_ascii=False)}{sc}")
                    continue
                lines.append('      "steps": [')
                for n, st in enumerate(scn[sk]):
                    stc = "," if n < len(scn[sk]) - 1 else ""
                    lines.append(f"        {json.dumps(st, ensure_ascii=False)}{stc}")
                lines.append(f"      ]{sc}")
            lines.append("    }" + ("," if j < len(doc[k]) - 1 else ""))
        lines.append(f"  ]{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
