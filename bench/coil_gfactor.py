#!/usr/bin/python3
"""SENSE g-factors of hinge's simulated loop coils (hg_mri_coils_sim, same formula) against
BART's simulated coils (`bart phantom -S 8`), uniform undersampling along x (as the
benchmark's line masks), inside the disc r < 0.85 of the half field of view.

    /usr/bin/python3 bench/coil_gfactor.py [n]     (needs bart on PATH; n = 256 by default)

g = sqrt(diag((S^H S)^-1) diag(S^H S)) per aliased pixel group; it is invariant to a common
per-pixel scaling of the maps, and hinge's maps are defined in units of the half field of view,
so their g-factors do not depend on the matrix size.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np


def read_cfl(name):
    with open(name + ".hdr") as f:
        f.readline()
        dims = [int(d) for d in f.readline().split()]
    return np.fromfile(name + ".cfl", dtype=np.complex64).reshape(dims, order="F")


def hinge_maps(n, coils, radius=1.5, width=1.0):
    y, x = np.mgrid[0:n, 0:n]
    px, py = (x - n // 2) / (n / 2), (y - n // 2) / (n / 2)
    s = []
    for c in range(coils):
        a = 2 * np.pi * c / coils
        dx, dy = px - radius * np.cos(a), py - radius * np.sin(a)
        s.append((1 + (dx * dx + dy * dy) / width ** 2) ** -1.5 * np.exp(1j * np.arctan2(dy, dx)))
    s = np.array(s)
    return s / np.sqrt((abs(s) ** 2).sum(0))


def gfactor_x(s, R):
    c, ny, nx = s.shape
    step, g = nx // R, np.zeros((ny, nx))
    for i in range(step):
        idx = [i + k * step for k in range(R)]
        S = np.moveaxis(s[:, :, idx], 0, 1)  # [y, coils, R]
        shs = np.conj(np.swapaxes(S, -1, -2)) @ S
        inv = np.linalg.pinv(shs)
        g[:, idx] = np.sqrt(np.abs(np.einsum("...ii->...i", inv) * np.einsum("...ii->...i", shs)))
    return g


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    y, x = np.mgrid[0:n, 0:n]
    sup = np.hypot((x - n // 2) / (n / 2), (y - n // 2) / (n / 2)) < 0.85
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["bart", "phantom", "-S", "8", "-x", str(n), os.path.join(d, "m")],
                       check=True, capture_output=True)
        b = read_cfl(os.path.join(d, "m")).reshape(n, n, -1).transpose(2, 1, 0)
    print(f"{'maps':22s} {'R':>2s} {'g mean':>7s} {'g p95':>7s} {'g max':>7s}")
    for name, s in [("hinge coils_sim (8)", hinge_maps(n, 8)), ("bart phantom -S 8", b)]:
        for R in (2, 3, 4):
            if n % R:
                continue
            g = gfactor_x(s, R)[sup]
            print(f"{name:22s} {R:2d} {g.mean():7.2f} {np.percentile(g, 95):7.2f} {g.max():7.2f}")


if __name__ == "__main__":
    main()
