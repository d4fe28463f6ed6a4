#!/usr/bin/python3
"""Cost of one checkpoint: VM pause and bytes sent per epoch.

Claim under test: the pause grows linearly with the pages dirtied in the
epoch from a small fixed cost (tens of microseconds when idle), and delta
compression ("auto") cuts the bytes sent per epoch by well over an order of
magnitude against the raw dirty pages.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "checkpoint-cost"
COLUMNS = {"compress": "str", "dirty_rate_pps": "float", "epoch_ms": "float",
           "epochs": "int", "pages_median": "float", "pause_us_median": "float",
           "pause_us_p90": "float", "bytes_per_epoch_median": "float",
           "raw_bytes_per_epoch_median": "float"}
COMPRESS = ["auto", "none"]
# Not mode colours: these series are codec settings, not replication modes.
CSTYLE = {"auto": dict(color="#332288", marker="o", label="compress=auto (delta)"),
          "none": dict(color="#999933", marker="s", label="compress=none")}
EPOCH_LS = ["-", "--", "-.", ":"]


def fmt(v, _=None):
    return "{:,.0f}".format(v) if v >= 1 else "%g" % v


def main():
    args = fl.parse_args(
        NAME,
        "Left: VM pause per checkpoint (us, median, whisker to p90) against "
        "the pages dirtied per epoch (median), log-log. Right: bytes sent "
        "per epoch (median, log) against the dirty rate (pages/s), "
        "compress=auto vs compress=none, with the raw dirty-page bytes as a "
        "dashed reference. Several epoch lengths get separate line styles.",
        ["cost.csv: " + ",".join(COLUMNS)]).parse_args()
    path, rows = fl.load_csv(args.results_dir, "cost.csv", COLUMNS, {"compress": COMPRESS})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        if r["pause_us_p90"] < r["pause_us_median"]:
            fl.die("%s:%d: pause_us_p90 (%g) is below pause_us_median (%g)"
                   % (path, r["_line"], r["pause_us_p90"], r["pause_us_median"]))
        for c in ("pages_median", "pause_us_median", "bytes_per_epoch_median",
                  "raw_bytes_per_epoch_median"):
            if r[c] <= 0:
                fl.die("%s:%d: column '%s': %g is not positive (log axis)"
                       % (path, r["_line"], c, r[c]))
        if r["dirty_rate_pps"] < 0:
            fl.die("%s:%d: column 'dirty_rate_pps': negative rate %g"
                   % (path, r["_line"], r["dirty_rate_pps"]))
    epochs = sorted({r["epoch_ms"] for r in rows})
    if len(epochs) > len(EPOCH_LS):
        fl.die("%s: %d epoch lengths; at most %d fit one figure"
               % (path, len(epochs), len(EPOCH_LS)))
    els = {e: EPOCH_LS[i] for i, e in enumerate(epochs)}

    plt = fl.pyplot()  # only now: the input is known to be good
    fig, (axp, axb) = plt.subplots(1, 2, figsize=(11, 4.6))
    ratios = []
    for (comp, e), sr in sorted(fl.group(rows, "compress", "epoch_ms").items()):
        st = CSTYLE[comp]
        label = st["label"] + ("" if len(epochs) == 1 else ", %g ms epoch" % e)
        sr = sorted(sr, key=lambda r: (r["pages_median"], r["dirty_rate_pps"]))
        axp.errorbar([r["pages_median"] for r in sr], [r["pause_us_median"] for r in sr],
                     yerr=[[0] * len(sr), [r["pause_us_p90"] - r["pause_us_median"] for r in sr]],
                     color=st["color"], marker=st["marker"], ls=els[e], ms=5, lw=1.4,
                     capsize=3, label=label)
        sr = sorted(sr, key=lambda r: r["dirty_rate_pps"])
        xs = [r["dirty_rate_pps"] for r in sr]
        axb.plot(xs, [r["bytes_per_epoch_median"] for r in sr], color=st["color"],
                 marker=st["marker"], ls=els[e], ms=5, lw=1.4, label=label)
        if comp == "auto":
            for r in sr:
                ratio = r["raw_bytes_per_epoch_median"] / r["bytes_per_epoch_median"]
                ratios.append(ratio)
                axb.annotate("\u00d7%.0f" % ratio,
                             (r["dirty_rate_pps"], r["bytes_per_epoch_median"]),
                             textcoords="offset points", xytext=(0, 6), ha="center",
                             fontsize=7, color=st["color"])
    # Raw bytes do not depend on the codec: one reference per epoch length.
    for e in epochs:
        by_rate = fl.group([r for r in rows if r["epoch_ms"] == e], "dirty_rate_pps")
        xs = sorted(by_rate)
        axb.plot(xs, [statistics.median(r["raw_bytes_per_epoch_median"] for r in by_rate[x])
                      for x in xs],
                 color="black", ls="--", lw=1.0, label="raw dirty pages (reference)")

    axp.set_xscale("log")
    axp.set_yscale("log")
    axp.set_xlabel("pages dirtied per epoch (median, log scale)")
    axp.set_ylabel("VM pause per checkpoint (\u00b5s, log scale)")
    axp.set_title("pause: median, whisker to p90")
    rates = sorted({r["dirty_rate_pps"] for r in rows})
    positive = [x for x in rates if x > 0]
    # An idle (0 pages/s) point has to fit on the rate axis: linear up to
    # the smallest non-zero rate, logarithmic above.
    if positive and 0 in rates:
        axb.set_xscale("symlog", linthresh=positive[0], linscale=0.6)
    elif positive:
        axb.set_xscale("log")
    if len(rates) <= 8:
        axb.set_xticks(rates)
        axb.xaxis.set_minor_locator(plt.NullLocator())
        # Neighbouring rates sit close on the log axis: tilt the labels.
        plt.setp(axb.get_xticklabels(), rotation=30, ha="right")
    axb.set_yscale("log")
    axb.set_xlabel("dirty rate (pages/s%s)" % (", 0 = idle; log scale above %s" % fmt(positive[0])
                                               if positive and 0 in rates else ", log scale"))
    axb.set_ylabel("bytes sent per epoch (median, log scale)")
    axb.set_title("bytes per epoch; \u00d7N = raw / compressed")
    for a in (axp, axb):
        a.grid(True, which="major", alpha=0.3)
        a.xaxis.set_major_formatter(plt.FuncFormatter(fmt))
        a.yaxis.set_major_formatter(plt.FuncFormatter(fmt))
    note = "Epoch length: %s ms; epochs per point: %s." % (
        ", ".join("%g" % e for e in epochs),
        ", ".join(sorted({str(r["epochs"]) for r in rows}, key=int)))
    if ratios:
        note += " compress=auto is %.0f-%.0f\u00d7 smaller than raw (median %.0f\u00d7)." % (
            min(ratios), max(ratios), statistics.median(ratios))
    fl.finish(fig, meta, note, args, NAME, "Checkpoint cost",
              legend=fl.unique_legend(axp, axb))


if __name__ == "__main__":
    main()
