"""Every bench scenario in turn, one combined table: `make bench` (`make bench ARGS=--quick`).

    .venv/bin/python -m bench.run_all                  # everything
    .venv/bin/python -m bench.run_all --quick          # smaller sizes, a smoke run
    .venv/bin/python -m bench.run_all --only ingest poll

Each scenario is a module `bench/<name>.py`, runnable alone as `python -m bench.<name>
[--quick]`: it prints its table and writes `bench/results/<name>.json` (rows of figure,
measured, unit, target, met). This runner starts each in its own process (one at a time, so
they do not share the 2 cores), then prints the combined table and writes it with each
scenario's machine line and details to `bench/results/latest.md`, the block
docs/PERFORMANCE.md copies. Exit status 1 if a scenario failed to run or missed a target.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.common import ROOT, log

# Order: the HTTP ingest scenarios first on a quiet machine, then the in-process ones.
SCENARIOS = ["ingest", "poll", "plant_page", "plant_live", "sockets", "live_fanout", "history"]
LATEST = report.RESULTS_DIR / "latest.md"


def accepts_quick(name):
    """Whether a scenario takes --quick yet (every one should; an older one is run in full
    rather than fail on an unknown option)."""
    return "--quick" in (ROOT / "bench" / f"{name}.py").read_text()


def run_scenario(name, quick):
    cmd = [sys.executable, "-m", f"bench.{name}"]
    if quick and accepts_quick(name):
        cmd.append("--quick")
    log(f"=== {' '.join(cmd[1:])}")
    started = time.time()
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    path = report.RESULTS_DIR / f"{name}.json"
    result = None
    if path.exists() and path.stat().st_mtime >= started:  # written by this run
        result = normalised(json.loads(path.read_text()))
    return {"name": name, "returncode": done.returncode, "seconds": time.time() - started,
            "result": result}


def _shown(value, p50=None):
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else (
        f"{value:,}" if isinstance(value, int) else str(value))
    return f"{text} (p50 {p50:,.2f})" if p50 is not None else text


def normalised_row(r):
    """A scenario's row in report.row's shape. The live-layer and history scenarios write
    {figure, value, ...} or {name, figure: number, ...}; the ingest ones report.row."""
    if "measured" in r:
        return r
    if "name" in r:  # bench/history.py
        label, value = r["name"], r["figure"]
    else:
        label, value = r["figure"], r.get("value")
    return report.row(label, _shown(value, r.get("p50")), r.get("unit", ""),
                      r.get("target") or "(info)", r.get("met"),
                      value=value if isinstance(value, int | float) else None)


def normalised(data):
    machine = data.get("machine") or {"cores": data.get("cores"),
                                      "app_commit": data.get("commit")}
    if "load_1min" in machine:
        machine = {**machine, "load_before": machine["load_1min"],
                   "load_after": machine["load_1min"]}
    return {**data, "machine": machine, "rows": [normalised_row(r) for r in data["rows"]]}


def combined_rows(outcomes):
    rows = []
    for o in outcomes:
        if o["result"]:
            rows += [(o["name"], r) for r in o["result"]["rows"]]
        else:
            rows.append((o["name"], report.row(
                "scenario did not write its results", f"exit status {o['returncode']}", "",
                "runs and reports", False)))
    return rows


def markdown(outcomes, seconds):
    rows = combined_rows(outcomes)
    args = " ".join(sys.argv[1:])
    out = [f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `make bench"
           f"{f' ARGS={args!r}' if args else ''}` — {seconds:.0f} s", "",
           "| scenario | " + " | ".join(report.HEADERS) + " |",
           "|---" * (len(report.HEADERS) + 1) + "|"]
    out += [f"| {name} | " + " | ".join(str(c) for c in report.cells(r)) + " |"
            for name, r in rows]
    out += ["", "Machines (per scenario; the load average says whether other work ran "
                "at the same time):", ""]
    for o in outcomes:
        res = o["result"]
        line = report.machine_line(res["machine"]) if res else "—"
        out.append(f"- {o['name']} ({o['seconds']:.0f} s): {line}")
    for o in outcomes:
        if o["result"] and o["result"].get("detail"):
            out += ["", f"{o['result']['title']}:", "", *o["result"]["detail"]]
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="every scenario with --quick")
    p.add_argument("--only", nargs="+", choices=SCENARIOS, default=SCENARIOS)
    args = p.parse_args(argv)
    started = time.time()
    outcomes = [run_scenario(name, args.quick) for name in SCENARIOS if name in args.only]
    rows = combined_rows(outcomes)
    report.print_table("All scenarios", [
        {**r, "figure": f"{name}: {r['figure']}"} for name, r in rows])
    report.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    LATEST.write_text(markdown(outcomes, time.time() - started))
    log(f"wrote {LATEST.relative_to(ROOT)}")
    failed = any(r["met"] is False for _, r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
