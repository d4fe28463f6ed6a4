#!/usr/bin/python3
"""CPU per request of each component, per mode and offered rate.

Claim under test: reverse replication costs the primary host little CPU
per request beyond the unprotected VM's (goal: at most 1.10x none); the
rest of its cost runs on the backup (capture, receive and apply), which in
a deployment is another machine.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "overhead"
COLUMNS = {"mode": "str", "rate_rps": "float", "achieved_rps": "float",
           "requests": "int", "host": "str", "component": "str",
           "cpu_us_per_req": "float"}
HOSTS = ["primary", "backup", "client", "kernel", "system"]
GOAL = 1.10

# Stack segments, bottom to top: (label, colour, hatch, match(host, comp)).
REPL = ("repl-epoch", "repl-ack", "repl-heartbeat")
SEGMENTS = [
    ("primary: vCPU thread (guest, exits, checkpoint pauses)", "#4C72B0", "",
     lambda h, c: h == "primary" and c == "vcpu"),
    ("primary: replication threads (epoch, ack, heartbeat)", "#8FB3E0", "",
     lambda h, c: h == "primary" and c in REPL),
    ("primary: other threads (control, kvm)", "#C9D7EA", "",
     lambda h, c: h == "primary" and c != "vcpu" and c not in REPL),
    ("backup: capture (+ forward)", "#DD8452", "//",
     lambda h, c: h == "backup" and c == "capture"),
    ("backup: main (receive, apply, ack) and other", "#F2C09E", "//",
     lambda h, c: h == "backup" and c != "capture"),
    ("ksoftirqd (any host)", "#8172B3", "..",
     lambda h, c: h == "kernel"),
]
SHORT = {"none": "none", "buffered": "buf", "reverse-inline": "inline",
         "reverse-mirror": "mirror", "naive": "naive"}


def main():
    args = fl.parse_args(
        NAME,
        "Left: stacked bars of CPU-us per request per component (primary "
        "threads, backup threads, ksoftirqd), one bar per mode, grouped by "
        "offered rate; a marker shows the system-wide softirq sample (it "
        "overlaps the threads, so it is not stacked). Right: primary-host "
        "CPU per request relative to none at the same rate, with the 1.10 "
        "goal.",
        ["cpu.csv: " + ",".join(COLUMNS) + " (one row per component)"]).parse_args()
    path, rows = fl.load_csv(args.results_dir, "cpu.csv", COLUMNS,
                             {"mode": fl.MODES, "host": HOSTS})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        if r["cpu_us_per_req"] < 0:
            fl.die("%s:%d: column 'cpu_us_per_req': %g is negative"
                   % (path, r["_line"], r["cpu_us_per_req"]))
        if r["rate_rps"] <= 0:
            fl.die("%s:%d: column 'rate_rps': %g is not a positive rate"
                   % (path, r["_line"], r["rate_rps"]))
        if r["requests"] <= 0:
            fl.die("%s:%d: column 'requests': %d, a point needs replies"
                   % (path, r["_line"], r["requests"]))

    # (mode, rate) -> (host, component) -> median over repeated rows.
    points = {}
    for (mode, rate, host, comp), rs in fl.group(
            rows, "mode", "rate_rps", "host", "component").items():
        points.setdefault((mode, rate), {})[(host, comp)] = \
            fl.spread([r["cpu_us_per_req"] for r in rs])[0]
    modes = fl.mode_order({m for m, _ in points})
    rates = sorted({r for _, r in points})
    primary = {k: sum(v for (h, _), v in comps.items() if h == "primary")
               for k, comps in points.items()}

    plt = fl.pyplot()  # only now: the input is known to be good
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(11, 4.8),
                                  gridspec_kw={"width_ratios": [2.2, 1]})
    width = 0.8 / max(len(modes), 1)
    ticks, labels = [], []
    seg_used = set()
    for gi, rate in enumerate(rates):
        for mi, mode in enumerate(modes):
            comps = points.get((mode, rate))
            if comps is None:
                continue
            x = gi + (mi - (len(modes) - 1) / 2) * width
            bottom = 0.0
            for si, (label, colour, hatch, match) in enumerate(SEGMENTS):
                v = sum(val for (h, c), val in comps.items() if match(h, c))
                if v <= 0:
                    continue
                ax.bar(x, v, width * 0.92, bottom=bottom, color=colour,
                       hatch=hatch, edgecolor=fl.MODE_STYLE[mode]["color"],
                       linewidth=1.0, label=label if si not in seg_used else "_")
                seg_used.add(si)
                bottom += v
            soft = comps.get(("system", "softirq"))
            if soft is not None:
                ax.plot([x], [soft], marker="_", ms=10, mew=2, color="black",
                        ls="none", label="softirq, system-wide sample (not stacked)"
                        if "soft" not in seg_used else "_")
                seg_used.add("soft")
            ticks.append(x)
            labels.append(SHORT.get(mode, mode))
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=6.5)
    # Group labels under the mode labels: x in data, y in axes units.
    for gi, rate in enumerate(rates):
        ax.text(gi, -0.12, "%g req/s" % rate, ha="center", va="top", fontsize=8,
                transform=ax.get_xaxis_transform())
    ax.set_ylabel("CPU time per request (\u00b5s)")
    ax.set_title("CPU per request by component")
    ax.grid(True, axis="y", alpha=0.3)

    # Right: primary-host CPU per request relative to none.
    have_none = any(m == "none" for m, _ in points)
    for mode in modes:
        if mode == "none" or not have_none:
            continue
        xs, ys = [], []
        for rate in rates:
            base = primary.get(("none", rate))
            if (mode, rate) in primary and base:
                xs.append(rate)
                ys.append(primary[(mode, rate)] / base)
        if xs:
            st = fl.MODE_STYLE[mode]
            axr.plot(xs, ys, color=st["color"], marker=st["marker"], lw=1.5,
                     label=st["label"])
    axr.axhline(1.0, color=fl.MODE_STYLE["none"]["color"], lw=1, ls="--",
                label=fl.MODE_STYLE["none"]["label"])
    axr.axhline(GOAL, color="#999999", lw=1, ls=":", label="goal: %.2fx none" % GOAL)
    if not have_none:
        axr.text(0.5, 0.5, "no 'none' rows:\nno baseline to divide by",
                 transform=axr.transAxes, ha="center", va="center")
    axr.set_xscale("log")
    axr.set_xticks(rates)
    axr.set_xticklabels(["%g" % r for r in rates])
    axr.minorticks_off()
    axr.set_xlabel("offered rate (requests/s)")
    axr.set_ylabel("primary CPU per request \u00f7 none's")
    axr.set_title("primary host, relative to none")
    axr.grid(True, alpha=0.3)

    client = ["%s %g/s %.0f" % (SHORT.get(m, m), r, comps[("client", "load-client")])
              for (m, r), comps in sorted(points.items(),
                                          key=lambda kv: (modes.index(kv[0][0]), kv[0][1]))
              if ("client", "load-client") in comps]
    note = ("CPU-\u00b5s per reply over the load (paced, open loop), measured with idle CPUs "
            "(no busy loops). Primary host = every thread of the primary process (the "
            "kernel's network work a thread triggers is charged to it). Bar edge = mode "
            "colour. The load client's own \u00b5s/request (not shown): %s."
            % ("; ".join(client) if client else "not recorded"))
    fl.finish(fig, meta, note, args, NAME, "CPU per request, per component and mode",
              legend=fl.unique_legend(ax, axr), ncol=3)


if __name__ == "__main__":
    main()
