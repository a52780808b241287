#!/usr/bin/env python3
"""Turns the oha JSON files of a bench run into one markdown table.

  report.py OUTDIR...   each OUTDIR has label, results.jsonl (one line per measurement)
  report.py record OUTDIR SCENARIO CONC RUN RSS_FILE OHA_JSON...  append one measurement
            (several oha files: one per replica; req/s is their sum, each percentile the worst)
"""
import json
import os
import statistics
import sys
from pathlib import Path


def record(out, scenario, conc, run, rss_file, *oha_jsons):
    ok_total = bad_total = 0
    rps = 0.0
    p50 = p99 = 0.0
    for oha_json in oha_jsons:
        d = json.loads(Path(oha_json).read_text())
        s = d["summary"]
        codes = d.get("statusCodeDistribution", {})
        ok = sum(n for c, n in codes.items() if str(c).startswith("2"))
        ok_total += ok
        bad_total += sum(n for c, n in codes.items() if not str(c).startswith("2"))
        bad_total += sum(d.get("errorDistribution", {}).values())
        rps += ok / s["total"] if s.get("total") else 0.0
        lat = d["latencyPercentiles"]
        p50 = max(p50, (lat.get("p50") or 0) * 1000)
        p99 = max(p99, (lat.get("p99") or 0) * 1000)
    rss = [int(x) for x in Path(rss_file).read_text().split()] if Path(rss_file).exists() else []
    row = {
        "scenario": scenario, "conc": int(conc), "run": int(run),
        "ok_rps": rps, "p50_ms": p50, "p99_ms": p99,
        "ok": ok_total, "errors": bad_total, "max_rss_kib": max(rss) if rss else None,
    }
    ticks = os.environ.get("SERVER_CPU_TICKS")
    if ticks is not None and ok_total:
        row["server_cpu_ms_per_req"] = int(ticks) * 1000 / int(os.environ.get("CLK_TCK", "100")) / ok_total
    with open(Path(out) / "results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def cell(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{fmt(med)} [{fmt(min(values))}–{fmt(max(values))}]"


def summary(outs):
    groups = {}
    labels = []
    for out in outs:
        label = (Path(out) / "label").read_text().strip()
        if label not in labels:  # several OUTDIRs may share a label (alternating runs)
            labels.append(label)
        for line in (Path(out) / "results.jsonl").read_text().splitlines():
            r = json.loads(line)
            groups.setdefault((r["scenario"], r["conc"]), {}).setdefault(label, []).append(r)
    print("| scenario | c | " + " | ".join(
        f"{l} ok req/s | {l} p50 ms | {l} p99 ms | {l} server CPU ms/req | {l} errors | {l} max RSS MiB"
        for l in labels) + " |")
    print("|---|---|" + "---|" * (6 * len(labels)))
    for (scenario, conc), by_label in sorted(groups.items()):
        cells = []
        for l in labels:
            rows = by_label.get(l, [])
            cells += [
                cell([r["ok_rps"] for r in rows], lambda v: f"{v:,.0f}"),
                cell([r["p50_ms"] for r in rows], lambda v: f"{v:.2f}"),
                cell([r["p99_ms"] for r in rows], lambda v: f"{v:.2f}"),
                cell([r.get("server_cpu_ms_per_req") for r in rows], lambda v: f"{v:.3f}"),
                str(sum(r["errors"] for r in rows)) if rows else "-",
                cell([r["max_rss_kib"] / 1024 if r["max_rss_kib"] else None for r in rows], lambda v: f"{v:.0f}"),
            ]
        print(f"| {scenario} | {conc} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "record":
        record(*sys.argv[2:])
    else:
        summary(sys.argv[1:])
