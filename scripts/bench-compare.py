#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare two Google Benchmark JSON runs and flag regressions.

    scripts/bench-compare.py [--threshold PCT] BASE.json NEW.json

Each file is what a benchmark program writes with
--benchmark_format=json (or --benchmark_out=FILE). Benchmarks are matched
by name (run_name: the name without its aggregate suffix). For each one
the figures compared are its ratio counters, or real_time when it has none:

  * a counter named <baseline>_over_hvcore (xen_over_hvcore,
    xen_sweep_over_hvcore) is the baseline's cost over hvcore's: higher is
    better, and a drop is a regression;
  * any other counter with _over_ in its name (claimed_over_ram,
    pending_over_ram, process_over_inproc) is hvcore's cost over a
    baseline's: lower is better, and a rise is a regression;
  * real_time (converted to nanoseconds): lower is better.

With repetitions (--benchmark_repetitions=N) the median over the
repetitions is compared; with --benchmark_report_aggregates_only the
"median" aggregate is used. A figure regressed when it got worse by more
than the threshold (default 10%) relative to BASE.

Exit status: 0 nothing regressed, 1 something regressed or a benchmark of
NEW reported an error, 2 bad usage or unreadable input. Benchmarks present
in only one file are listed and do not fail the comparison.
"""

import argparse
import json
import statistics
import sys

TIME_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


class InputError(Exception):
    pass


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}") from e
    entries = doc.get("benchmarks") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InputError(f"{path}: no 'benchmarks' list (not Google Benchmark JSON output?)")
    return entries


def is_ratio(key):
    return "_over_" in key


def higher_is_better(key):
    return key.endswith("_over_hvcore")


def figures(entry):
    """The figures of one entry: {name: value}, ratio counters if any, else real_time in ns."""
    ratios = {k: float(v) for k, v in entry.items() if is_ratio(k) and isinstance(v, (int, float))}
    if ratios:
        return ratios
    unit = entry.get("time_unit", "ns")
    if unit not in TIME_TO_NS or "real_time" not in entry:
        return {}
    return {"real_time": float(entry["real_time"]) * TIME_TO_NS[unit]}


def summarise(entries):
    """{benchmark: ({figure: median}, error)} from one file's entries."""
    runs = {}
    medians = {}
    errors = {}
    order = []
    for e in entries:
        name = e.get("run_name", e.get("name"))
        if name is None:
            continue
        if name not in order:
            order.append(name)
        if e.get("error_occurred"):
            errors[name] = e.get("error_message", "error")
            continue
        if e.get("run_type") == "aggregate":
            if e.get("aggregate_name") == "median":
                medians[name] = figures(e)
            continue
        runs.setdefault(name, []).append(figures(e))
    out = {}
    for name in order:
        if name in runs:
            keys = sorted({k for r in runs[name] for k in r})
            fig = {k: statistics.median([r[k] for r in runs[name] if k in r]) for k in keys}
        else:
            fig = medians.get(name, {})
        out[name] = (fig, errors.get(name))
    return out


def worse_by(key, base, new):
    """How much worse new is than base, as a fraction of base (negative: better)."""
    if base == 0:
        return 0.0 if new == base else float("inf")
    if higher_is_better(key):
        return (base - new) / base
    return (new - base) / base


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base", help="the reference run (Google Benchmark JSON)")
    p.add_argument("new", help="the run to check against it")
    p.add_argument("--threshold", type=float, default=10.0, metavar="PCT",
                   help="flag a figure that got worse by more than PCT percent (default 10)")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if args.threshold < 0:
        print("bench-compare: --threshold must be >= 0", file=sys.stderr)
        return 2
    try:
        base = summarise(load(args.base))
        new = summarise(load(args.new))
    except InputError as e:
        print(f"bench-compare: {e}", file=sys.stderr)
        return 2

    limit = args.threshold / 100.0
    rows = []
    failed = False
    for name, (nfig, nerr) in new.items():
        if name not in base:
            continue
        bfig, _ = base[name]
        if nerr is not None:
            rows.append(("ERROR", name, "-", "", "", nerr))
            failed = True
            continue
        for key in sorted(set(bfig) & set(nfig)):
            w = worse_by(key, bfig[key], nfig[key])
            status = "REGRESSED" if w > limit else "ok"
            failed |= w > limit
            rows.append((status, name, key, f"{bfig[key]:.4g}", f"{nfig[key]:.4g}", f"{-w * 100 + 0.0:+.1f}%"))

    if rows:
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        print(f"{'':{widths[0]}}  {'benchmark':{widths[1]}}  {'figure':{widths[2]}}  "
              f"{'base':>{widths[3]}}  {'new':>{widths[4]}}  better by")
        for r in rows:
            print(f"{r[0]:{widths[0]}}  {r[1]:{widths[1]}}  {r[2]:{widths[2]}}  "
                  f"{r[3]:>{widths[3]}}  {r[4]:>{widths[4]}}  {r[5]}")
    for name in base:
        if name not in new:
            print(f"only in {args.base}: {name}")
    for name in new:
        if name not in base:
            print(f"only in {args.new}: {name}")
    regressed = sum(1 for r in rows if r[0] != "ok")
    if failed:
        print(f"bench-compare: {regressed} figure(s) regressed by more than {args.threshold:g}% or failed")
        return 1
    print(f"bench-compare: {len(rows)} figure(s) compared, none regressed by more than {args.threshold:g}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
