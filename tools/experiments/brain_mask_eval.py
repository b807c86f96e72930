#!/usr/bin/python3
"""Scores the brain-mask predictions of tools/experiments/brain_mask.sh.

OUT/pred/<case>.nii.gz against OUT/ds/labelsTs/<case>.nii.gz (held-out deformed subjects)
and OUT/pred/colin27.nii.gz against the filled ch2bet > 0 mask at 1 mm. Dice and HD95 (mm,
max of the two directed 95th percentiles of surface distances, exact EDT with spacing, as
hg_seg_scores). Writes OUT/results.json and OUT/brain_mask_overlay.png (Colin27 at 1 mm:
truth green, prediction red, overlap yellow; axial, coronal, sagittal mid slices)."""
import glob, json, os, sys
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
    sp, st = surface(p), surface(t)
    dt = ndimage.distance_transform_edt(~st, sampling=spacing)
    dp = ndimage.distance_transform_edt(~sp, sampling=spacing)
    hd95 = max(np.percentile(dt[sp], 95), np.percentile(dp[st], 95))
    return float(dice), float(hd95)


def main():
    out = sys.argv[1]
    res = {"held_out": {}}
    for lab in sorted(glob.glob(os.path.join(out, "ds", "labelsTs", "*.nii.gz"))):
        name = os.path.basename(lab)[:-7]
        t = nib.load(lab)
        p = nib.load(os.path.join(out, "pred", name + ".nii.gz"))
        d, h = scores(np.asanyarray(p.dataobj) > 0, np.asanyarray(t.dataobj) > 0,
                      t.header.get_zooms()[:3])
        res["held_out"][name] = {"dice": d, "hd95_mm": h}
        print(f"{name}: Dice {d:.4f}  HD95 {h:.2f} mm")
    ds = [v["dice"] for v in res["held_out"].values()]
    hs = [v["hd95_mm"] for v in res["held_out"].values()]
    res["held_out_mean"] = {"dice": float(np.mean(ds)), "dice_std": float(np.std(ds)),
                            "hd95_mm": float(np.mean(hs)), "hd95_mm_std": float(np.std(hs))}
    img = np.asanyarray(nib.load(f"{T}/ch2.nii.gz").dataobj).astype(np.float32)
    truth = ndimage.binary_fill_holes(np.asanyarray(nib.load(f"{T}/ch2bet.nii.gz").dataobj) > 0)
    pred = np.asanyarray(nib.load(os.path.join(out, "pred", "colin27.nii.gz")).dataobj) > 0
    d, h = scores(pred, truth, (1.0, 1.0, 1.0))
    res["colin27_1mm"] = {"dice": d, "hd95_mm": h}
    print(f"mean held-out: Dice {np.mean(ds):.4f} +- {np.std(ds):.4f}  HD95 {np.mean(hs):.2f} mm")
    print(f"Colin27 1 mm: Dice {d:.4f}  HD95 {h:.2f} mm")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    c = [s // 2 for s in img.shape]
    views = [(img[:, :, c[2]], truth[:, :, c[2]], pred[:, :, c[2]], "axial"),
             (img[:, c[1], :], truth[:, c[1], :], pred[:, c[1], :], "coronal"),
             (img[c[0], :, :], truth[c[0], :, :], pred[c[0], :, :], "sagittal")]
    fig, ax = plt.subplots(1, 3, figsize=(12, 4.6))
    for a, (im, t, p, title) in zip(ax, views):
        g = im.T[::-1] / max(im.max(), 1)
        rgb = np.stack([g, g, g], -1)
        tt, pp = t.T[::-1], p.T[::-1]
        for m, col in ((surface(tt) & ~surface(pp), (0, 1, 0)), (surface(pp) & ~surface(tt), (1, 0, 0)),
                       (surface(tt) & surface(pp), (1, 1, 0))):
            rgb[m] = col
        a.imshow(rgb)
        a.set_title(title)
        a.axis("off")
    fig.suptitle(f"hinge segment --model brain-mask on Colin27 T1 (1 mm): Dice {d:.3f}, "
                 f"HD95 {h:.1f} mm  (green: ch2bet mask, red: prediction, yellow: both)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "brain_mask_overlay.png"), dpi=80)


if __name__ == "__main__":
    main()
