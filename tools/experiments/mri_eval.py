#!/usr/bin/python3
"""Experiment 3 evaluation (called by tools/experiments/mri.sh; run from anywhere):
held-out Colin27 T1 slices, 8 simulated coils, fastMRI random line masks at 4x (8% centre) and
8x (4% centre), 0.2% complex Gaussian noise (of max|k|), reconstructed by

  ZF         hinge recon --method rss                       (zero-filled root sum of squares)
  CG-SENSE   hinge recon --method cg-sense --sens TRUE      (30 iterations, Tikhonov lambda)
  l1-wavelet hinge recon --method l1-wavelet --sens TRUE    (FISTA, db2, 100 iterations)
  BART       bart pics -l1 -r lambda -w 1 -i 100 (same k-space, same true maps, via cfl)
  MoDL       hinge recon --model OUT/modl-<A>x.safetensors  (maps from the ACS lines)
  VarNet     hinge recon --model OUT/varnet-<A>x.safetensors

The classical methods get the TRUE coil maps (an oracle advantage; ESPIRiT needs more
calibration lines than 4-8% of 64 columns). Their lambdas are tuned on a TRAINING slice
(z = 60), never on the test slices. Metrics are computed here with numpy/scikit-image (the
peer), fastMRI's definitions on the magnitude: NMSE = ||x - y||^2 / ||y||^2, PSNR with data
range = max(y), SSIM (skimage, 7x7 uniform window, data_range = max(y)).
Writes OUT/mri_results.json, docs/results/mri.md (table) and docs/results/mri_montage.png.
"""
import json, os, subprocess, sys, time

import nibabel as nib
import numpy as np
from skimage.metrics import structural_similarity

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "mri"))
HINGE = os.environ.get("HINGE", os.path.join(ROOT, "build", "hinge"))
SIZE = int(os.environ.get("SIZE", "64"))
NOISE = os.environ.get("NOISE", "0.002")
TEST = list(range(100, 119, 2))
TUNE = 60
ACCELS = [(4, 0.08), (8, 0.04)]
if os.environ.get("ONLY"):  # e.g. ONLY=4: one acceleration, cached for a later REUSE=1 run
    ACCELS = [a for a in ACCELS if str(a[0]) == os.environ["ONLY"]]
work = os.path.join(OUT, "eval")
os.makedirs(work, exist_ok=True)


def run(*args):
    subprocess.run([str(a) for a in args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=dict(os.environ, OMP_WAIT_POLICY="passive"))


def load(path):
    return np.asarray(nib.load(path).dataobj)


def metrics(x, y):
    x, y = np.abs(x).astype(np.float64), np.abs(y).astype(np.float64)
    rng = y.max()
    nmse = np.sum((x - y) ** 2) / np.sum(y ** 2)
    psnr = 10 * np.log10(rng ** 2 / np.mean((x - y) ** 2))
    ssim = structural_similarity(x, y, data_range=rng)
    return nmse, psnr, ssim


def write_cfl(name, a):
    with open(name + ".hdr", "w") as f:
        f.write("# Dimensions\n" + " ".join(str(d) for d in a.shape) + " 1" * (16 - a.ndim) + "\n")
    a.astype(np.complex64).ravel(order="F").tofile(name + ".cfl")


def read_cfl(name):
    with open(name + ".hdr") as f:
        f.readline()
        dims = [int(d) for d in f.readline().split()]
    return np.fromfile(name + ".cfl", dtype=np.complex64).reshape(dims, order="F")


def acquire(z, accel, cf):
    """Truth, k-space (+ sidecar) and true maps of slice z; the mask seed is the slice index."""
    base = os.path.join(work, f"z{z}_{accel}x")
    truth = os.path.join(work, f"z{z}.nii.gz")
    if not os.path.exists(truth):
        run(HINGE, "phantom", "colin27", "--size", SIZE, "--slice", z, "-o", truth)
    run(HINGE, "simulate", "mri", "--coils", 8, "--mask", "random", "--accel", accel, "--center",
        cf, "--noise", NOISE, "--seed", z, "--sens-out", base + "_sens.nii.gz", truth, "-o",
        base + "_k.nii.gz")
    return truth, base


def recon(method, base, accel, lam):
    """Magnitude image and seconds of one method."""
    out = f"{base}_{method}.nii.gz"
    k, sens = base + "_k.nii.gz", base + "_sens.nii.gz"
    t = time.time()
    if method == "zf":
        run(HINGE, "recon", "--method", "rss", k, "-o", out, "--threads", 1)
    elif method == "cg-sense":
        run(HINGE, "recon", "--method", "cg-sense", "--sens", sens, "--lambda", lam, "--iters", 30,
            k, "-o", out, "--threads", 1)
    elif method == "l1-wavelet":
        run(HINGE, "recon", "--method", "l1-wavelet", "--sens", sens, "--lambda", lam, "--iters",
            100, k, "-o", out, "--threads", 1)
    elif method == "bart":
        # NIfTI arrays index [x = W, y = H, coil]: BART's dims (W, H, 1, coils) in the same order.
        ksp, maps = load(k), load(sens)
        write_cfl(base + "_bk", ksp[:, :, None, :])
        write_cfl(base + "_bs", maps[:, :, None, :])
        t = time.time()
        subprocess.run(["bart", "pics", "-l1", "-r", str(lam), "-w", "1", "-i", "100",
                        base + "_bk", base + "_bs", base + "_br"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
        sec = time.time() - t
        return np.abs(read_cfl(base + "_br").reshape(ksp.shape[:2])), sec
    else:
        run(HINGE, "recon", "--model", os.path.join(OUT, f"{method}-{accel}x.safetensors"), k,
            "-o", out, "--threads", 1)
    sec = time.time() - t
    return np.abs(load(out)), sec


def tune(method, accel, cf, grid):
    truth, base = acquire(TUNE, accel, cf)
    y = load(truth)
    scores = [(metrics(recon(method, base, accel, lam)[0], y)[1], lam) for lam in grid]
    return max(scores)[1]


def main():
    grids = {"cg-sense": [1e-3, 1e-2, 3e-2, 0.1, 0.3], "l1-wavelet": [1e-3, 3e-3, 1e-2, 3e-2],
             "bart": [1e-3, 3e-3, 1e-2, 3e-2]}
    methods = ["zf", "cg-sense", "l1-wavelet", "bart", "modl", "varnet"]
    results, lams, images = {}, {}, {}
    for accel, cf in ACCELS:
        cache = os.path.join(OUT, f"mri_results_{accel}x.json")
        if os.environ.get("REUSE") and os.path.exists(cache):
            with open(cache) as f:  # an earlier run of this acceleration (REUSE=1)
                c = json.load(f)
            results.update(c["results"]), lams.update({accel: c["lambdas"]})
            for key, v in c["images"].items():
                images[(accel, key)] = np.array(v)
            continue
        lams[accel] = {m: tune(m, accel, cf, g) for m, g in grids.items()}
        print(f"{accel}x: lambdas tuned on training slice {TUNE}: {lams[accel]}", file=sys.stderr)
        for m in methods:
            rows = []
            for z in TEST:
                truth, base = acquire(z, accel, cf)
                y = load(truth)
                x, sec = recon(m, base, accel, lams[accel].get(m, 0))
                rows.append(metrics(x, y) + (sec,))
                if z == 110:
                    images[(accel, m)] = x
                    images[(accel, "truth")] = y
            a = np.array(rows)
            results[f"{accel}x/{m}"] = {"nmse": a[:, 0].mean(), "psnr": a[:, 1].mean(),
                                        "psnr_sd": a[:, 1].std(), "ssim": a[:, 2].mean(),
                                        "seconds": a[:, 3].mean()}
            print(f"{accel}x {m}: {results[f'{accel}x/{m}']}", file=sys.stderr)
        with open(cache, "w") as f:
            json.dump({"results": {k: v for k, v in results.items() if k.startswith(f"{accel}x/")},
                       "lambdas": lams[accel],
                       "images": {k[1]: images[k].tolist() for k in images if k[0] == accel}}, f)
    if os.environ.get("ONLY"):
        return
    with open(os.path.join(OUT, "mri_results.json"), "w") as f:
        json.dump({"results": results, "lambdas": {str(k): v for k, v in lams.items()}, "test_slices": TEST, "size": SIZE,
                   "noise": NOISE}, f, indent=1)
    names = {"zf": "Zero-filled (RSS)", "cg-sense": "CG-SENSE (true maps)",
             "l1-wavelet": "l1-wavelet, hinge FISTA (true maps)",
             "bart": "l1-wavelet, BART pics (true maps)", "modl": "MoDL (ACS maps)",
             "varnet": "VarNet (learned maps)"}
    lines = ["| method | 4x NMSE | 4x PSNR (dB) | 4x SSIM | 8x NMSE | 8x PSNR (dB) | 8x SSIM |",
             "|---|---|---|---|---|---|---|"]
    for m in methods:
        r4, r8 = results[f"4x/{m}"], results[f"8x/{m}"]
        lines.append(f"| {names[m]} | {r4['nmse']:.4f} | {r4['psnr']:.2f} ± {r4['psnr_sd']:.2f} | "
                     f"{r4['ssim']:.3f} | {r8['nmse']:.4f} | {r8['psnr']:.2f} ± {r8['psnr_sd']:.2f}"
                     f" | {r8['ssim']:.3f} |")
    with open(os.path.join(OUT, "mri_table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    # Montage: slice 110, rows 4x / 8x, columns truth + methods (magnitude, [0, 1]).
    from PIL import Image
    cols = ["truth"] + methods
    tiles = []
    for accel, _ in ACCELS:
        row = [np.clip(images[(accel, c)] / images[(accel, "truth")].max(), 0, 1) for c in cols]
        # NIfTI x runs along the first array axis: transpose to rows = y, flip to anterior-up.
        tiles.append(np.concatenate([np.pad(r.T[::-1], 2, constant_values=1) for r in row], 1))
    mont = (np.concatenate(tiles, 0) * 255).astype(np.uint8)
    Image.fromarray(mont).resize((mont.shape[1] * 2, mont.shape[0] * 2), Image.NEAREST).save(
        os.path.join(ROOT, "docs", "results", "mri_montage.png"))


if __name__ == "__main__":
    main()
