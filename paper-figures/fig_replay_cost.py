#!/usr/bin/python3
"""Replay-log cost at failover: frames replayed and replay time vs epoch.

Claim under test: the frames to replay after a kill grow with the epoch
and the request rate (they are the input since the last checkpoint), but
replay stays in the tens of milliseconds, small next to failure detection.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "replay-cost"
COLUMNS = {"topology": "str", "epoch_ms": "float", "rate_rps": "float", "kill": "int",
           "logged_frames": "int", "replay_frames": "int", "replay_bytes": "int",
           "replay_ms": "float", "suppressed": "int", "capture_gaps": "int?"}
# docs/experiments.md does not spell the topology values; accept both the
# testbed names and the mode names.
TOPOLOGIES = ["inline", "mirror", "reverse-inline", "reverse-mirror"]
TOPO_LS = {"inline": "-", "mirror": "--"}
TOPO_MARKER = {"inline": fl.MODE_STYLE["reverse-inline"]["marker"],
               "mirror": fl.MODE_STYLE["reverse-mirror"]["marker"]}


def main():
    args = fl.parse_args(
        NAME,
        "Frames replayed (log y) and replay time (ms) against the checkpoint "
        "epoch (ms, log x): a line per request rate (median over kills, bars "
        "= min-max), solid for the inline topology, dashed for mirror.",
        ["replay.csv: " + ",".join(COLUMNS)]).parse_args()
    path, rows = fl.load_csv(args.results_dir, "replay.csv", COLUMNS,
                             {"topology": TOPOLOGIES})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        r["topology"] = r["topology"].replace("reverse-", "")
        if r["epoch_ms"] <= 0:
            fl.die("%s:%d: column 'epoch_ms': %g is not a positive epoch"
                   % (path, r["_line"], r["epoch_ms"]))
    rates = sorted({r["rate_rps"] for r in rows})
    topos = [t for t in TOPO_LS if any(r["topology"] == t for r in rows)]
    epochs = sorted({r["epoch_ms"] for r in rows})
    plt = fl.pyplot()  # only now: the input is known to be good
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogLocator
    # Request rates are an ordered quantity: one hue, light to dark, none
    # of the mode colours (those mean "mode" in every figure).
    cmap = plt.get_cmap("Purples")
    rcolor = {rt: cmap(0.5 + 0.45 * i / max(1, len(rates) - 1)) for i, rt in enumerate(rates)}

    fig, (axf, axt) = plt.subplots(1, 2, figsize=(11, 4.6))
    kills = 0
    for (topo, rate), sr in sorted(fl.group(rows, "topology", "rate_rps").items()):
        for ax, col in ((axf, "replay_frames"), (axt, "replay_ms")):
            xs, ys, lo_e, hi_e = [], [], [], []
            for e, er in sorted(fl.group(sr, "epoch_ms").items()):
                kills = max(kills, len(er))
                med, lo, hi = fl.spread([r[col] for r in er])
                xs.append(e)
                ys.append(med)
                lo_e.append(med - lo)
                hi_e.append(hi - med)
            ax.errorbar(xs, ys, yerr=[lo_e, hi_e], color=rcolor[rate], ls=TOPO_LS[topo],
                        marker=TOPO_MARKER[topo], ms=5, lw=1.4, capsize=3)
    for ax in (axf, axt):
        ax.set_xscale("log")
        ax.set_xticks(epochs)
        ax.set_xticklabels(["%g" % e for e in epochs])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xlabel("checkpoint epoch (ms)")
        ax.grid(True, which="major", alpha=0.3)
    if min(r["replay_frames"] for r in rows) > 0:
        axf.set_yscale("log")
        # 1-2-5 ticks: the frame counts span barely two decades.
        axf.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axf.yaxis.set_minor_locator(plt.NullLocator())
        axf.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: "%g" % v))
        axf.set_ylabel("frames replayed per failover (log scale)")
    else:
        axf.set_ylim(bottom=0)
        axf.set_ylabel("frames replayed per failover")
    axf.set_title("replay-log frames re-injected")
    axt.set_ylim(bottom=0, top=max(r["replay_ms"] for r in rows) * 1.15)
    axt.set_ylabel("replay time (ms)")
    axt.set_title("time to replay the log")

    handles = [Line2D([], [], color=rcolor[rt], lw=2) for rt in rates]
    labels = ["%s requests/s" % "{:,.0f}".format(rt) for rt in rates]
    for t in topos:
        handles.append(Line2D([], [], color="#444444", ls=TOPO_LS[t], marker=TOPO_MARKER[t]))
        labels.append("%s topology" % t)
    gaps = [r["capture_gaps"] for r in rows if r["capture_gaps"]]
    note = ("Points: median over kills (up to %d per point), bars: min-max. "
            "Suppressed (already answered) frames: median %d per failover. "
            "Kills with capture gaps: %d of %d%s." % (
                kills, sorted(r["suppressed"] for r in rows)[len(rows) // 2],
                len(gaps), len(rows), (" (%d gaps)" % sum(gaps)) if gaps else ""))
    fl.finish(fig, meta, note, args, NAME, "Replay cost at failover", legend=(handles, labels),
              ncol=6)


if __name__ == "__main__":
    main()
