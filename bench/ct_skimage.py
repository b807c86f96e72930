"""Peer timings for bench/ct_bench.c: skimage radon / iradon, 256^2 Shepp-Logan, 180 angles.

    /usr/bin/python3 bench/ct_skimage.py      (median of 5 runs, milliseconds)
"""
import time

import numpy as np
from skimage.data import shepp_logan_phantom
from skimage.transform import iradon, radon, resize


def median_ms(fn, reps=5):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(times))


img = resize(shepp_logan_phantom(), (256, 256))
theta = np.linspace(0.0, 180.0, 180, endpoint=False)
sino = radon(img, theta=theta, circle=True)
print(f"skimage radon  256^2 x 180: {median_ms(lambda: radon(img, theta=theta, circle=True)):.1f} ms")
print(f"skimage iradon 256^2 x 180: {median_ms(lambda: iradon(sino, theta=theta, circle=True)):.1f} ms")
