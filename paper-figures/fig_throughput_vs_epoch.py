#!/usr/bin/python3
"""Throughput against the checkpoint epoch, one panel per workload.

Claim under test: buffered throughput with a fixed number of clients is
bounded by clients / epoch (each client gets one reply per checkpoint),
while reverse replication keeps throughput near the unreplicated baseline
whatever the epoch.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "throughput-vs-epoch"
WORKLOADS = ["redis-set", "redis-get", "http"]
COLUMNS = {"mode": "str", "epoch_ms": "float?", "workload": "str", "clients": "int",
           "requests": "int", "rps": "float", "p50_ms": "float?", "p99_ms": "float?"}
# Several client counts in one file get told apart by line style.
STYLES = ["-", "--", ":", "-."]


def main():
    args = fl.parse_args(
        NAME,
        "Throughput (requests/s) against the checkpoint epoch (ms, log x), "
        "one panel per workload present (redis-set, redis-get, http): a "
        "line per replicated mode (median of repeated rows, bars = min-max); "
        "'none' is a horizontal line (median) with a min-max band.",
        ["throughput.csv: " + ",".join(COLUMNS)]).parse_args()
    path, rows = fl.load_csv(args.results_dir, "throughput.csv", COLUMNS,
                             {"mode": fl.MODES, "workload": WORKLOADS})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        if r["mode"] != "none":
            if fl.require(path, r, "epoch_ms", "needed for mode %s" % r["mode"]) <= 0:
                fl.die("%s:%d: column 'epoch_ms': %g is not a positive epoch"
                       % (path, r["_line"], r["epoch_ms"]))
    workloads = [w for w in WORKLOADS if any(r["workload"] == w for r in rows)]
    clients = sorted({r["clients"] for r in rows})
    if len(clients) > len(STYLES):
        fl.die("%s: %d client counts (%s); at most %d fit one figure"
               % (path, len(clients), ", ".join(map(str, clients)), len(STYLES)))
    cstyle = {c: STYLES[i] for i, c in enumerate(clients)}
    epochs = sorted({r["epoch_ms"] for r in rows if r["mode"] != "none"})

    plt = fl.pyplot()  # only now: the input is known to be good
    from matplotlib.ticker import NullLocator
    fig, axes = plt.subplots(1, len(workloads), figsize=(4.2 * len(workloads) + 1, 4.4),
                             squeeze=False)
    axes = axes[0]
    for ax, wl in zip(axes, workloads):
        wrows = [r for r in rows if r["workload"] == wl]
        for (mode, c), mrows in sorted(fl.group(wrows, "mode", "clients").items(),
                                       key=lambda kv: (fl.MODES.index(kv[0][0]), kv[0][1])):
            st = fl.MODE_STYLE[mode]
            label = st["label"] + ("" if len(clients) == 1 else ", %d clients" % c)
            if mode == "none":
                med, lo, hi = fl.spread([r["rps"] for r in mrows])
                ax.axhline(med, color=st["color"], lw=1.5, ls="--", label=label)
                ax.axhspan(lo, hi, color=st["color"], alpha=0.15, lw=0)
                continue
            xs, ys, lo_e, hi_e = [], [], [], []
            for e, er in sorted(fl.group(mrows, "epoch_ms").items()):
                med, lo, hi = fl.spread([r["rps"] for r in er])
                xs.append(e)
                ys.append(med)
                lo_e.append(med - lo)
                hi_e.append(hi - med)
            ax.errorbar(xs, ys, yerr=[lo_e, hi_e], color=st["color"], marker=st["marker"],
                        ms=5, lw=1.5, ls=cstyle[c], capsize=3, label=label)
        # One reply per client per checkpoint: the buffered ceiling.
        if epochs and any(r["mode"] == "buffered" for r in wrows):
            for c in clients:
                ax.plot(epochs, [c * 1000.0 / e for e in epochs], color="#999999", lw=0.8,
                        ls=":", label="clients / epoch (buffered bound)")
        ax.set_xscale("log")
        if epochs:
            ax.set_xticks(epochs)
            ax.set_xticklabels(["%g" % e for e in epochs])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylim(0, 1.1 * max(r["rps"] for r in wrows))
        ax.set_xlabel("checkpoint epoch (ms)")
        ax.set_title("workload: %s" % wl)
        ax.grid(True, alpha=0.3)
        # Thousands separators keep 5-digit request rates readable.
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: "{:,.0f}".format(v)))
    axes[0].set_ylabel("throughput (requests/s)")
    note = ("Clients per run: %s. Points: median of rows at that epoch, bars: min-max; "
            "'none' line = median of its runs, band = min-max."
            % ", ".join(map(str, clients)))
    fl.finish(fig, meta, note, args, NAME, "Throughput vs. checkpoint epoch",
              legend=fl.unique_legend(*axes))


if __name__ == "__main__":
    main()
