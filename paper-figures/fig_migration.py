#!/usr/bin/python3
"""Live migration against the guest's dirty rate, auto-converge off and on.

Claim under test: a guest that dirties memory slower than the link carries
migrates in one or two rounds with a downtime under the limit (300 ms);
one that dirties faster never converges without auto-converge (the
migration times out and the VM stays where it was), and converges with it,
at the price of a throttled vCPU: the guest's own throughput falls while
the throttle climbs, and recovers on the destination.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "migration"
COLUMNS = {"rate_pps": "float", "auto_converge": "str", "repeat": "int",
           "result": "str", "rounds": "int", "total_ms": "float",
           "downtime_ms": "str", "dest_downtime_ms": "str",
           "client_stall_ms": "str", "bytes_sent": "float",
           "throttle_max": "int"}
ROUNDS = {"rate_pps": "float", "auto_converge": "str", "repeat": "int",
          "round": "int", "t_s": "float", "throttle": "int"}
OPS = {"rate_pps": "float", "auto_converge": "str", "repeat": "int",
       "t_s": "float", "ops_per_s": "float"}
AC = ["off", "on"]
RESULTS = ["completed", "timed-out", "failed", "cancelled", "refused",
           "unknown", "error", "none"]
STYLE = {"off": dict(color="#999933", marker="s", label="auto-converge off"),
         "on": dict(color="#332288", marker="o", label="auto-converge on")}


def number(path, row, col):
    """A cell that is a number or NA (None)."""
    v = row[col]
    if v == "NA":
        return None
    try:
        return float(v)
    except ValueError:
        fl.die("%s:%d: column '%s': '%s' is not a number" % (path, row["_line"], col, v))


def fmt(v, _=None):
    return "{:,.0f}".format(v) if v >= 1 else "%g" % v


def main():
    args = fl.parse_args(
        NAME,
        "Left: downtime (ms, the source's frozen -> DONE; median over "
        "repeats) against the dirty rate, auto-converge off and on; a "
        "migration that did not complete is marked at the bottom. Middle: "
        "total time (s); timed-out migrations at their timeout, hollow. "
        "Right: one auto-converge migration of the fastest dirtier that "
        "completed: the guest's INCR throughput over time and the vCPU "
        "throttle (%).",
        ["migration.csv: " + ",".join(COLUMNS), "rounds.csv: " + ",".join(ROUNDS),
         "ops.csv: " + ",".join(OPS)]).parse_args()
    path, rows = fl.load_csv(args.results_dir, "migration.csv", COLUMNS,
                             {"auto_converge": AC, "result": RESULTS})
    _, rounds = fl.load_csv(args.results_dir, "rounds.csv", ROUNDS, {"auto_converge": AC})
    _, ops = fl.load_csv(args.results_dir, "ops.csv", OPS, {"auto_converge": AC})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        r["down"] = number(path, r, "downtime_ms")
        r["stall"] = number(path, r, "client_stall_ms")
        if r["result"] == "completed" and r["down"] is None:
            fl.die("%s:%d: a completed migration without downtime_ms" % (path, r["_line"]))
        if r["rate_pps"] <= 0 or r["total_ms"] < 0:
            fl.die("%s:%d: rate_pps must be positive, total_ms not negative"
                   % (path, r["_line"]))

    # The timeline panel: the fastest dirtier whose auto-converge
    # migration completed (throttle visible), first repeat.
    done_ac = [r for r in rows if r["auto_converge"] == "on" and r["result"] == "completed"]
    pick = max(done_ac, key=lambda r: (r["rate_pps"], -r["repeat"])) if done_ac else None

    plt = fl.pyplot()  # only now: the input is known to be good
    fig, (axd, axt, axo) = plt.subplots(1, 3, figsize=(14, 4.6))
    rates = sorted({r["rate_pps"] for r in rows})
    for ac, sr in sorted(fl.group(rows, "auto_converge").items()):
        st = STYLE[ac]
        by_rate = fl.group(sr, "rate_pps")
        xs, down, xt, tot, xf, totf = [], [], [], [], [], []
        for x in sorted(by_rate):
            done = [r for r in by_rate[x] if r["result"] == "completed"]
            if done:
                xs.append(x)
                down.append(statistics.median(r["down"] for r in done))
                xt.append(x)
                tot.append(statistics.median(r["total_ms"] for r in done) / 1000)
            else:
                xf.append(x)
                totf.append(statistics.median(r["total_ms"] for r in by_rate[x]) / 1000)
        axd.plot(xs, down, color=st["color"], marker=st["marker"], ms=6, lw=1.4,
                 label=st["label"])
        if xf:
            axd.plot(xf, [0] * len(xf), ls="none", marker="x", ms=9, color=st["color"],
                     label=st["label"] + ": did not converge")
        axt.plot(xt, tot, color=st["color"], marker=st["marker"], ms=6, lw=1.4,
                 label="_" + st["label"])
        if xf:
            axt.plot(xf, totf, ls="none", marker=st["marker"], ms=8, mfc="none",
                     color=st["color"], label=st["label"] + ": timed out")
    axd.axhline(300, color="black", ls="--", lw=0.8, label="--max-downtime (300 ms)")
    for a in (axd, axt):
        a.set_xscale("log")
        a.set_xticks(rates)
        a.xaxis.set_minor_locator(plt.NullLocator())
        a.xaxis.set_major_formatter(plt.FuncFormatter(fmt))
        plt.setp(a.get_xticklabels(), rotation=30, ha="right")
        a.set_xlabel("dirtier rate asked (pages/s, log scale)")
        a.grid(True, alpha=0.3)
    axd.set_ylabel("downtime (ms, source: frozen -> DONE)")
    axd.set_ylim(bottom=-15)
    axd.set_title("downtime")
    axt.set_ylabel("total migration time (s)")
    axt.set_ylim(bottom=0)
    axt.set_title("total time")

    if pick:
        k = (pick["rate_pps"], "on", pick["repeat"])
        o = sorted((r for r in ops if (r["rate_pps"], r["auto_converge"], r["repeat"]) == k),
                   key=lambda r: r["t_s"])
        rr = sorted((r for r in rounds if (r["rate_pps"], r["auto_converge"], r["repeat"]) == k),
                    key=lambda r: r["t_s"])
        axo.plot([r["t_s"] for r in o], [r["ops_per_s"] for r in o], color="#117733",
                 lw=1.0, label="guest INCR/s (200 ms bins)")
        axo.axvline(pick["total_ms"] / 1000, color="black", ls=":", lw=0.9,
                    label="migration ends (VM runs on the destination)")
        ax2 = axo.twinx()
        ax2.step([0] + [r["t_s"] for r in rr], [0] + [r["throttle"] for r in rr],
                 where="post", color="#CC6677", lw=1.4, label="vCPU throttle (%)")
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("vCPU throttle (%)")
        axo.set_title("%s pages/s, auto-converge: throughput and throttle" % fmt(pick["rate_pps"]))
        axo.legend(*fl.unique_legend(axo, ax2), fontsize=7, loc="lower left")
    else:
        axo.text(0.5, 0.5, "no auto-converge migration completed", ha="center",
                 va="center", transform=axo.transAxes)
    axo.set_xlabel("time since the migration started (s)")
    axo.set_ylabel("guest INCR replies per second")
    axo.set_ylim(bottom=0)
    axo.grid(True, alpha=0.3)

    converged = {ac: sum(1 for r in rows if r["auto_converge"] == ac and r["result"] == "completed")
                 for ac in AC}
    total = {ac: sum(1 for r in rows if r["auto_converge"] == ac) for ac in AC}
    params = meta.get("params", {})
    note = ("Cap %s MiB/s; dirtier pages of fresh random bytes; completed: auto-converge "
            "off %d/%d, on %d/%d." % (params.get("cap", "?"), converged["off"], total["off"],
                                       converged["on"], total["on"]))
    stalls = [r["stall"] for r in rows if r["result"] == "completed" and r["stall"] is not None
              and r["auto_converge"] == "off"]
    if stalls:
        note += " Client-visible longest stall (off, completed): median %.0f ms." % (
            statistics.median(stalls))
    fl.finish(fig, meta, note, args, NAME, "Live migration vs dirty rate",
              legend=fl.unique_legend(axd, axt))


if __name__ == "__main__":
    main()
