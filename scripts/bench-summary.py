#!/usr/bin/env python3
"""Summarise criterion results (mean time, throughput) for one group prefix,
and put OpenSSL's AES-256-GCM figure beside them when given.

usage: bench-summary.py <criterion dir> <group prefix> [openssl bytes/s]
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
prefix = sys.argv[2]
openssl = float(sys.argv[3]) if len(sys.argv) > 3 else None
rows = []
for bench in sorted(root.glob("*/**/new/benchmark.json")):
    meta = json.loads(bench.read_text())
    if not meta["group_id"].startswith(prefix):
        continue
    est = json.loads((bench.parent / "estimates.json").read_text())
    ns = est["mean"]["point_estimate"]
    tp = meta.get("throughput") or {}
    nbytes = tp.get("Bytes")
    gbps = nbytes / ns if nbytes else None  # bytes/ns = GB/s
    rows.append((meta["group_id"], meta["function_id"] + ("/" + meta["value_str"] if meta.get("value_str") else ""), ns, gbps))
for g, f, ns, gbps in rows:
    t = f"{ns/1e3:10.2f} µs" if ns < 1e6 else f"{ns/1e6:10.2f} ms"
    line = f"{g:20} {f:32} {t}"
    if gbps is not None:
        line += f"  {gbps:6.3f} GB/s"
        if openssl:
            line += f"  {gbps*1e9/openssl:5.2f}× OpenSSL"
    print(line)
