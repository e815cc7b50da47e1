"""Run every Liveify benchmark, print one table with PASS/MISS against DESIGN.md's targets, and
record it with the date and machine in benchmarks/README.md ("Latest results").

    python benchmarks/run.py            # the full suite (~15-25 minutes on 2 cores)
    python benchmarks/run.py --quick    # shorter tracks and fewer repeats (~5 minutes)
    python benchmarks/run.py --only memory data_speed

Each benchmark runs in a fresh Python process (no shared imports, JIT caches or allocator
state); one that fails shows as an ERROR row with its last output line and the suite goes on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from common import REPO, machine, print_rows

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
#: Benchmark modules in run order; each has `run(quick: bool) -> list[dict]`.
BENCHMARKS = ("render_speed", "startup", "model_speed", "memory", "data_speed", "train_speed",
              "batch_speed")  # fmt: skip
RESULTS_HEADING = "## Latest results"
_MARKER = "@@liveify-benchmark-rows@@"
_CHILD = """
import importlib, json, sys
sys.path.insert(0, {here!r})
rows = importlib.import_module({name!r}).run(quick={quick!r})
print({marker!r} + json.dumps(rows, default=float), flush=True)
"""


def error_row(name: str, reason: str) -> dict:
    return {"benchmark": name, "value": None, "unit": "", "target": None, "result": "ERROR",
            "note": reason[:200]}  # fmt: skip


def normalise(row: dict, module: str) -> dict:
    """Rows of `common.row` pass through; model_speed's `{name, target, passed}` rows convert."""
    if "result" in row:
        return row
    target, passed = row.get("target"), row.get("passed")
    return {
        "benchmark": f"{module}: {row.get('name', '?')}",
        "value": None if row.get("value") is None else round(float(row["value"]), 3),
        "unit": row.get("unit", ""),
        "target": None if target is None else f">= {target}",
        "result": "-" if passed is None else ("PASS" if passed else "MISS"),
        "note": row.get("note", ""),
    }


def run_benchmark(name: str, quick: bool, timeout_s: float | None) -> list[dict]:
    """Run `benchmarks/<name>.py`'s `run(quick)` in a child process, echoing its output."""
    if not (HERE / f"{name}.py").exists():
        return [error_row(name, f"benchmarks/{name}.py not found")]
    code = _CHILD.format(here=str(HERE), name=name, quick=quick, marker=_MARKER)
    tail: deque[str] = deque(maxlen=20)
    rows = None
    with subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as child:
        watchdog = threading.Timer(timeout_s, child.kill) if timeout_s else None
        if watchdog is not None:
            watchdog.start()
        try:
            for line in child.stdout:
                if line.startswith(_MARKER):
                    rows = json.loads(line[len(_MARKER) :])
                    continue
                print(f"  [{name}] {line}", end="", flush=True)
                if line.strip():
                    tail.append(line.strip())
        except KeyboardInterrupt:
            child.kill()
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
        code = child.wait()
    if timeout_s and code < 0:
        return [error_row(name, f"killed after the {timeout_s:.0f} s --timeout")]
    if code != 0 or rows is None:
        reason = tail[-1] if tail else f"exit code {code}"
        return [error_row(name, f"{reason} (exit code {code})")]
    return [normalise(row, name) for row in rows]


def markdown_table(rows: list[dict]) -> str:
    header = ("benchmark", "value", "unit", "target", "result", "note")
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---|---|---|---|"]
    for row in rows:
        cells = ["" if row.get(key) is None else str(row[key]) for key in header]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def results_section(rows: list[dict], *, quick: bool, minutes: float, load: str) -> str:
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    mode = "`python benchmarks/run.py --quick`" if quick else "`python benchmarks/run.py`"
    return (
        f"{RESULTS_HEADING}\n\n"
        f"{when}, {mode}, {minutes:.0f} minutes; machine: {machine()}; load average before the "
        f"run {load}. Taken on a shared machine (other jobs were using the same cores), so speed "
        "figures are conservative and vary from run to run; ratios measured within one "
        "benchmark (ORT vs torch, model vs matmul peak) are the steadier numbers.\n\n"
        + markdown_table(rows)
        + "\n"
    )


def write_results(section: str, readme: Path = README) -> None:
    """Replace the "Latest results" section of the README (appended if there is none)."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n\n"
    start = text.find(RESULTS_HEADING)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(RESULTS_HEADING))
        rest = "" if end < 0 else text[end + 1 :]
        text = text[:start] + section + rest
    readme.write_text(text, encoding="utf-8")


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter tracks, fewer repeats")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--timeout", type=float, help="seconds allowed per benchmark")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    arguments = parser.parse_args()

    load = _load_average()
    started = time.perf_counter()
    rows = []
    for name in arguments.only or BENCHMARKS:
        print(f"== {name}", flush=True)
        rows += run_benchmark(name, arguments.quick, arguments.timeout)
    minutes = (time.perf_counter() - started) / 60
    print()
    print_rows(rows)
    if not arguments.no_readme and not arguments.only:
        write_results(results_section(rows, quick=arguments.quick, minutes=minutes, load=load))
        print(f"\nwritten to {README.relative_to(REPO)}")


if __name__ == "__main__":
    main()
