#!/usr/bin/python3
"""What a client sees around a primary failure: one panel per mode (rows)
and fault kind (columns: crash, freeze, links down, replication link down,
planned switchover).

Claim under test: a crash is detected at once (the closed link) and a hung
or cut-off host within the adaptive threshold (tens of ms), so the
client-visible outage is tens of milliseconds plus, in buffered mode, the
client's retransmission; fencing, restore, announce and replay add tens of
milliseconds, and service comes back at the old rate. A replication link
failure alone is no failover: reverse clients see nothing, buffered ones
wait until the primary gives its backup up.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "failover-timeline"
BINS = {"mode": "str", "kill": "int", "t_ms": "float", "replies": "int",
        "p50_ms": "float?", "max_ms": "float?"}
PHASES = {"mode": "str", "kill": "int", "phase": "str", "start_ms": "float",
          "end_ms": "float?"}
PHASE_NAMES = ["detect", "fence", "restore", "announce", "replay", "first_frame"]
FAULTS = ["crash", "freeze", "links-down", "replication-link-down", "switchover"]
FAULT_LABEL = {"crash": "kill -9", "freeze": "SIGSTOP (frozen host)",
               "links-down": "host links down",
               "replication-link-down": "replication link down",
               "switchover": "planned switchover"}
# Pale hues, none close to a mode colour, so the spans stay background.
PHASE_COLOR = {"detect": "#FFE9A8", "fence": "#D9C7EE", "restore": "#BFE3F5",
               "announce": "#F7C6CF", "replay": "#7FBF7B", "first_frame": "#D0D0D0"}


def outage(kbins, bin_ms):
    """Longest run of reply-less bins from the kill on, in ms: the stall a
    client sees (bins before the kill may be empty too, e.g. buffered
    replies come out once per epoch)."""
    best = run = 0
    for t, rep in kbins:
        if t < -bin_ms:
            continue
        run = run + 1 if rep == 0 else 0
        best = max(best, run)
    return best * bin_ms


def has_column(results_dir, filename, column):
    """Results from before the fault column: every kill was a crash."""
    with open(os.path.join(results_dir, filename), encoding="utf-8-sig",
              errors="replace") as f:
        return column in [h.strip() for h in f.readline().split(",")]


def load(results_dir, filename, columns, allowed):
    if has_column(results_dir, filename, "fault"):
        columns = dict(columns, fault="str")
        allowed = dict(allowed, fault=FAULTS)
    path, rows = fl.load_csv(results_dir, filename, columns, allowed)
    for r in rows:
        r.setdefault("fault", "crash")
    return path, rows


def main():
    args = fl.parse_args(
        NAME,
        "One panel per mode (rows) and fault kind (columns, if the results "
        "have several), time in ms relative to the fault (line at 0): "
        "replies per bin converted to requests/s (left axis, filled) and the "
        "p50 latency of the replies in each bin (right axis, log, dots); "
        "failover phases drawn as shaded spans. With several kills per panel "
        "the kill with the median client-visible outage is shown.",
        ["bins.csv: " + ",".join(BINS) + "[,fault]",
         "phases.csv: " + ",".join(PHASES) + "[,fault]"]).parse_args()
    fl.check_dir(args.results_dir)
    for name in ("bins.csv", "phases.csv"):
        if not os.path.isfile(os.path.join(args.results_dir, name)):
            fl.die("%s: missing (no such file)" % os.path.join(args.results_dir, name))
    bpath, bins = load(args.results_dir, "bins.csv", BINS, {"mode": fl.MODES})
    ppath = os.path.join(args.results_dir, "phases.csv")
    with open(ppath, encoding="utf-8-sig", errors="replace") as f:
        header_only = os.path.getsize(ppath) > 0 and \
            not any(line.strip() for line in list(f)[1:])
    if header_only and all(r["fault"] == "replication-link-down" for r in bins):
        # A replication link failure alone must not fail over: no phases.
        phases = []
    else:
        ppath, phases = load(args.results_dir, "phases.csv", PHASES,
                             {"mode": fl.MODES, "phase": PHASE_NAMES})
    meta = fl.load_meta(args.results_dir)

    ts = sorted({r["t_ms"] for r in bins})
    steps = [b - a for a, b in zip(ts, ts[1:]) if b > a]
    bin_ms = min(steps) if steps else 10.0
    by_panel = fl.group(bins, "mode", "fault")
    modes = fl.mode_order({m for m, _ in by_panel})
    faults = [f for f in FAULTS if any(pf == f for _, pf in by_panel)]
    ph_by = fl.group(phases, "mode", "fault", "kill")

    plt = fl.pyplot()  # only now: the input is known to be good
    import numpy as np
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D
    ncols = len(faults)
    fig, grid_axes = plt.subplots(len(modes), ncols,
                                  figsize=(9 if ncols == 1 else 4.6 * ncols,
                                           2.3 * len(modes) + 0.6),
                                  sharex=True, squeeze=False)
    chosen, lat_axes, used_phases, axes = [], [], [], []
    panels = [(grid_axes[i][j], mode, fault) for i, mode in enumerate(modes)
              for j, fault in enumerate(faults)]
    for ax, mode, fault in panels:
        st = fl.MODE_STYLE[mode]
        if (mode, fault) not in by_panel:
            ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center",
                    va="center", fontsize=9, color="#777777")
            ax.set_title("%s, %s" % (st["label"], FAULT_LABEL[fault]), fontsize=9, loc="left")
            continue
        axes.append(ax)
        per_kill = fl.group(by_panel[(mode, fault)], "kill")
        outs = {}
        for k, kr in per_kill.items():
            seen = {}
            for r in kr:
                if r["t_ms"] in seen:
                    fl.die("%s:%d: mode %s fault %s kill %d has two rows for t_ms %g"
                           % (bpath, r["_line"], mode, fault, k, r["t_ms"]))
                seen[r["t_ms"]] = r
            per_kill[k] = seen
            outs[k] = outage(sorted((t, r["replies"]) for t, r in seen.items()), bin_ms)
        # Lower median, so the chosen kill is one that happened.
        target = statistics.median_low(sorted(outs.values()))
        kill = min(k for k, o in outs.items() if o == target)
        chosen.append("%s%s: kill %d of %d (outage %g ms)"
                      % (mode, "" if ncols == 1 else " " + fault, kill, len(outs), target))
        kb = per_kill[kill]
        # A bin with no row had no replies: fill the grid so the stall shows.
        grid = np.arange(min(kb), max(kb) + bin_ms / 2, bin_ms)
        near = {round(t / bin_ms): r for t, r in kb.items()}
        reps = np.array([near[round(t / bin_ms)]["replies"] if round(t / bin_ms) in near else 0
                         for t in grid])
        rps = reps * 1000.0 / bin_ms
        ax.fill_between(np.append(grid, grid[-1] + bin_ms), np.append(rps, rps[-1]),
                        step="post", color=st["color"], alpha=0.35, lw=0, zorder=2)
        ax.step(np.append(grid, grid[-1] + bin_ms), np.append(rps, rps[-1]), where="post",
                color=st["color"], lw=1.0, zorder=3)
        ax.set_ylim(0, max(rps.max(), 1) * 1.25)
        if ax is grid_axes[modes.index(mode)][0]:
            ax.set_ylabel("throughput\n(requests/s)")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: "{:,.0f}".format(v)))

        axl = ax.twinx()
        lat_axes.append(axl)
        pts = [(t + bin_ms / 2, r["p50_ms"]) for t, r in kb.items()
               if r["p50_ms"] is not None and r["p50_ms"] > 0]
        if pts:
            axl.plot(*zip(*sorted(pts)), ls="none", marker=".", ms=4, color="black", zorder=4)
        axl.set_yscale("log")
        axl.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: "%g" % v))
        axl.yaxis.set_minor_locator(plt.NullLocator())
        if ax is grid_axes[modes.index(mode)][-1]:
            axl.set_ylabel("p50 latency\n(ms, log scale)")

        kph = sorted(ph_by.get((mode, fault, kill), []), key=lambda r: r["start_ms"])
        for r in kph:
            end = r["end_ms"] if r["end_ms"] is not None else r["start_ms"]
            if end < r["start_ms"]:
                fl.die("%s:%d: phase %s ends (%g) before it starts (%g)"
                       % (ppath, r["_line"], r["phase"], end, r["start_ms"]))
            # Replay overlaps announce: hatched, so both stay visible.
            if r["phase"] == "replay":
                ax.axvspan(r["start_ms"], end, fill=False, hatch="////", lw=0,
                           ec=PHASE_COLOR["replay"], zorder=1)
            else:
                ax.axvspan(r["start_ms"], max(end, r["start_ms"] + 0.5),
                           color=PHASE_COLOR[r["phase"]], lw=0, zorder=0)
            if r["phase"] not in used_phases:
                used_phases.append(r["phase"])
            if end - r["start_ms"] > 0.15 * (grid[-1] - grid[0]):
                ax.text((r["start_ms"] + end) / 2, 0.95,
                        "%s %.0f ms" % (r["phase"], end - r["start_ms"]),
                        transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8)
        ax.axvline(0, color="#B00000", lw=1.4, zorder=5)
        last = max((r["end_ms"] or r["start_ms"] for r in kph), default=None)
        if ncols == 1:
            info = "%s, %s %d" % (st["label"], "kill" if fault == "crash" else fault, kill)
            if last is not None:
                info += ": phases end at %.0f ms" % last
            info += ", client outage %.0f ms" % target
        else:
            info = "%s, %s\n" % (st["label"], FAULT_LABEL[fault])
            info += ("phases end at %.0f ms, " % last) if last is not None else "no failover, "
            info += "outage %.0f ms" % target
        ax.set_title(info, fontsize=9, loc="left")
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_zorder(axl.get_zorder() + 1)   # spans under the dots, not over
        ax.patch.set_visible(False)
        if not kph:
            ax.text(0.99, 0.95, "no failover (as expected)" if fault == "replication-link-down"
                    else "no phases in phases.csv", transform=ax.transAxes,
                    ha="right", va="top", fontsize=8,
                    color="#555555" if fault == "replication-link-down" else "#B00000")
    # One latency scale for all panels, whole decades, so they compare.
    lims = [lim for a in lat_axes for lim in a.get_ylim() if a.lines]
    if lims:
        lo, hi = 10 ** np.floor(np.log10(min(lims))), 10 ** np.ceil(np.log10(max(lims)))
        for a in lat_axes:
            a.set_ylim(lo, hi)
    for ax in grid_axes[-1]:
        ax.set_xlabel("time relative to the %s (ms); bins of %g ms"
                      % ("kill" if faults == ["crash"] else "fault", bin_ms))

    handles = [Line2D([], [], color="#B00000", lw=1.4), Line2D([], [], ls="none", marker=".",
                                                                  color="black", ms=6)]
    labels = ["kill" if faults == ["crash"] else "fault", "p50 latency (right axis)"]
    for p in PHASE_NAMES:
        if p in used_phases:
            if p == "replay":
                handles.append(Patch(fill=False, hatch="////", ec=PHASE_COLOR[p]))
            else:
                handles.append(Patch(color=PHASE_COLOR[p]))
            labels.append(p.replace("_", " "))
    note = ("Shaded: failover phases from phases.csv. Filled: replies per %g ms bin as "
            "requests/s. Shown per mode, the kill with the median client-visible outage "
            "(longest reply-less run after the fault): %s." % (bin_ms, "; ".join(chosen)))
    fl.finish(fig, meta, note, args, NAME, "Client view of a failover", ncol=8,
              legend=(handles, labels))


if __name__ == "__main__":
    main()
