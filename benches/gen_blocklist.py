#!/usr/bin/env python3
"""Synthetic canonical blocklist: N indicators, 70% IPv4, 10% IPv6, 20% FQDN.

usage: gen_blocklist.py N SEED [CHURN]
Deterministic for given arguments. With CHURN, the same list minus CHURN entries plus CHURN
new ones (for a diff between two commits that differ by CHURN indicators each way).
"""
import ipaddress
import random
import sys
import zlib

n = int(sys.argv[1])
seed = int(sys.argv[2])
rng = random.Random(seed)
v4, v6, fq = set(), set(), set()
words = ["alpha", "bravo", "cdn", "update", "login", "mail", "api", "sync", "static", "edge"]
tlds = ["example", "example.net", "example.org", "test"]
while len(v4) < n * 70 // 100:
    a = rng.randrange(1, 223)
    if a in (10, 127, 100, 169, 172, 192, 198):
        continue
    v4.add(ipaddress.IPv4Address((a << 24) | rng.randrange(0, 1 << 24)))
while len(v6) < n * 10 // 100:
    v6.add(ipaddress.IPv6Address((0x2001_0db8 << 96) | rng.randrange(0, 1 << 96)))
while len(fq) < n - len(v4) - len(v6):
    fq.add(f"{rng.choice(words)}{rng.randrange(10**7)}.{rng.choice(words)}.{rng.choice(tlds)}")
churn = int(sys.argv[3]) if len(sys.argv) > 3 else 0
if churn:
    crng = random.Random(seed + 1)
    for bucket in (v4, v6, fq):
        k = churn * (len(bucket)) // n
        for x in crng.sample(sorted(bucket, key=str), k):
            bucket.discard(x)
    added = 0
    while added < churn:
        a = ipaddress.IPv4Address((203 << 24) | (crng.randrange(0, 1 << 16) << 8) | crng.randrange(1, 255))
        if a not in v4:
            v4.add(a)
            added += 1
out = ["# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.\n", "entries:\n"]
def emit(value, kind, quote=False):
    v = f'"{value}"' if quote else value
    # Attributes from the value itself (not the shared stream), so an entry that survives the
    # churn is byte-identical in both files and the diff changes exactly CHURN entries each way.
    erng = random.Random(zlib.crc32(f"{seed}:{value}".encode()))
    src = erng.choice(["reputation", "connection", "domain", "reputation, connection"])
    out.append(f"- value: {v}\n  type: {kind}\n  sources: [{src}]\n  first_seen: 2026-11-{erng.randrange(1, 28):02d}\n")
for a in sorted(v4):
    emit(a, "ipv4")
for a in sorted(v6):
    emit(a.compressed, "ipv6", quote=True)
for d in sorted(fq):
    emit(d, "fqdn")
sys.stdout.write("".join(out))
