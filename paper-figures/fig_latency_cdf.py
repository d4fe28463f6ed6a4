#!/usr/bin/python3
"""CDF of per-request latency, one curve per mode, at one checkpoint epoch.

Claim under test: under buffered replication almost every request waits
about one epoch (the CDF jumps near the epoch), while the reverse modes keep
the whole distribution, tail included, close to the unreplicated one.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "latency-cdf"
COLUMNS = {"mode": "str", "epoch_ms": "float?", "latency_us": "float"}


def main():
    p = fl.parse_args(
        NAME,
        "CDF of per-request latency (us, log x) for each mode at the single "
        "checkpoint epoch of the file; p50 and p99 of each mode are marked.",
        ["samples.csv: " + ",".join(COLUMNS) + " (one row per request)"])
    p.add_argument("--epoch", type=float, metavar="MS",
                   help="plot this epoch if the file holds several")
    args = p.parse_args()
    path, rows = fl.load_csv(args.results_dir, "samples.csv", COLUMNS,
                             {"mode": fl.MODES})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        if r["mode"] != "none":
            fl.require(path, r, "epoch_ms", "needed for mode %s" % r["mode"])
        if r["latency_us"] <= 0:
            fl.die("%s:%d: column 'latency_us': %g is not a positive latency (log axis)"
                   % (path, r["_line"], r["latency_us"]))
    epochs = sorted({r["epoch_ms"] for r in rows if r["mode"] != "none"})
    if args.epoch is not None:
        if args.epoch not in epochs:
            fl.die("%s: no rows at --epoch %g (epochs in the file: %s)"
                   % (path, args.epoch, ", ".join("%g" % e for e in epochs) or "none"))
        epoch = args.epoch
    elif len(epochs) > 1:
        fl.die("%s: several epochs (%s ms); the figure shows one, pick it with --epoch"
               % (path, ", ".join("%g" % e for e in epochs)))
    else:
        epoch = epochs[0] if epochs else None
    rows = [r for r in rows if r["mode"] == "none" or r["epoch_ms"] == epoch]
    by_mode = fl.group(rows, "mode")

    plt = fl.pyplot()  # only now: the input is known to be good
    import numpy as np
    # Right panel: the same data as 1 - CDF on a log axis, where the tail
    # (p99 and beyond) gets as much room as the body.
    fig, (ax, axt) = plt.subplots(1, 2, figsize=(10, 4.6))
    counts = []
    for mode in fl.mode_order(by_mode):
        st = fl.MODE_STYLE[mode]
        lat = np.sort(np.array([r["latency_us"] for r in by_mode[mode]]))
        n = len(lat)
        counts.append("%s %d" % (mode, n))
        cdf = np.arange(1, n + 1) / n
        ax.step(lat, cdf, where="post", color=st["color"], lw=1.6, label=st["label"])
        # 1 - CDF reaches 0 at the last sample; stop one short for the log axis.
        axt.step(lat[:-1], 1 - cdf[:-1], where="post", color=st["color"], lw=1.6)
        for q, mk in ((0.5, "o"), (0.99, "D")):
            v = np.percentile(lat, q * 100)
            for a, y in ((ax, q), (axt, 1 - q)):
                a.plot([v], [y], marker=mk, ms=6, color=st["color"], mec="black",
                       mew=0.6, ls="none", zorder=4)
    for a in (ax, axt):
        if epoch is not None:
            a.axvline(epoch * 1000, color="#999999", lw=0.8, ls=":", label="one epoch")
        a.set_xscale("log")
        a.set_xlabel("request latency (\u00b5s, log scale)")
        a.grid(True, which="major", alpha=0.3)
    # Marker keys for the percentile dots, drawn once in neutral grey.
    ax.plot([], [], marker="o", color="#cccccc", mec="black", mew=0.6, ls="none", label="p50")
    ax.plot([], [], marker="D", color="#cccccc", mec="black", mew=0.6, ls="none", label="p99")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("fraction of requests \u2264 latency")
    ax.set_title("CDF")
    axt.set_yscale("log")
    axt.set_ylabel("fraction of requests > latency (log scale)")
    axt.set_title("tail (1 \u2212 CDF)")
    title = "Latency CDF at a %g ms checkpoint epoch" % epoch if epoch is not None \
        else "Latency CDF (no replicated mode in the file)"
    note = "Requests per mode: %s. Markers: p50 (circle), p99 (diamond). %s" % (
        ", ".join(counts), fl.idle_note(meta))
    fl.finish(fig, meta, note, args, NAME, title, legend=fl.unique_legend(ax), ncol=7)


if __name__ == "__main__":
    main()
