#!/usr/bin/python3
"""Request latency (p50, p99) against the checkpoint epoch, per mode.

Claim under test: buffered (Remus) latency grows with the epoch because
every reply waits for the next checkpoint, while reverse replication stays
flat, close to the unreplicated baseline.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "latency-vs-epoch"
COLUMNS = {"mode": "str", "epoch_ms": "float?", "round": "int", "requests": "int",
           "p50_ms": "float", "p99_ms": "float", "max_ms": "float", "rps": "float"}


def main():
    args = fl.parse_args(
        NAME,
        "Two panels, p50 and p99 request latency (ms, log y) against the "
        "checkpoint epoch (ms, log x): one line per replicated mode (median "
        "over rounds, bars = min-max across rounds); 'none' (no epoch) is a "
        "horizontal line at the median of its rounds with a min-max band.",
        ["latency.csv: " + ",".join(COLUMNS)]).parse_args()
    path, rows = fl.load_csv(args.results_dir, "latency.csv", COLUMNS,
                             {"mode": fl.MODES})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        if r["mode"] != "none":
            if fl.require(path, r, "epoch_ms", "needed for mode %s" % r["mode"]) <= 0:
                fl.die("%s:%d: column 'epoch_ms': %g is not a positive epoch"
                       % (path, r["_line"], r["epoch_ms"]))
    by_mode = fl.group(rows, "mode")
    modes = fl.mode_order(by_mode)
    if not [m for m in modes if m != "none"]:
        fl.die("%s: no replicated mode (only 'none'): nothing to plot against the epoch" % path)

    epochs = sorted({r["epoch_ms"] for r in rows if r["mode"] != "none"})
    plt = fl.pyplot()  # only now: the input is known to be good
    from matplotlib.ticker import NullLocator
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    rounds_max = 1
    for ax, col, title in ((axes[0], "p50_ms", "median (p50)"),
                           (axes[1], "p99_ms", "99th percentile (p99)")):
        for mode in modes:
            st = fl.MODE_STYLE[mode]
            mrows = by_mode[mode]
            if mode == "none":
                med, lo, hi = fl.spread([r[col] for r in mrows])
                ax.axhline(med, color=st["color"], lw=1.5, ls="--",
                           label=st["label"])
                ax.axhspan(lo, hi, color=st["color"], alpha=0.15, lw=0)
                continue
            xs, ys, lo_err, hi_err = [], [], [], []
            for e, er in sorted(fl.group(mrows, "epoch_ms").items()):
                rounds_max = max(rounds_max, len(er))
                med, lo, hi = fl.spread([r[col] for r in er])
                xs.append(e)
                ys.append(med)
                lo_err.append(med - lo)
                hi_err.append(hi - med)
            ax.errorbar(xs, ys, yerr=[lo_err, hi_err], color=st["color"],
                        marker=st["marker"], ms=5, lw=1.5, capsize=3,
                        label=st["label"])
        # Reference: a reply that waits for one whole epoch.
        ax.plot(epochs, epochs, color="#999999", lw=0.8, ls=":",
                label="latency = epoch")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(epochs)
        ax.set_xticklabels(["%g" % e for e in epochs])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("checkpoint epoch (ms)")
        ax.set_title("%s request latency" % title)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("request latency (ms, log scale)")
    note = ("Points: median over rounds, bars: min-max (up to %d rounds per point). "
            "'none' is measured first and last; line = median, band = min-max. "
            "Dotted: latency equal to one epoch. %s" % (rounds_max, fl.idle_note(meta)))
    fl.finish(fig, meta, note, args, NAME, "Request latency vs. checkpoint epoch",
              legend=fl.unique_legend(*axes))


if __name__ == "__main__":
    main()
