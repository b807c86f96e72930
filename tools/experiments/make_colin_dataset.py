#!/usr/bin/python3
"""Brain-extraction training set from the Colin27 T1 (mricron-data), nnU-Net layout.

Every subject is the Colin27 T1 (ch2.nii.gz) and its brain mask (filled ch2bet > 0) under a
random smooth deformation (random affine: rotation up to 10 deg per axis, scale 0.9-1.1 per
axis, shift up to 8 mm; plus a smooth displacement field with about 4 mm std, cubic
interpolation of a coarse random grid), resampled to a random spacing in [2.5, 3.5] mm per
axis, with intensity augmentation (gamma 0.7-1.5, multiplicative smooth bias field up to
+-25%, Gaussian noise 1-4% of the max, global scale 0.5-2).

With --labels structures the label map is the AAL atlas (aal.nii.gz, defined on this brain)
grouped into six structures (GROUPS below; nearest-neighbour sampling) instead of the mask.

Writes DIR/imagesTr/colin_XXX_0000.nii.gz, DIR/labelsTr/colin_XXX.nii.gz (train) and
DIR/imagesTs, DIR/labelsTs (held-out subjects, other seeds), and DIR/dataset.json.
Usage: make_colin_dataset.py OUT_DIR [--train 24] [--test 6] [--seed 0] [--labels brain|structures]
"""
import argparse, json, os
import numpy as np
import nibabel as nib
from scipy import ndimage

T = "/usr/share/mricron/templates"

# AAL region name prefixes (hemisphere suffix dropped) -> structure label
GROUPS = {
    1: ("frontal", ("Precentral", "Frontal_", "Rolandic_Oper", "Supp_Motor_Area", "Olfactory",
                    "Rectus", "Paracentral_Lobule", "Insula", "Cingulum_Ant", "Cingulum_Mid")),
    2: ("parietal", ("Postcentral", "Parietal_", "SupraMarginal", "Angular", "Precuneus",
                     "Cingulum_Post")),
    3: ("temporal", ("Temporal_", "Heschl", "Hippocampus", "ParaHippocampal", "Amygdala",
                     "Fusiform")),
    4: ("occipital", ("Calcarine", "Cuneus", "Lingual", "Occipital_")),
    5: ("deep_grey", ("Caudate", "Putamen", "Pallidum", "Thalamus")),
    6: ("cerebellum", ("Cerebelum_", "Vermis_")),
}


def structures():
    """The grouped AAL atlas as a float32 label volume."""
    aal = np.asanyarray(nib.load(f"{T}/aal.nii.gz").dataobj).astype(np.int32)
    lut = np.zeros(aal.max() + 1, np.float32)
    for line in open(f"{T}/aal.nii.txt"):
        f = line.split()
        if len(f) < 2:
            continue
        idx, name = int(f[0]), f[1]
        for k, (_, prefixes) in GROUPS.items():
            if any(name.startswith(p) for p in prefixes):
                lut[idx] = k
        if lut[idx] == 0:
            raise SystemExit(f"AAL region {name} has no group")
    return lut[aal]


def rot(ax, a):
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != ax]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def subject(img, mask, affine, rng, nearest=False):
    """Image and mask of one deformed subject on its own grid; returns (img, mask, affine)."""
    shape1 = np.array(img.shape)
    extent = shape1 * 1.0                                   # mm (1 mm template)
    spacing = rng.uniform(2.5, 3.5, 3)
    shape = np.round(extent / spacing).astype(int)
    spacing = extent / shape
    # output voxel centres in template voxel coordinates (1 mm voxels, centre-aligned)
    g = np.stack(np.meshgrid(*[(np.arange(n) + 0.5) * s - 0.5 for n, s in zip(shape, spacing)],
                             indexing="ij"), 0).reshape(3, -1)
    centre = (shape1 - 1) / 2.0
    a = np.eye(3)
    for ax in range(3):
        a = a @ rot(ax, np.deg2rad(rng.uniform(-10, 10)))
    a = a @ np.diag(rng.uniform(0.9, 1.1, 3))
    shift = rng.uniform(-8, 8, 3)
    src = a @ (g - centre[:, None]) + centre[:, None] + shift[:, None]
    # smooth displacement: random 5x6x5 grid, cubic zoom to the output grid
    for ax in range(3):
        coarse = rng.normal(0, 4.0, (5, 6, 5))
        field = ndimage.zoom(coarse, shape / np.array(coarse.shape), order=3)
        src[ax] += field[:shape[0], :shape[1], :shape[2]].reshape(-1)
    im = ndimage.map_coordinates(img, src, order=1, mode="constant", cval=0).reshape(shape)
    if nearest:
        lb = ndimage.map_coordinates(mask, src, order=0, mode="constant", cval=0)
        lb = lb.reshape(shape).astype(np.uint8)
    else:
        lb = ndimage.map_coordinates(mask, src, order=1, mode="constant", cval=0).reshape(shape)
        lb = (lb >= 0.5).astype(np.uint8)
    # intensity augmentation
    mx = max(float(im.max()), 1.0)
    im = mx * (im / mx) ** rng.uniform(0.7, 1.5)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    c = rng.uniform(-1, 1, 9)
    logb = c[0]*x + c[1]*y + c[2]*z + c[3]*x*x + c[4]*y*y + c[5]*z*z + c[6]*x*y + c[7]*x*z + c[8]*y*z
    logb *= np.log(1.25) / max(np.abs(logb).max(), 1e-6)
    im = im * np.exp(logb)
    im = im + rng.normal(0, rng.uniform(0.01, 0.04) * mx, shape)
    im = np.clip(im, 0, None) * rng.uniform(0.5, 2.0)
    aff = affine.copy()
    aff[:3, :3] = affine[:3, :3] @ np.diag(spacing)
    aff[:3, 3] = affine[:3, :3] @ ((spacing - 1) / 2.0) + affine[:3, 3]
    return im.astype(np.float32), lb, aff


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--train", type=int, default=24)
    p.add_argument("--test", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", choices=("brain", "structures"), default="brain")
    a = p.parse_args()
    t1 = nib.load(f"{T}/ch2.nii.gz")
    img = np.asanyarray(t1.dataobj).astype(np.float32)
    mask = ndimage.binary_fill_holes(np.asanyarray(nib.load(f"{T}/ch2bet.nii.gz").dataobj) > 0)
    mask = mask.astype(np.float32)
    multi = a.labels == "structures"
    if multi:
        mask = structures()
    for d in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    for split, n, base in (("Tr", a.train, 0), ("Ts", a.test, 1000)):
        for i in range(n):
            rng = np.random.default_rng([a.seed, base + i])
            im, lb, aff = subject(img, mask, t1.affine, rng, nearest=multi)
            name = f"colin_{base + i:04d}"
            ni = nib.Nifti1Image(im, aff)
            nl = nib.Nifti1Image(lb, aff)
            for h in (ni.header, nl.header):
                h.set_qform(aff, 1)
                h.set_sform(aff, 1)
            nib.save(ni, os.path.join(a.out, f"images{split}", f"{name}_0000.nii.gz"))
            nib.save(nl, os.path.join(a.out, f"labels{split}", f"{name}.nii.gz"))
            print(name, im.shape, np.round(np.diag(aff)[:3], 2),
                  "label fractions", np.round(np.bincount(lb.ravel()) / lb.size, 3))
    labels = {"background": 0}
    if multi:
        labels.update({n: k for k, (n, _) in GROUPS.items()})
    else:
        labels["brain"] = 1
    with open(os.path.join(a.out, "dataset.json"), "w") as f:
        json.dump({"name": "colin27-" + ("structures" if multi else "brain-mask"),
                   "modality": "MR", "channel_names": {"0": "T1"}, "labels": labels,
                   "file_ending": ".nii.gz",
                   "source": "Colin27 T1, ch2bet / AAL (mricron-data), random smooth "
                             "deformations"}, f, indent=2)


if __name__ == "__main__":
    main()
