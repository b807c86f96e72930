"""PyTorch peer of `hinge bench --only conv3x3_64_256_fwd,conv3x3_64_256_fwdbwd` (C = 64,
S = 256, N = 1; bench/bench_conv.c now times hinge's conv passes per path and layer class):
Conv2d 3x3 (padding 1) C->C on N x C x S x S, forward under no_grad and forward + backward,
minimum over repetitions.
    /usr/bin/python3 bench/bench_conv_torch.py [C=64] [S=256] [N=1] [threads=2] [reps=15]
"""
import sys
import time

import torch

c, s, n, threads, reps = (int(a) for a in (sys.argv[1:] + ["64", "256", "1", "2", "15"][len(sys.argv) - 1:]))
torch.set_num_threads(threads)
torch.manual_seed(1)
x = torch.randn(n, c, s, s, requires_grad=True)
conv = torch.nn.Conv2d(c, c, 3, padding=1)
g = torch.randn(n, c, s, s)


def best(f):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 1e3 * min(ts)


def fwd():
    with torch.no_grad():
        conv(x)


def both():
    conv(x).backward(g)


print("torch %s conv %d->%d 3x3 on %dx%dx%dx%d, %d threads: forward %.1f ms, "
      "forward+backward %.1f ms (min of %d)" % (torch.__version__, c, c, n, c, s, s, threads,
                                                best(fwd), best(both), reps))
