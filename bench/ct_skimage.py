"""Peer timings for bench/ct_bench.c: skimage radon / iradon, 256^2 Shepp-Logan, 180 angles
(single-threaded, as skimage is). Best and median wall ms of --reps runs after a warm-up, then
the same in process CPU ms (*_cpu1_*),
printed as the "key value" lines bench/physics_compare.sh reads.

    /usr/bin/python3 bench/ct_skimage.py [--reps N]
"""
import sys
import time

import numpy as np
import skimage
from skimage.data import shepp_logan_phantom
from skimage.transform import iradon, radon, resize


def timings(fn, reps, clock=time.perf_counter):
    fn()
    t = []
    for _ in range(reps):
        t0 = clock()
        fn()
        t.append(1e3 * (clock() - t0))
    return min(t), float(np.median(t))


reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 7
img = resize(shepp_logan_phantom(), (256, 256))
theta = np.linspace(0.0, 180.0, 180, endpoint=False)
sino = radon(img, theta=theta, circle=True)
b, m = timings(lambda: radon(img, theta=theta, circle=True), reps)
print(f"skimage {skimage.__version__}")
print(f"radon_best_ms {b:.2f} radon_median_ms {m:.2f}")
b, m = timings(lambda: iradon(sino, theta=theta, circle=True), reps)
print(f"iradon_best_ms {b:.2f} iradon_median_ms {m:.2f}")
# process CPU time: the work done, whatever share of a busy machine the process got
b, m = timings(lambda: radon(img, theta=theta, circle=True), reps, time.process_time)
print(f"radon_cpu1_best_ms {b:.2f} radon_cpu1_median_ms {m:.2f}")
b, m = timings(lambda: iradon(sino, theta=theta, circle=True), reps, time.process_time)
print(f"iradon_cpu1_best_ms {b:.2f} iradon_cpu1_median_ms {m:.2f}")
