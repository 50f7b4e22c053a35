"""How every bench scenario reports: rows of (figure, measured, unit, target, met), printed
as a table and written to bench/results/<scenario>.json, which bench/run_all.py gathers
into bench/results/latest.md for docs/PERFORMANCE.md."""

import json
import os
import sys
import time

from bench.common import ROOT

RESULTS_DIR = ROOT / "bench" / "results"


def row(figure, measured, unit, target="(info)", met=None, *, value=None, baseline=None,
        ratio=None):
    """One figure. `measured`/`baseline` are display texts; `value` the number behind
    `measured`; `met` True/False against `target`, None for information only."""
    return {"figure": figure, "measured": measured, "value": value, "unit": unit,
            "baseline": baseline, "ratio": None if ratio is None else round(ratio, 3),
            "target": target, "met": met}


def verdict(met):
    return "—" if met is None else ("PASS" if met else "FAIL")


HEADERS = ("figure", "measured", "unit", "baseline", "ratio", "target", "result")


def cells(r):
    ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
    return (r["figure"], r["measured"], r["unit"], r["baseline"] or "—", ratio, r["target"],
            verdict(r["met"]))


def print_table(title, rows, stream=None):
    stream = stream or sys.stdout
    table = [HEADERS] + [cells(r) for r in rows]
    widths = [max(len(str(c[i])) for c in table) for i in range(len(HEADERS))]
    print(f"\n{title}\n", file=stream)
    for i, c in enumerate(table):
        print("  ".join(str(v).ljust(w) for v, w in zip(c, widths, strict=True)), file=stream)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=stream)
    print(file=stream)


def machine_line(facts):
    """One line naming the machine, for every table."""
    parts = [f"{facts.get('cores', '?')} cores ({facts.get('cpu', '?')})",
             f"{facts.get('ram_gib', '?')} GiB"]
    if facts.get("postgresql"):
        parts.append(f"PostgreSQL {facts['postgresql'].split()[0]}")
    if facts.get("redis"):
        parts.append(f"Redis {facts['redis']}")
    parts += [f"Python {facts.get('python', '?')}", f"app {facts.get('app_commit', '?')}"]
    if "load_before" in facts:
        parts.append(f"load average {facts['load_before']:.1f} before, "
                     f"{facts['load_after']:.1f} after")
    return ", ".join(parts)


def clean(obj):
    """JSON-safe: NaN → None, int keys → str, floats rounded."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, float):
        return None if obj != obj else round(obj, 3)
    return obj


def finish(name, rows, facts, *, title=None, detail=None, raw=None, config=None,
           write=True, seconds=None):
    """Print the table and write bench/results/<name>.json; exit status 1 if a target is
    missed. `detail`: extra markdown lines (e.g. CPU per segment) for latest.md."""
    facts = {**facts, "load_after": os.getloadavg()[0]}
    title = title or name
    print_table(f"{title} — {machine_line(facts)}", rows)
    for line in detail or []:
        print(line)
    if write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{name}.json"
        path.write_text(json.dumps(clean({
            "scenario": name, "title": title, "finished": time.time(),
            "command": " ".join(["python -m", f"bench.{name}", *sys.argv[1:]]),
            "seconds": seconds, "machine": facts, "config": config or {}, "rows": rows,
            "detail": detail or [], "raw": raw or {}}), indent=1) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0 if all(r["met"] is not False for r in rows) else 1
