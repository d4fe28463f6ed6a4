#!/usr/bin/python3
"""Continuous protection: a chain of failovers and planned switchovers.

Claim under test: after each kill of the primary the survivor is protected
again by a new backup on the dead host within about a second (64 MiB VM),
the hosts alternate, and one client connection survives the whole chain
with no violation and no reconnect in buffered and both reverse modes; a
planned switchover costs the client tens of milliseconds, not a failover.
"""
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "protection-chain"
HOSTS = ["pri", "bak"]
CHAIN = {"mode": "str", "round": "int", "from_host": "str", "to_host": "str",
         "outage_ms": "float?", "reprotect_ms": "float?", "violations": "int?",
         "reconnects": "int?"}
SWITCH = {"mode": "str", "switchover": "int", "from_host": "str", "to_host": "str",
          "outage_ms": "float?", "stall_ms": "float?", "handover_ms": "float?",
          "restore_ms": "float?", "announce_ms": "float?", "first_frame_out_ms": "float?",
          "protected_ms": "float?"}
ROUNDS = {"kind": "str", "mode": "str", "n": "int", "reprotect_stall_ms": "float?"}
PHASES = [("handover_ms", "handover"), ("restore_ms", "restore"),
          ("announce_ms", "announce"), ("first_frame_out_ms", "first frame")]
REPROTECT_GOAL_MS = 1000.0   # issue 11: backup start -> protected, 64 MiB VM
SWITCH_GOAL_MS = 20.0        # issue 11: switchover outage, median


def load_optional(results_dir, filename, columns):
    """A CSV the scenario writes only in some runs: None when absent, checked
    like the others when present."""
    if not os.path.exists(os.path.join(results_dir, filename)):
        return None, None
    return fl.load_csv(results_dir, filename, columns,
                       {"mode": fl.MODES, "from_host": HOSTS, "to_host": HOSTS,
                        "kind": ["round", "switchover"]})


def check_rows(path, rows, key):
    """No negative times or counts, one row per (mode, key), hosts differ."""
    seen = set()
    for r in rows:
        for c, v in r.items():
            if isinstance(v, (int, float)) and not c.startswith("_") and v < 0:
                fl.die("%s:%d: column '%s': negative value %g" % (path, r["_line"], c, v))
        k = (r["mode"], r[key])
        if k in seen:
            fl.die("%s:%d: mode %s %s %d appears twice" % (path, r["_line"], r["mode"], key, r[key]))
        seen.add(k)
        if "from_host" in r and r["from_host"] == r["to_host"]:
            fl.die("%s:%d: from_host and to_host are both '%s'" % (path, r["_line"], r["from_host"]))


def bars(ax, xs, series, width):
    """Side-by-side bars per x; series: [(values, style kwargs)]. None = no
    bar. Returns the bar centres per series."""
    n = len(series)
    centres = []
    for i, (vals, kw) in enumerate(series):
        off = (i - (n - 1) / 2) * width
        cx = [x + off for x in xs]
        centres.append(cx)
        pts = [(c, v) for c, v in zip(cx, vals) if v is not None]
        if pts:
            ax.bar([c for c, _ in pts], [v for _, v in pts], width, **kw)
    return centres


def label_values(ax, xs, vals, fmt="%.0f", **kw):
    for x, v in zip(xs, vals):
        if v is not None:
            ax.text(x, v * 1.08, fmt % v, ha="center", va="bottom", fontsize=6, **kw)


def pair_panel(ax, rows, key, left, right):
    """Per row (a round or a switchover, in order) two labelled bars side by
    side; left/right: (column, bar style). x labels: number and hosts.
    Returns (left values, right values, right bar centres)."""
    xs = list(range(len(rows)))
    a = [r[left[0]] for r in rows]
    b = [r[right[0]] for r in rows]
    c_a, c_b = bars(ax, xs, [(a, left[1]), (b, right[1])], 0.38)
    label_values(ax, c_a, a)
    label_values(ax, c_b, b)
    ax.set_xticks(xs)
    ax.set_xticklabels(["%d\n%s\u2192%s" % (r[key], r["from_host"], r["to_host"]) for r in rows],
                       fontsize=7)
    return a, b, c_b


def main():
    args = fl.parse_args(
        NAME,
        "One row per mode. Left: per round of the chain (the hosts alternate), the "
        "client's outage across the takeover and the re-protection time (new backup "
        "started -> survivor protected), with the client's longest stall while the "
        "new backup was brought in (rounds.csv, when present); the client's "
        "violations and reconnects over the chain in the title. Right (when "
        "switchovers.csv is present): per planned switchover, the client's outage "
        "and its longest stall until protected again, the median phases noted. "
        "Log time axis, the same in every panel.",
        ["chain.csv: " + ",".join(CHAIN),
         "switchovers.csv (optional): " + ",".join(SWITCH),
         "rounds.csv (optional): " + ",".join(ROUNDS) + " (other columns ignored)"]).parse_args()
    cpath, chain = fl.load_csv(args.results_dir, "chain.csv", CHAIN,
                               {"mode": fl.MODES, "from_host": HOSTS, "to_host": HOSTS})
    spath, switch = load_optional(args.results_dir, "switchovers.csv", SWITCH)
    rpath, rounds = load_optional(args.results_dir, "rounds.csv", ROUNDS)
    meta = fl.load_meta(args.results_dir)
    check_rows(cpath, chain, "round")
    if switch:
        check_rows(spath, switch, "switchover")
    stall = {}
    for r in rounds or []:
        if r["reprotect_stall_ms"] is not None and r["reprotect_stall_ms"] < 0:
            fl.die("%s:%d: column 'reprotect_stall_ms': negative value" % (rpath, r["_line"]))
        if r["kind"] == "round":
            stall[(r["mode"], r["n"])] = r["reprotect_stall_ms"]

    by_mode = fl.group(chain, "mode")
    sw_by = fl.group(switch, "mode") if switch else {}
    modes = fl.mode_order(set(by_mode) | set(sw_by))
    times = [v for r in chain for v in (r["outage_ms"], r["reprotect_ms"]) if v]
    times += [v for v in stall.values() if v]
    times += [v for r in (switch or []) for v in (r["outage_ms"], r["stall_ms"]) if v]
    if not times:
        fl.die("%s: no outage or re-protection time in any row" % cpath)

    plt = fl.pyplot()  # only now: the input is known to be good
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D
    ncols = 2 if switch else 1
    fig, axes = plt.subplots(len(modes), ncols, figsize=(11 if switch else 8, 2.5 * len(modes) + 0.8),
                             squeeze=False,
                             gridspec_kw={"width_ratios": [2.2, 1]} if switch else None)
    # Whole decades below, room for the value labels above.
    lo = 10 ** math.floor(math.log10(min(times)))
    hi = max(times) * 4
    notes = []
    for row, mode in zip(axes, modes):
        st = fl.MODE_STYLE[mode]
        ax = row[0]
        rr = sorted(by_mode.get(mode, []), key=lambda r: r["round"])
        out, rep, c_rep = pair_panel(
            ax, rr, "round",
            ("outage_ms", dict(color=st["color"], edgecolor="#333333", lw=0.5, zorder=3)),
            ("reprotect_ms", dict(color="white", edgecolor=st["color"], hatch="///", lw=0.8, zorder=3)))
        sv = [stall.get((mode, r["round"])) for r in rr]
        pts = [(x + 0.12, v) for x, v in zip(c_rep, sv) if v is not None]
        if pts:
            ax.plot([x for x, _ in pts], [v for _, v in pts], ls="none", marker="D", ms=4,
                    color="black", zorder=4)
        for x, r in zip(c_rep, rr):
            if r["reprotect_ms"] is None:
                ax.text(x, lo * 1.5, "not\nprotected", ha="center", va="bottom", fontsize=7,
                        color="#B00000", zorder=5)
        ax.axhline(REPROTECT_GOAL_MS, color="#777777", ls="--", lw=0.8, zorder=1)
        viol = [r["violations"] for r in rr if r["violations"] is not None]
        recon = [r["reconnects"] for r in rr if r["reconnects"] is not None]
        v = max(viol) if viol else None
        c = max(recon) if recon else None
        bad = bool(v) or bool(c)
        ax.set_title("%s: %d rounds; client over the chain: violations %s, reconnects %s"
                     % (st["label"], len(rr), "?" if v is None else v, "?" if c is None else c),
                     fontsize=9, loc="left", color="#B00000" if bad else "black",
                     fontweight="bold" if bad else "normal")
        if bad and mode != "naive":
            notes.append("%s: %s violations, %s reconnects" % (mode, v, c))
        med = [x for x in out if x is not None]
        medr = [x for x in rep if x is not None]
        if med or medr:
            notes.append("%s: outage median %s ms, re-protection median %s ms" % (
                mode, "%.0f" % statistics.median(med) if med else "?",
                "%.0f" % statistics.median(medr) if medr else "?"))
        if switch:
            axs = row[1]
            ss = sorted(sw_by.get(mode, []), key=lambda r: r["switchover"])
            so, _, _ = pair_panel(
                axs, ss, "switchover",
                ("outage_ms", dict(color=st["color"], edgecolor="#333333", lw=0.5, zorder=3)),
                ("stall_ms", dict(color="white", edgecolor="#555555", hatch="..", lw=0.8, zorder=3)))
            axs.axhline(SWITCH_GOAL_MS, color="#777777", ls=":", lw=0.8, zorder=1)
            ph = []
            for col, lab in PHASES:
                vals = [r[col] for r in ss if r[col] is not None]
                if vals:
                    ph.append("%s %.1f" % (lab, statistics.median(vals)))
            axs.set_title("%d switchovers; median phases (ms):\n%s"
                          % (len(ss), ", ".join(ph) if ph else "none reported"),
                          fontsize=7.5, loc="left")
            if not ss:
                axs.text(0.5, 0.5, "no switchover", transform=axs.transAxes, ha="center",
                         fontsize=8, color="#B00000")
            so_v = [x for x in so if x is not None]
            if so_v:
                notes.append("%s switchovers: outage median %.0f ms" % (mode, statistics.median(so_v)))
        for a in row:
            a.set_yscale("log")
            a.set_ylim(lo, hi)
            a.yaxis.set_major_formatter(plt.FuncFormatter(lambda val, _: "%g" % val))
            a.grid(True, axis="y", alpha=0.3, which="major")
            a.set_axisbelow(True)
        ax.set_ylabel("ms (log scale)")
    axes[-1][0].set_xlabel("round: the dead host \u2192 the survivor")
    if switch:
        axes[-1][1].set_xlabel("switchover: from \u2192 to")

    handles = [Patch(fc="#888888", ec="#333333"), Patch(fc="white", ec="#555555", hatch="///"),
               Line2D([], [], ls="none", marker="D", color="black", ms=5),
               Line2D([], [], color="#777777", ls="--", lw=0.8)]
    labels = ["outage (client stall across the takeover; mode colour)",
              "re-protection (new backup started \u2192 protected)",
              "client's longest stall while re-protecting",
              "re-protection goal 1 s (64 MiB VM)"]
    if switch:
        handles += [Patch(fc="white", ec="#555555", hatch=".."),
                    Line2D([], [], color="#777777", ls=":", lw=0.8)]
        labels += ["switchover: longest stall until protected again", "switchover goal 20 ms"]
    note = ("Violations and reconnects are the consistency client's totals over each mode's "
            "chain (one client, one connection per kind, through every round and switchover); "
            "they must be 0 for buffered and reverse. " + "; ".join(notes) + ".")
    fl.finish(fig, meta, note, args, NAME, "Continuous protection: a chain of failovers",
              legend=(handles, labels), ncol=3)


if __name__ == "__main__":
    main()
