"""Shared helpers for the paper-figures/fig_*.py scripts.

The CSV schemas of docs/experiments.md are the contract: every script
declares the columns it reads with a type, and anything that does not match
ends the script with exit status 1 and one line on stderr naming the file
(and line/column) at fault. A figure silently drawn from a half-written or
renamed CSV is worse than no figure.
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys
import textwrap

MODES = ["none", "buffered", "reverse-inline", "reverse-mirror", "naive"]

# One look per mode in every figure, so a reader can match them across the
# paper. Colour-blind-safe hues (Okabe-Ito); "none" is the neutral baseline.
MODE_STYLE = {
    "none": dict(color="#555555", marker="s", label="none (no replication)"),
    "buffered": dict(color="#D55E00", marker="o", label="buffered (Remus)"),
    "reverse-inline": dict(color="#0072B2", marker="^", label="reverse, inline"),
    "reverse-mirror": dict(color="#009E73", marker="v", label="reverse, mirror"),
    "naive": dict(color="#CC79A7", marker="x", label="naive (no replay log)"),
}

_PROG = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "figure"


def pyplot():
    """matplotlib.pyplot, imported only once the inputs have been checked:
    the import costs about a second, and bad input should fail fast."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def die(msg):
    """The single exit path for bad input: one line, status 1."""
    sys.stderr.write("%s: error: %s\n" % (_PROG, " ".join(str(msg).split())))
    sys.exit(1)


def parse_args(name, description, reads):
    """Common CLI. `reads` lists "file: columns" for the --help text."""
    epilog = "reads (from RESULTS_DIR):\n" + "".join(
        "  %s\n" % r for r in reads) + (
        "also reads RESULTS_DIR/meta.json for the caption.\n"
        "writes fig-%s.png and fig-%s.pdf into --out (default RESULTS_DIR).\n"
        "exit status 1, with one line on stderr, if an input is missing or\n"
        "does not match the schema of docs/experiments.md." % (name, name))
    p = argparse.ArgumentParser(
        description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results_dir", metavar="RESULTS_DIR",
                   help="a scenario results dir, e.g. results/%s/latest" % name)
    p.add_argument("--out", metavar="DIR",
                   help="directory for the PNG and PDF (default RESULTS_DIR)")
    return p


def check_dir(results_dir):
    if not os.path.isdir(results_dir):
        die("results dir %s: missing (no such directory)" % results_dir)


def _convert(path, lineno, col, raw, kind, allowed):
    """kind: "float", "int" or "str"; a trailing "?" allows an empty cell
    (returned as None)."""
    raw = (raw or "").strip()
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if raw == "":
        if optional:
            return None
        die("%s:%d: column '%s' is empty (a value is required)" % (path, lineno, col))
    if kind == "str":
        if allowed is not None and raw not in allowed:
            die("%s:%d: column '%s': unknown value '%s' (expected one of: %s)"
                % (path, lineno, col, raw, ", ".join(allowed)))
        return raw
    try:
        v = float(raw)
    except ValueError:
        v = None
    if v is None or not math.isfinite(v):
        die("%s:%d: column '%s': '%s' is not a number" % (path, lineno, col, raw))
    if kind == "int":
        if v != int(v):
            die("%s:%d: column '%s': '%s' is not an integer" % (path, lineno, col, raw))
        return int(v)
    return v


def load_csv(results_dir, filename, columns, allowed=None):
    """Rows of RESULTS_DIR/filename as dicts with typed values.

    columns: {name: "float" | "int" | "str", with "?" for empty allowed}.
    allowed: {name: [values]} for enumerated string columns.
    Each row also carries "_line" (1-based line number) for later messages.
    Extra columns are ignored: a schema may grow without breaking figures.
    """
    allowed = allowed or {}
    check_dir(results_dir)
    path = os.path.join(results_dir, filename)
    if not os.path.isfile(path):
        die("%s: missing (no such file)" % path)
    if os.path.getsize(path) == 0:
        die("%s: empty file (0 bytes, no header)" % path)
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            die("%s: no header line" % path)
        header = [h.strip() for h in header]
        missing = [c for c in columns if c not in header]
        if missing:
            die("%s: missing required column(s): %s (header: %s)"
                % (path, ", ".join(missing), ",".join(header)))
        idx = {c: header.index(c) for c in columns}
        rows = []
        for fields in reader:
            lineno = reader.line_num
            if not fields or all(not x.strip() for x in fields):
                continue
            if len(fields) != len(header):
                die("%s:%d: %d fields, the header has %d"
                    % (path, lineno, len(fields), len(header)))
            row = {"_line": lineno}
            for c, kind in columns.items():
                row[c] = _convert(path, lineno, c, fields[idx[c]], kind,
                                  allowed.get(c))
            rows.append(row)
    if not rows:
        die("%s: header only, no data rows" % path)
    return path, rows


def require(path, row, col, why):
    """A cell the schema allows empty but this row needs (e.g. epoch_ms of a
    replicated mode)."""
    if row[col] is None:
        die("%s:%d: column '%s' is empty (%s)" % (path, row["_line"], col, why))
    return row[col]


def load_meta(results_dir):
    check_dir(results_dir)
    path = os.path.join(results_dir, "meta.json")
    if not os.path.isfile(path):
        die("%s: missing (no such file; the caption needs it)" % path)
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        die("%s: not valid JSON (%s)" % (path, e))
    if not isinstance(meta, dict):
        die("%s: not a JSON object" % path)
    return meta


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return "?"
        d = d[k]
    return d


def caption(meta, note="", width=150):
    """Provenance lines for under the figure, so a PNG pasted out of context
    still says where it came from; then the sample flag and the figure's
    note. width: characters per line."""
    commit = str(_get(meta, "commit"))
    dirty = meta.get("dirty")
    if commit.endswith("-dirty"):   # older meta.json spelled it this way
        commit, dirty = commit[:-len("-dirty")], True
    commit = commit[:7] + (" (dirty)" if dirty is True else "")
    quick = meta.get("quick")
    run = "quick" if quick is True else "full" if quick is False else "quick/full ?"
    steal = _get(meta, "host", "steal_pct")
    steal = ("%.1f%%" % steal) if isinstance(steal, (int, float)) else "?"
    parts = ["scenario %s" % _get(meta, "scenario"), "run %s" % _get(meta, "stamp"),
             "commit %s" % commit, run,
             "host %s x%s" % (_get(meta, "host", "cpu"), _get(meta, "host", "nproc")),
             "CPU steal %s" % steal]
    if meta.get("idle_policy"):
        parts.append("idle CPUs while measuring latency: %s" % meta["idle_policy"])
    if isinstance(meta.get("failures"), int) and meta["failures"] > 0:
        parts.append("%d step(s) failed, see meta.json" % meta["failures"])
    lines = textwrap.wrap(" | ".join(parts), width, break_on_hyphens=False)
    extra = []
    if meta.get("sample") is True:
        extra.append("SAMPLE: %s." % meta.get("note", "illustrative sample, not a measurement"))
    elif meta.get("note"):
        extra.append("Note: %s." % meta["note"])
    if note:
        extra.append(note)
    if extra:
        lines += textwrap.wrap(" ".join(extra), width, break_on_hyphens=False)
    return lines


def idle_note(meta):
    """For latency figures: a warning when the run did not record an idle
    policy (the caption states it when it did). An idle CPU takes tens of
    microseconds to wake here, so modes measured under different idle
    conditions are not comparable (docs/experiments.md, "Idle policy")."""
    if meta.get("idle_policy"):
        return ""
    return ("Idle CPUs were not equalised across modes in this run (no idle_policy "
            "in meta.json): a mode that keeps CPUs busy looks faster than it is.")


def finish(fig, meta, note, args, name, title, legend=None, ncol=5):
    """Title and an optional figure-wide legend on top (a legend inside the
    axes hides data somewhere, sooner or later), the caption under the axes,
    then PNG + PDF into --out; prints the paths. legend: (handles, labels)."""
    w, h = fig.get_size_inches()
    top_in = 0.4
    # fig.text, not suptitle: tight_layout would reserve room for a
    # suptitle a second time on top of top_in.
    fig.text(0.5, 1 - 0.1 / h, title, fontsize=12, ha="center", va="top")
    if legend:
        handles, labels = legend
        ncol = min(ncol, len(labels))
        rows = -(-len(labels) // ncol)
        # matplotlib fills legend columns first; reorder so entries read
        # left to right, row by row.
        order = [r * ncol + c for c in range(ncol) for r in range(rows)
                 if r * ncol + c < len(labels)]
        handles = [handles[i] for i in order]
        labels = [labels[i] for i in order]
        fig.legend(handles, labels, loc="upper center", ncol=ncol, fontsize=8,
                   frameon=False, bbox_to_anchor=(0.5, 1 - top_in / h))
        top_in += rows * 0.2 + 0.1
    # About 20 characters of 7-pt text per inch; 0.15 in per line.
    lines = caption(meta, note, width=int(w * 19))
    bottom = (len(lines) * 0.15 + 0.1) / h
    fig.tight_layout(rect=(0, bottom, 1, 1 - top_in / h))
    fig.text(0.01, 0.08 / h, "\n".join(lines), ha="left", va="bottom",
             fontsize=7, color="#333333", linespacing=1.3)
    out = args.out or args.results_dir
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        die("--out %s: %s" % (out, e.strerror))
    paths = []
    for ext, kw in (("png", {"dpi": 150}), ("pdf", {})):
        p = os.path.join(out, "fig-%s.%s" % (name, ext))
        try:
            fig.savefig(p, **kw)
        except OSError as e:
            die("%s: %s" % (p, e.strerror))
        paths.append(p)
    pyplot().close(fig)
    for p in paths:
        print(p)


def unique_legend(*axes):
    """Handles and labels of several axes, each label once, in order."""
    seen, hs, ls = set(), [], []
    for ax in axes:
        for hnd, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen and not lab.startswith("_"):
                seen.add(lab)
                hs.append(hnd)
                ls.append(lab)
    # Modes first, in the usual order, then references (bands, ideals).
    def rank(i):
        for r, st in enumerate(MODE_STYLE.values()):
            if ls[i].startswith(st["label"]):
                return (r, i)
        return (len(MODE_STYLE), i)
    order = sorted(range(len(ls)), key=rank)
    return [hs[i] for i in order], [ls[i] for i in order]


def mode_order(present):
    return [m for m in MODES if m in present]


def spread(values):
    """(median, min, max) of a non-empty list."""
    return statistics.median(values), min(values), max(values)


def group(rows, *keys):
    """{key: [rows]} keyed by one column's value, or a tuple for several."""
    out = {}
    for r in rows:
        k = r[keys[0]] if len(keys) == 1 else tuple(r[c] for c in keys)
        out.setdefault(k, []).append(r)
    return out
