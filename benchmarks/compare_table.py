"""The tables compare.py prints (plain, and markdown for
benchmarks/RESULTS.md): one line per figure, each side's median and
spread, goro's speedup over Go, and the header line that says where the
run was made. Standard library only.
"""

import datetime
import os
import platform
import statistics
import subprocess

from compare_runs import HIGHER_IS_BETTER


def fmt_num(v):
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def summarize(row_name, procs_label, suffix, goro, go, rounds):
    """Return table lines (list of dicts) for one row."""
    figs = list(goro.order)
    for f in go.order:
        if f not in figs:
            figs.append(f)
    lines = []
    if not figs:
        figs = [None]
    for f in figs:
        name = row_name if f is None else f + suffix
        unit = goro.units.get(f) or go.units.get(f) or "-"
        cells = {"benchmark": name, "procs": procs_label, "unit": unit}
        meds = {}
        for key, side in (("goro", goro), ("go", go)):
            vals = side.values.get(f, []) if f is not None else []
            if side.missing:
                cells[key + "_median"] = "missing"
                cells[key + "_spread"] = "-"
            elif not vals:
                cells[key + "_median"] = "failed" if side.failed else "-"
                cells[key + "_spread"] = f"{side.failed}/{side.runs} failed" if side.failed else "-"
            else:
                med = statistics.median(vals)
                meds[key] = med
                cells[key + "_median"] = fmt_num(med)
                spread = f"{fmt_num(min(vals))}-{fmt_num(max(vals))}"
                if len(vals) < rounds:
                    spread += f" (n={len(vals)})"
                cells[key + "_spread"] = spread
        gu, ou = goro.units.get(f), go.units.get(f)
        if "goro" in meds and "go" in meds:
            if gu != ou:
                cells["speedup"] = "unit mismatch"
            elif meds["goro"] == 0 or meds["go"] == 0:
                cells["speedup"] = "-"
            elif unit in HIGHER_IS_BETTER:
                cells["speedup"] = f"{meds['goro'] / meds['go']:.2f}x"
            else:
                cells["speedup"] = f"{meds['go'] / meds['goro']:.2f}x"
        else:
            cells["speedup"] = "-"
        lines.append(cells)
    return lines


COLUMNS = [
    ("benchmark", "benchmark"),
    ("procs", "procs"),
    ("unit", "unit"),
    ("goro_median", "goro median"),
    ("goro_spread", "goro spread"),
    ("go_median", "Go median"),
    ("go_spread", "Go spread"),
    ("speedup", "speedup over Go"),
]
NUMERIC = {"goro_median", "go_median", "speedup"}


def plain_table(rows):
    widths = {k: len(h) for k, h in COLUMNS}
    for r in rows:
        for k, _ in COLUMNS:
            widths[k] = max(widths[k], len(r[k]))
    out = []
    hdr = "  ".join(h.ljust(widths[k]) for k, h in COLUMNS)
    out.append(hdr.rstrip())
    out.append("  ".join("-" * widths[k] for k, _ in COLUMNS))
    for r in rows:
        cells = []
        for k, _ in COLUMNS:
            cells.append(r[k].rjust(widths[k]) if k in NUMERIC else r[k].ljust(widths[k]))
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def markdown_table(rows):
    out = ["| " + " | ".join(h for _, h in COLUMNS) + " |"]
    out.append("|" + "|".join("---:" if k in NUMERIC else "---" for k, _ in COLUMNS) + "|")
    for r in rows:
        cells = []
        for k, _ in COLUMNS:
            v = r[k]
            if k.endswith("_spread"):
                v = v.replace("-", "–") if v not in ("-",) and "failed" not in v else v
            cells.append(v)
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def nproc():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 0


def go_version():
    try:
        return subprocess.run(["go", "version"], capture_output=True, text=True,
                              timeout=30).stdout.strip().replace("go version ", "")
    except (OSError, subprocess.SubprocessError):
        return "go ?"


def header_line(rounds, http=None):
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f"{now}, nproc {nproc()}, {cpu_model()}, kernel {platform.release()},"
            f" {go_version()}, {rounds} interleaved rounds per row"
            + (f" ({http[0]} for http_hello, wrk -t2 -c64 -d{http[1]})" if http else "")
            + ": median (min-max)")
