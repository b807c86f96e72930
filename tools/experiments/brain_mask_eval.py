#!/usr/bin/python3
"""Scores the predictions of tools/experiments/brain_mask.sh.

Usage: brain_mask_eval.py OUT [--labels brain|structures]
OUT/<ds>/labelsTs/<case>.nii.gz (held-out deformed subjects) against OUT/<pred>/<case>.nii.gz,
and OUT/<pred>/colin27.nii.gz against Colin27's own labels at 1 mm (brain: ch2bet > 0;
structures: the grouped AAL atlas of make_colin_dataset.py). Dice and HD95 per label (mm,
max of the two directed 95th percentiles of surface distances, exact EDT with spacing, as
hg_seg_scores). Writes OUT/results[_structures].json and an overlay PNG of Colin27 at 1 mm
(brain: truth green, prediction red, overlap yellow; structures: truth | prediction)."""
import argparse, glob, json, os, sys
import numpy as np
import nibabel as nib
from scipy import ndimage

T = "/usr/share/mricron/templates"


def surface(m):
    return m & ~ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(m.ndim, 1),
                                       border_value=0)


def scores(p, t, spacing):
    p, t = p.astype(bool), t.astype(bool)
    dice = 2 * (p & t).sum() / max(p.sum() + t.sum(), 1)
    if not p.any() or not t.any():
        return float(dice), float("nan")
    sp, st = surface(p), surface(t)
    dt = ndimage.distance_transform_edt(~st, sampling=spacing)
    dp = ndimage.distance_transform_edt(~sp, sampling=spacing)
    hd95 = max(np.percentile(dt[sp], 95), np.percentile(dp[st], 95))
    return float(dice), float(hd95)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--labels", choices=("brain", "structures"), default="brain")
    a = ap.parse_args()
    multi = a.labels == "structures"
    out, dsn, predn = a.out, ("st" if multi else "ds"), ("pred_st" if multi else "pred")
    names = json.load(open(os.path.join(out, dsn, "dataset.json")))["labels"]
    labels = {v: k for k, v in names.items() if v > 0}
    res = {"held_out": {}}
    for lab in sorted(glob.glob(os.path.join(out, dsn, "labelsTs", "*.nii.gz"))):
        name = os.path.basename(lab)[:-7]
        t = nib.load(lab)
        p = np.asanyarray(nib.load(os.path.join(out, predn, name + ".nii.gz")).dataobj)
        tt = np.asanyarray(t.dataobj)
        res["held_out"][name] = {labels[k]: dict(zip(("dice", "hd95_mm"),
                                                     scores(p == k, tt == k, t.header.get_zooms()[:3])))
                                 for k in labels}
    per = {n: {"dice": float(np.mean([c[n]["dice"] for c in res["held_out"].values()])),
               "dice_std": float(np.std([c[n]["dice"] for c in res["held_out"].values()])),
               "hd95_mm": float(np.mean([c[n]["hd95_mm"] for c in res["held_out"].values()]))}
           for n in labels.values()}
    res["held_out_mean"] = per
    img = np.asanyarray(nib.load(f"{T}/ch2.nii.gz").dataobj).astype(np.float32)
    if multi:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from make_colin_dataset import structures
        truth = structures().astype(np.int32)
    else:
        truth = ndimage.binary_fill_holes(np.asanyarray(nib.load(f"{T}/ch2bet.nii.gz").dataobj) > 0)
        truth = truth.astype(np.int32)
    pred = np.asanyarray(nib.load(os.path.join(out, predn, "colin27.nii.gz")).dataobj).astype(np.int32)
    res["colin27_1mm"] = {labels[k]: dict(zip(("dice", "hd95_mm"), scores(pred == k, truth == k, (1.0, 1.0, 1.0))))
                          for k in labels}
    for n in labels.values():
        print(f"{n:12s} held-out Dice {per[n]['dice']:.4f} +- {per[n]['dice_std']:.4f} HD95 "
              f"{per[n]['hd95_mm']:.2f} mm | Colin27 1 mm Dice {res['colin27_1mm'][n]['dice']:.4f} "
              f"HD95 {res['colin27_1mm'][n]['hd95_mm']:.2f} mm")
    with open(os.path.join(out, "results_structures.json" if multi else "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    c = [s // 2 for s in img.shape]
    cut = [lambda v: v[:, :, c[2]], lambda v: v[:, c[1], :], lambda v: v[c[0], :, :]]
    titles = ["axial", "coronal", "sagittal"]
    if not multi:
        d, h = res["colin27_1mm"]["brain"]["dice"], res["colin27_1mm"]["brain"]["hd95_mm"]
        fig, ax = plt.subplots(1, 3, figsize=(12, 4.6))
        for a_, f, title in zip(ax, cut, titles):
            im, t, p = f(img), f(truth) > 0, f(pred) > 0
            g = im.T[::-1] / max(im.max(), 1)
            rgb = np.stack([g, g, g], -1)
            tt, pp = t.T[::-1], p.T[::-1]
            for m, col in ((surface(tt) & ~surface(pp), (0, 1, 0)),
                           (surface(pp) & ~surface(tt), (1, 0, 0)),
                           (surface(tt) & surface(pp), (1, 1, 0))):
                rgb[m] = col
            a_.imshow(rgb)
            a_.set_title(title)
            a_.axis("off")
        fig.suptitle(f"hinge segment --model brain-mask on Colin27 T1 (1 mm): Dice {d:.3f}, "
                     f"HD95 {h:.1f} mm  (green: ch2bet mask, red: prediction, yellow: both)")
        png = "brain_mask_overlay.png"
    else:
        mean = np.mean([v["dice"] for v in res["colin27_1mm"].values()])
        fig, ax = plt.subplots(2, 3, figsize=(12, 8.6))
        cmap = plt.get_cmap("tab10")
        for j, (f, title) in enumerate(zip(cut, titles)):
            for i, (lab, who) in enumerate(((truth, "AAL groups"), (pred, "hinge"))):
                im, l = f(img).T[::-1], f(lab).T[::-1]
                g = im / max(im.max(), 1)
                rgb = np.stack([g, g, g], -1)
                for k in labels:
                    rgb[l == k] = 0.45 * rgb[l == k] + 0.55 * np.array(cmap(k - 1)[:3])
                ax[i, j].imshow(rgb)
                ax[i, j].set_title(f"{who}, {title}")
                ax[i, j].axis("off")
        fig.suptitle(f"Colin27 T1 (1 mm), six structures: AAL groups (top) vs hinge (bottom), "
                     f"mean Dice {mean:.3f}")
        png = "brain_structures_overlay.png"
    fig.tight_layout()
    fig.savefig(os.path.join(out, png), dpi=80)


if __name__ == "__main__":
    main()
