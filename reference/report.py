#!/usr/bin/env python3
"""Turns a scripts/compare.sh run folder into the CPU line and the ratio table (markdown), and optionally
saves raw figures and summary as JSON. Folder layout: meta.tsv (key, value), lines.tsv (id, label, reference,
metric, better, target) and, per line, pair and side, <id>.<pair>.<ours|reference>.{out,log,rc}."""
import argparse, json, os, statistics, sys


def tsv(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def last_json_object(text):
    """The last stdout line that is a JSON object (TRL and others print log lines before it)."""
    for line in reversed(text.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def measurement(run_dir, stem, metric):
    def read(ext):
        try:
            with open(os.path.join(run_dir, f"{stem}.{ext}")) as f:
                return f.read()
        except OSError:
            return None
    rc, out = read("rc"), read("out") or ""
    obj = last_json_object(out)
    if rc is None:
        return dict(error="not run")
    if rc.strip() != "0":
        return dict(error=f"exit {rc.strip()}", raw=obj)
    if obj is None or not isinstance(obj.get(metric), (int, float)):
        return dict(error=f"no '{metric}' in its JSON output", raw=obj)
    return dict(value=float(obj[metric]), raw=obj)


def cpu_info():
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    return dict(model=fields.get("model name", "unknown"), vendor=fields.get("vendor_id", "unknown"),
                cores=os.cpu_count(), **{f: f in flags for f in ("avx2", "avx512f", "avx512_bf16")})


def fmt(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def spread(values):
    if not values:
        return "failed"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def summarize(run_dir, line, pairs):
    lid, label, refname, metric, better, target = (line + [""] * 6)[:6]
    rows = []
    for p in range(1, pairs + 1):
        ours = measurement(run_dir, f"{lid}.{p}.ours", metric)
        ref = measurement(run_dir, f"{lid}.{p}.reference", metric)
        ratio = None
        if "value" in ours and "value" in ref and ours["value"] > 0 and ref["value"] > 0:
            ratio = ours["value"] / ref["value"] if better == "higher" else ref["value"] / ours["value"]
        rows.append(dict(pair=p, ours=ours, reference=ref, ratio=ratio))
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    median = statistics.median(ratios) if ratios else None
    goal = float(target) if target else None
    return dict(id=lid, label=label, reference=refname, metric=metric, better=better, target=goal,
                ours=[r["ours"]["value"] for r in rows if "value" in r["ours"]],
                references=[r["reference"]["value"] for r in rows if "value" in r["reference"]],
                ratio_median=median, met=None if goal is None or median is None else median >= goal,
                errors=[f"pair {r['pair']} {side}: {r[side]['error']}" for r in rows
                        for side in ("ours", "reference") if "error" in r[side]],
                pairs=rows)


def first(summaries, side, key):
    for s in summaries:
        for row in s["pairs"]:
            raw = row[side].get("raw") or {}
            if raw.get(key) is not None:
                return raw[key]
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run_dir")
    ap.add_argument("--json", help="save raw figures and the summary to this file")
    a = ap.parse_args()
    meta = dict(tsv(os.path.join(a.run_dir, "meta.tsv")))
    pairs = int(meta.get("pairs", "3"))
    summaries = [summarize(a.run_dir, line, pairs) for line in tsv(os.path.join(a.run_dir, "lines.tsv"))]
    cpu = cpu_info()
    blas = first(summaries, "ours", "blas_core")
    cpu["blas_core"] = blas
    yes = lambda b: "yes" if b else "no"
    print(f"CPU: {cpu['model']} ({cpu['vendor']}), {cpu['cores']} cores; avx2 {yes(cpu['avx2'])}, "
          f"avx512f {yes(cpu['avx512f'])}, avx512_bf16 {yes(cpu['avx512_bf16'])}; OpenBLAS core "
          f"{blas or 'not reported by this tir'}; threads {meta.get('threads', '?')} (ours and references)")
    print(f"Measured {meta.get('started', '?')} to {meta.get('finished', '?')}, release build, {pairs} alternating "
          f"pairs per line; 1-min load average {meta.get('load_start', '?')} at start, {meta.get('load_end', '?')} at end")
    print()
    print("| line | ours (median, min–max) | reference (median, min–max) | ratio, median of pairs | target |")
    print("|---|---|---|---|---|")
    for s in summaries:
        ratio = "–" if s["ratio_median"] is None else f"{s['ratio_median']:.2f}×"
        target = "–" if s["target"] is None else f"≥{s['target']:g}× " + ("✓" if s["met"] else "✗")
        print(f"| {s['label']} | {spread(s['ours'])} | {s['reference']} {spread(s['references'])} | {ratio} | {target} |")
    versions = {}
    for s in summaries:
        for row in s["pairs"]:
            versions.update((row["reference"].get("raw") or {}).get("versions") or {})
    print()
    print("Ratios: ours/reference for rates, reference/ours for seconds per step (above 1: ours is faster).")
    if versions:
        print("References: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v))
    busy = max(float(meta.get(k, 0) or 0) for k in ("load_start", "load_end"))
    if busy > cpu["cores"]:
        print(f"warning: the machine was busy (load {busy:g} on {cpu['cores']} cores). Multi-threaded references "
              "(OpenMP in PyTorch and llama.cpp) lose far more than ours when their threads are descheduled; "
              "rerun on an idle machine before quoting these ratios.")
    errors = [f"{s['id']} {e}" for s in summaries for e in s["errors"]]
    for e in errors:
        print(f"failed: {e} (logs in {a.run_dir})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(cpu=cpu, meta=meta, versions=versions, lines=summaries), f, indent=1)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
