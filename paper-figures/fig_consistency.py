#!/usr/bin/python3
"""Client-visible consistency across primary kills, per mode.

Claim under test: buffered and both reverse topologies survive every kill
without a violation (no lost increment, no lost key, no reset, no hung
request), while naive reverse replication, which has no replay log, does
not. The test is only meaningful if naive visibly fails.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figlib as fl  # noqa: E402

NAME = "consistency"
COLUMNS = {"mode": "str", "kill": "int", "delay_ms": "float", "violations": "int",
           "lost_increments": "int", "keys_lost": "int", "resets": "int", "hung": "int",
           "reconnects": "int", "longest_stall_ms": "float?", "capture_gaps": "int?"}
# Kinds in grey shades and hatches: colour means "mode" in every figure.
KINDS = [("lost_increments", "lost increments", "#333333", ""),
         ("keys_lost", "keys lost", "#888888", "//"),
         ("resets", "connection resets", "#CCCCCC", "xx"),
         ("hung", "hung requests", "#FFFFFF", "..")]


def main():
    args = fl.parse_args(
        NAME,
        "Left: per mode, number of kills and number of kills with at least "
        "one violation (counts annotated; capture gaps of the replay log "
        "noted under the bars). Right: per mode, total violations of each "
        "kind over all kills.",
        ["kills.csv: " + ",".join(COLUMNS)]).parse_args()
    path, rows = fl.load_csv(args.results_dir, "kills.csv", COLUMNS, {"mode": fl.MODES})
    meta = fl.load_meta(args.results_dir)
    for r in rows:
        for c in ("violations",) + tuple(k for k, _, _, _ in KINDS):
            if r[c] < 0:
                fl.die("%s:%d: column '%s': negative count %d" % (path, r["_line"], c, r[c]))
    by_mode = fl.group(rows, "mode")
    modes = fl.mode_order(by_mode)

    plt = fl.pyplot()  # only now: the input is known to be good
    import numpy as np
    from matplotlib.patches import Patch
    x = np.arange(len(modes))
    fig, (ax, axk) = plt.subplots(1, 2, figsize=(11, 4.6),
                                  gridspec_kw={"width_ratios": [1, 1.25]})
    total = [len(by_mode[m]) for m in modes]
    bad = [sum(1 for r in by_mode[m] if r["violations"] > 0) for m in modes]
    w = 0.38
    ax.bar(x - w / 2, total, w, color="white", edgecolor="#333333", hatch="..")
    ax.bar(x + w / 2, bad, w, color=[fl.MODE_STYLE[m]["color"] for m in modes],
           edgecolor="#333333")
    ymax = max(total) * 1.3
    for i, (t, b) in enumerate(zip(total, bad)):
        ax.text(i - w / 2, t + ymax * 0.01, str(t), ha="center", va="bottom", fontsize=9)
        ax.text(i + w / 2, b + ymax * 0.01, str(b), ha="center", va="bottom", fontsize=9,
                fontweight="bold", color="#B00000" if b else "black")
    ax.set_ylim(0, ymax)
    ax.set_ylabel("number of kills")
    ax.set_title("kills and kills with a violation")
    ax.legend([Patch(fc="white", ec="#333333", hatch=".."), Patch(fc="#AAAAAA", ec="#333333")],
              ["kills", "kills with violations > 0 (mode colour)"],
              fontsize=8, loc="upper right", framealpha=0.9)

    # Capture gaps (frames the mirror tap missed) go with the mode label:
    # they are not violations, but a reader judging the mirror topology
    # needs them.
    ticks = []
    gap_note = []
    for m in modes:
        gaps = [r["capture_gaps"] for r in by_mode[m] if r["capture_gaps"] is not None]
        label = fl.MODE_STYLE[m]["label"].replace(" (", "\n(").replace(", ", ",\n")
        if gaps:
            label += "\ncapture gaps: %d" % sum(gaps)
            gap_note.append("%s %d in %d of %d kills" % (m, sum(gaps), sum(1 for g in gaps if g),
                                                         len(by_mode[m])))
        ticks.append(label)
    for a in (ax, axk):
        a.set_xticks(x)
        a.set_xticklabels(ticks, fontsize=8)
        a.grid(True, axis="y", alpha=0.3)
        a.set_axisbelow(True)

    kw = 0.8 / len(KINDS)
    sums = {k: [sum(r[k] for r in by_mode[m]) for m in modes] for k, _, _, _ in KINDS}
    top = max([max(v) for v in sums.values()] + [1])
    for j, (k, label, color, hatch) in enumerate(KINDS):
        xs = x - 0.4 + kw * (j + 0.5)
        axk.bar(xs, sums[k], kw, color=color, hatch=hatch, edgecolor="#333333", lw=0.6,
                label=label)
        for xi, v in zip(xs, sums[k]):
            axk.text(xi, v + top * 0.015, str(v), ha="center", va="bottom", fontsize=7)
    axk.set_ylim(0, top * 1.3)
    axk.set_ylabel("violations, summed over kills (count)")
    axk.set_title("violations by kind")
    axk.legend(fontsize=8, loc="upper left", ncol=2, framealpha=0.9)

    failing = [m for m, b in zip(modes, bad) if b]
    note = ("Kills per mode: %s. Modes with violations: %s." % (
        ", ".join("%s %d" % (m, t) for m, t in zip(modes, total)),
        ", ".join(failing) if failing else "none"))
    if "naive" in modes and "naive" not in failing:
        note += (" WARNING: naive shows no violation, so these kills did not"
                 " exercise the replay log.")
    if gap_note:
        note += " Replay-log capture gaps: %s." % "; ".join(gap_note)
    fl.finish(fig, meta, note, args, NAME, "Consistency across primary kills")


if __name__ == "__main__":
    main()
