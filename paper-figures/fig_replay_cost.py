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
TOPO_LS = {"inline": "-", "mirror": "--"}  # the topologies, in order
TOPO_MARKER = {"inline": fl.MODE_STYLE["reverse-inline"]["marker"],
               "mirror": fl.MODE_STYLE["reverse-mirror"]["marker"]}


def main():
    args = fl.parse_args(
        NAME,
        "Left: frames replayed per failover against the requests that "
        "arrive in one epoch (measured rate x epoch); right: replay time "
        "(ms) against frames replayed. One point per kill, colour = epoch, "
        "marker = topology.",
        ["replay.csv: " + ",".join(COLUMNS)]).parse_args()
    path, rows = fl.load_csv(args.results_dir, "replay.csv", COLUMNS,
                             {"topology": TOPOLOGIES})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        r["topology"] = r["topology"].replace("reverse-", "")
        if r["epoch_ms"] <= 0:
            fl.die("%s:%d: column 'epoch_ms': %g is not a positive epoch"
                   % (path, r["_line"], r["epoch_ms"]))
    topos = [t for t in TOPO_LS if any(r["topology"] == t for r in rows)]
    epochs = sorted({r["epoch_ms"] for r in rows})
    plt = fl.pyplot()  # only now: the input is known to be good
    from matplotlib.lines import Line2D
    # The rate is measured per kill, so points, not lines: the replay set
    # should follow the requests that arrive in one epoch (rate x epoch).
    # Epochs are an ordered quantity: one hue, light to dark, none of the
    # mode colours (those mean "mode" in every figure).
    cmap = plt.get_cmap("Purples")
    ecolor = {e: cmap(0.45 + 0.5 * i / max(1, len(epochs) - 1)) for i, e in enumerate(epochs)}

    fig, (axf, axt) = plt.subplots(1, 2, figsize=(11, 4.6))
    for r in rows:
        per_epoch = r["rate_rps"] * r["epoch_ms"] / 1000.0
        style = dict(color=ecolor[r["epoch_ms"]], marker=TOPO_MARKER[r["topology"]],
                     ms=7, ls="none", mec="#333333", mew=0.5)
        axf.plot(max(per_epoch, 1), max(r["replay_frames"], 1), **style)
        axt.plot(max(r["replay_frames"], 1), r["replay_ms"], **style)
    lo = max(1.0, min(r["rate_rps"] * r["epoch_ms"] / 1000.0 for r in rows))
    hi = max(r["rate_rps"] * r["epoch_ms"] / 1000.0 for r in rows)
    # Reference: one frame per request arriving in an epoch.
    axf.plot([lo, hi], [lo, hi], ls=":", color="#888888", lw=1)
    axf.set_xscale("log")
    axf.set_yscale("log")
    axf.set_xlabel("requests per epoch (measured rate x epoch, log scale)")
    axf.set_ylabel("frames replayed per failover (log scale)")
    axf.set_title("replay-set size")
    axt.set_xscale("log")
    axt.set_ylim(bottom=0, top=max(r["replay_ms"] for r in rows) * 1.15)
    axt.set_xlabel("frames replayed (log scale)")
    axt.set_ylabel("replay time (ms)")
    axt.set_title("time to replay the log")
    for ax in (axf, axt):
        ax.grid(True, which="major", alpha=0.3)

    handles = [Line2D([], [], color=ecolor[e], marker="o", ls="none", ms=7) for e in epochs]
    labels = ["epoch %g ms" % e for e in epochs]
    for t in topos:
        handles.append(Line2D([], [], color="#444444", marker=TOPO_MARKER[t], ls="none"))
        labels.append("%s topology" % t)
    handles.append(Line2D([], [], color="#888888", ls=":"))
    labels.append("1 frame per request")
    gaps = [r["capture_gaps"] for r in rows if r["capture_gaps"]]
    note = ("One point per kill; rates %s-%s requests/s. "
            "Suppressed (already answered) frames: median %d per failover. "
            "Kills with capture gaps: %d of %d%s." % (
                "{:,.0f}".format(min(r["rate_rps"] for r in rows)),
                "{:,.0f}".format(max(r["rate_rps"] for r in rows)),
                sorted(r["suppressed"] for r in rows)[len(rows) // 2],
                len(gaps), len(rows), (" (%d gaps)" % sum(gaps)) if gaps else ""))
    fl.finish(fig, meta, note, args, NAME, "Replay cost at failover", legend=(handles, labels),
              ncol=6)


if __name__ == "__main__":
    main()
