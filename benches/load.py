#!/usr/bin/env python3
"""HTTP load script for shiplog's Orlo face, shaped like the Orlo baseline in
shared/research/orlo.md §11 so the figures compare directly.

  write: N releases x 12 requests (create, start, 3 x add package, 3 x (start, stop), stop)
  read:  a 12-query cycle (user, platform+status, package_name, team+stime_after, by id,
         versions, versions?platform, stats, stats?stime&ftime, by_date day, by_date hour,
         by_date package)
  import: one POST /releases/import of 1,000 releases / 3,000 packages

Usage: benches/load.py http://127.0.0.1:8080 [--releases 300] [--threads 4] [--reads 600]
Prints one JSON line with throughput and p50/p99 latencies per phase. Standard library only.
Send load only to a server on this machine (loopback).
"""
import argparse
import http.client
import json
import random
import statistics
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

local = threading.local()


def conn(base):
    c = getattr(local, "conn", None)
    if c is None:
        u = urllib.parse.urlparse(base)
        c = local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    return c


def call(base, method, path, body=None):
    c = conn(base)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    data = json.dumps(body) if body is not None else None
    start = time.perf_counter()
    try:
        c.request(method, path, body=data, headers=headers)
        resp = c.getresponse()
        payload = resp.read()
    except (http.client.HTTPException, OSError):
        local.conn = None
        raise
    elapsed = time.perf_counter() - start
    return resp.status, payload, elapsed


def pct(samples, q):
    s = sorted(samples)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2)


def summary(samples, errors, seconds):
    return {
        "requests": len(samples), "seconds": round(seconds, 3),
        "req_per_s": round(len(samples) / seconds, 1),
        "p50_ms": pct(samples, 0.50), "p99_ms": pct(samples, 0.99), "errors": errors,
    }


def one_release(base, i):
    samples, errors = [], 0

    def go(method, path, body=None, expect=(200, 204)):
        nonlocal errors
        status, payload, elapsed = call(base, method, path, body)
        samples.append(elapsed)
        if status not in expect:
            errors += 1
        return payload

    rid = json.loads(go("POST", "/releases", {"user": f"user{i % 7}", "team": f"team{i % 3}",
                                               "platforms": [f"site{i % 3}"], "references": [f"T-{i}"]}))["id"]
    go("POST", f"/releases/{rid}/start")
    pids = [json.loads(go("POST", f"/releases/{rid}/packages", {"name": f"pkg{n}", "version": f"1.{i}"}))["id"]
            for n in range(3)]
    for pid in pids:
        go("POST", f"/releases/{rid}/packages/{pid}/start")
        go("POST", f"/releases/{rid}/packages/{pid}/stop", {"success": random.random() > 0.1})
    go("POST", f"/releases/{rid}/stop")
    return rid, samples, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--releases", type=int, default=300)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--reads", type=int, default=600)
    args = ap.parse_args()
    base = args.base.rstrip("/")
    random.seed(7)

    start = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        results = list(pool.map(lambda i: one_release(base, i), range(args.releases)))
    write_s = time.perf_counter() - start
    ids = [r[0] for r in results]
    write = summary([s for r in results for s in r[1]], sum(r[2] for r in results), write_s)

    queries = [
        "/releases?user=user3", "/releases?platform=site1&status=SUCCESSFUL", "/releases?package_name=pkg1",
        "/releases?team=team2&stime_after=2020-01-01T00:00:00Z", None, "/info/packages/versions",
        "/info/packages/versions?platform=site2", "/stats", "/stats?stime=2020-01-01&ftime=2100-01-01",
        "/stats/by_date/release?unit=day", "/stats/by_date/release?unit=hour&stime_after=2020-01-01",
        "/stats/by_date/package?unit=day&platform=site0",
    ]

    def read(n):
        q = queries[n % len(queries)] or f"/releases/{ids[n % len(ids)]}"
        status, _, elapsed = call(base, "GET", q)
        return elapsed, status != 200

    start = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        reads = list(pool.map(read, range(args.reads)))
    read_s = time.perf_counter() - start
    read_summary = summary([r[0] for r in reads], sum(r[1] for r in reads), read_s)

    doc = [{"user": "importer", "platforms": ["site9"], "stime": 1450371724 + i, "ftime": 1450371744 + i,
            "packages": [{"name": f"imp{n}", "version": "1.0", "status": "SUCCESSFUL",
                          "stime": 1450371724 + i, "ftime": 1450371730 + i} for n in range(3)]}
           for i in range(1000)]
    status, _, elapsed = call(base, "POST", "/releases/import", doc)
    print(json.dumps({"write": write, "read": read_summary,
                      "import": {"releases": 1000, "seconds": round(elapsed, 3), "status": status,
                                 "releases_per_s": round(1000 / elapsed, 1)}}))


if __name__ == "__main__":
    main()
