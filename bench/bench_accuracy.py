"""Accuracy of the hypothesis library on generated incidents (`make bench-accuracy`).

For each fault type, N scenarios with fresh seeds are generated; each is investigated with the
bundled library (selection, snapshot and parameters exactly as `rca investigate` does, templates
executed in-process for speed: tests check that this agrees with papermill) and scored:
- AC@1: the leading hypothesis is the true cause;
- cause supported: the true cause's verdict is `supported`;
- false-supported rate: supported hypotheses that are neither the cause nor a documented
  consequence (the cause's `explains`), over all such bystander runs.
The missing-data scenario must make the cause `inconclusive`, naming the missing series, with
no bystander supported.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from rca_kit.intake import parse_alerts
from rca_kit.library import load_library
from rca_kit.pipeline import freeze_evidence, job_parameters
from rca_kit.scenarios import FAULTS, MISSING_DATA, export_end, generate
from rca_kit.selection import consequences, leading, select
from rca_kit.testing import run_inline, scenario_workspace


def evaluate(fault: str, seed: int) -> dict[str, Any]:
    """Investigate one generated scenario in-process; return verdicts and the leading cause."""
    scenario = generate(fault, seed)
    with tempfile.TemporaryDirectory(prefix="rca-acc-") as tmp:
        workspace = scenario_workspace(scenario, Path(tmp))
        payload = (workspace.root / "examples" / "alerts" / "consumer-lag.json").read_bytes()
        alert = replace(parse_alerts(payload)[0], id="bench")
        specs = load_library(workspace.library_dir, workspace.templates_dir)
        chosen = select(specs, alert)
        snapshot = freeze_evidence(
            workspace, alert, chosen, "bench", Path(tmp) / "snap", export_end(scenario)
        )
        outcomes = [
            replace(
                run_inline(
                    workspace.templates_dir / s.template,
                    snapshot.path,
                    **job_parameters(s, workspace, alert, "bench", snapshot),
                ),
                hypothesis_id=s.id,
            )
            for s in chosen
        ]
    by_id = {s.id: s for s in specs}
    lead = leading(outcomes, by_id)
    cause = "backpressure" if fault == MISSING_DATA else fault
    return {
        "fault": fault,
        "seed": seed,
        "cause": cause,
        "leading": lead.hypothesis_id if lead else None,
        "verdicts": {o.hypothesis_id: o.verdict for o in outcomes},
        "summaries": {o.hypothesis_id: o.summary for o in outcomes},
        "missing": {o.hypothesis_id: list(o.missing_data) for o in outcomes},
        "consequences": consequences(outcomes, by_id),
        "documented": list(by_id[cause].explains),
        "missing_series": scenario.missing,
    }


def _evaluate(args: tuple[str, int]) -> dict[str, Any]:
    return evaluate(*args)


def score(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        groups[result["fault"]].append(result)
    groups["overall"] = [r for r in results if r["fault"] != MISSING_DATA]
    for fault, rows in groups.items():
        bystanders = false = 0
        for r in rows:
            for hid, verdict in r["verdicts"].items():
                if hid != r["cause"] and hid not in r["documented"]:
                    bystanders += 1
                    false += verdict == "supported"
        table[fault] = {
            "n": len(rows),
            "ac1": sum(r["leading"] == r["cause"] for r in rows) / len(rows),
            "cause_supported": sum(r["verdicts"].get(r["cause"]) == "supported" for r in rows)
            / len(rows),
            "false_supported": false / bystanders if bystanders else 0.0,
            "cause_inconclusive": sum(r["verdicts"].get(r["cause"]) == "inconclusive" for r in rows)
            / len(rows),
        }
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-fault", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="first seed (default: fresh)")
    parser.add_argument("--faults", nargs="*", default=[*FAULTS, MISSING_DATA])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--details", type=Path, help="write every scenario's verdicts as JSON here")
    args = parser.parse_args()
    first = args.seed if args.seed is not None else secrets.randbelow(10**6)
    work = [(fault, first + i) for fault in args.faults for i in range(args.per_fault)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(_evaluate, work, chunksize=1)
    table = score(results)
    print(
        f"{len(work)} scenarios, seeds {first}..{first + args.per_fault - 1} per fault, "
        f"{time.perf_counter() - started:.0f}s, {datetime.now():%Y-%m-%d %H:%M}"
    )
    print(f"{'fault':<22}{'n':>4}{'AC@1':>7}{'cause sup.':>12}{'false sup.':>12}{'cause inc.':>12}")
    for fault, row in table.items():
        print(
            f"{fault:<22}{row['n']:>4.0f}{row['ac1']:>7.2f}{row['cause_supported']:>12.2f}"
            f"{row['false_supported']:>12.3f}{row['cause_inconclusive']:>12.2f}"
        )
    missing = [r for r in results if r["fault"] == MISSING_DATA]
    named = all(
        any(m.split("/")[1] in " ".join(r["missing"][r["cause"]]) for m in r["missing_series"])
        for r in missing
    )
    if missing:
        print(
            f"missing-data: cause inconclusive naming the missing series in "
            f"{sum(r['verdicts'][r['cause']] == 'inconclusive' for r in missing)}/{len(missing)}; "
            f"names it: {named}"
        )
    for r in results:
        if r["leading"] != r["cause"] and r["fault"] != MISSING_DATA:
            print(
                f"  miss {r['fault']}#{r['seed']}: leading {r['leading']}, verdicts {r['verdicts']}"
            )
    if args.details:
        args.details.write_text(json.dumps(results, indent=1))
    overall = table["overall"]
    ok = (
        overall["ac1"] >= 0.9
        and overall["false_supported"] <= 0.05
        and all(
            row["ac1"] >= 0.8
            for fault, row in table.items()
            if fault not in ("overall", MISSING_DATA)
        )
    )
    print(
        "targets met"
        if ok
        else "targets NOT met (AC@1 >= 0.9 overall, >= 0.8 per fault, false-supported <= 0.05)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
