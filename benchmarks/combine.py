"""Median over several benchmark runs, as the table in docs/performance.md.

    python benchmarks/bench.py --json run1.json   # ... run2.json, run3.json
    python benchmarks/combine.py run1.json run2.json run3.json

Each cell is the median of the runs' medians; the ratio is taken per run first, so a
run disturbed on one side only does not skew the others.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import met, table  # noqa: E402


def combine(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, first in enumerate(runs[0]["rows"]):
        same = [r["rows"][i] for r in runs]
        row = dict(first)
        for key in ("ours", "torch", "seed", "ours/torch", "ours/seed", "ours min", "torch min", "seed min", "load"):
            values = [r[key] for r in same if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        if "target ours/torch" in row and row["ours/torch"] is not None:
            row["met"] = met(row)
        if "target seed/ours" in row and row["ours/seed"]:
            row["met seed"] = 1 / row["ours/seed"] >= row["target seed/ours"]
            if row.get("seed min"):
                row["met seed"] = row["met seed"] and row["seed min"] / row["ours min"] >= row["target seed/ours"]
        row["runs"] = [r.get("ours/torch") for r in same]
        row["runs fastest"] = [r["ours min"] / r["torch min"] if r.get("torch min") else None for r in same]
        row["runs seed"] = [r.get("ours/seed") for r in same]
        rows.append(row)
    return rows


def main() -> None:
    runs = [json.loads(Path(p).read_text()) for p in sys.argv[1:]]
    if not runs:
        sys.exit(__doc__)
    rows = combine(runs)
    print(table(rows))
    print()
    print("ours/PyTorch per run: " + "; ".join(
        f"{r['case']} {r['dtype']}: " + ", ".join("—" if v is None else f"{v:.2f}" for v in r["runs"]) for r in rows))
    print("fastest iterations, ours/PyTorch per run: " + "; ".join(
        f"{r['case']} {r['dtype']}: " + ", ".join("—" if v is None else f"{v:.2f}" for v in r["runs fastest"]) for r in rows))
    seeded = [r for r in rows if any(v is not None for v in r["runs seed"])]
    if seeded:
        print("ours/seed per run: " + "; ".join(
            f"{r['case']} {r['dtype']}: " + ", ".join("—" if v is None else f"{v:.2f}" for v in r["runs seed"]) for r in seeded))
    mems = [r["memory"] for r in runs if r.get("memory")]
    if mems:
        print(f"conv-step peak memory ({mems[0]['case']}), ours / PyTorch MB per run: " + "; ".join(
            f"{m['ours']:.1f} / {m.get('torch', float('nan')):.1f} = {m.get('ours/torch', float('nan')):.2f}" for m in mems))
    loads = [f"{r['load_before'][0]:.2f}→{r['load_after'][0]:.2f}" for r in runs]
    print(f"load average (1 min) before→after each run: {', '.join(loads)}")
    for r in runs:
        if r.get("rss"):
            s = r["rss"]["samples"]
            print(f"peak RSS: step {s[0]['step']} {s[0]['peak_rss_mb']:.1f} MB → step {s[-1]['step']} "
                  f"{s[-1]['peak_rss_mb']:.1f} MB (growth after step 50: {r['rss']['peak_growth_mb']:.2f} MB)")


if __name__ == "__main__":
    main()
