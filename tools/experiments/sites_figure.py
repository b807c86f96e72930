#!/usr/bin/python3
"""Bar figure of the multi-site experiment: mean Dice per model and test site with the 95%
bootstrap CIs, from the JSON of `hinge sites eval --json-out` (matplotlib, Debian
python3-matplotlib). Usage: sites_figure.py results.json figure.png"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

r = json.load(open(sys.argv[1]))
sites, models = r["sites"], r["models"]
fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
width = 0.8 / len(models)
for j, m in enumerate(models):
    xs = [k + (j - (len(models) - 1) / 2) * width for k in range(len(sites))]
    mean = [m["dice"][s]["mean"] for s in sites]
    err = [[mu - m["dice"][s]["ci_lo"] for s, mu in zip(sites, mean)],
           [m["dice"][s]["ci_hi"] - mu for s, mu in zip(sites, mean)]]
    ax.bar(xs, mean, width, yerr=err, capsize=3, label=m["label"])
ax.set_xticks(range(len(sites)))
ax.set_xticklabels([f"site {s}" + (" (unseen)" if k == len(sites) - 1 else "")
                    for k, s in enumerate(sites)])
lo = min(m["dice"][s]["ci_lo"] for m in models for s in sites)
ax.set_ylim(max(0.0, lo - 0.05), 1.0)
ax.set_ylabel("mean foreground Dice")
title = f"{r['count']} test images per site, 95% bootstrap CI"
if "closure" in r:
    c = r["closure"]
    title += f"\ngap closed at {sites[-1]} by {c['mid']}: {c['value']:.2f} [{c['ci_lo']:.2f}, {c['ci_hi']:.2f}]"
ax.set_title(title, fontsize=9)
ax.legend(fontsize=8, ncol=len(models), loc="upper center", bbox_to_anchor=(0.5, -0.1))
fig.tight_layout()
fig.savefig(sys.argv[2])
