#!/usr/bin/python3
"""The engine benchmark's workloads in PyTorch (Debian python3-torch), for a side-by-side run.

Mirrors `hinge bench`: SGEMM 2048^3, conv 64->64 3x3 on 1x64x256x256 (forward, forward+backward),
a 2-D U-Net (features 32,64,128,256; conv-BN-ReLU x2 per level; max-pool down; transposed-conv
up; 1 input channel, 2 classes) training step at batch 4 of 256x256 with Adam, and single-image
inference. Prints one JSON object: workload -> {"ms": median, "runs": n, "gflops": ...}.
Usage: bench/peer_torch.py [--threads 2] [--repeat 5] [--only name,name]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, features=(32, 64, 128, 256), cin=1, classes=2):
        super().__init__()
        self.enc = nn.ModuleList()
        c = cin
        for f in features:
            self.enc.append(block(c, f))
            c = f
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for l in range(len(features) - 2, -1, -1):
            self.up.append(nn.ConvTranspose2d(features[l + 1], features[l], 2, stride=2))
            self.dec.append(block(2 * features[l], features[l]))
        self.head = nn.Conv2d(features[0], classes, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.enc):
            if i:
                x = self.pool(x)
            x = e(x)
            skips.append(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips[:-1])):
            x = dec(torch.cat([skip, up(x)], 1))
        return self.head(x)


CPU_MS = {}


def timeit(fn, repeat, warmup=1):
    """Median wall ms and all wall times; the median process CPU ms goes to CPU_MS[fn]."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    CPU_MS["last"] = statistics.median(cpu)
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    only = set(filter(None, a.only.split(",")))
    want = lambda n: not only or n in only
    res = {"_peer": {"torch": torch.__version__, "threads": a.threads,
                     "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "")}}

    if want("sgemm_2048"):
        A, B = torch.randn(2048, 2048), torch.randn(2048, 2048)
        ms, _ = timeit(lambda: torch.mm(A, B), a.repeat)
        res["sgemm_2048"] = {"ms": ms, "cpu_ms": CPU_MS["last"], "gflops": 2 * 2048**3 / ms / 1e6}
    x = torch.randn(1, 64, 256, 256)
    conv = nn.Conv2d(64, 64, 3, padding=1)
    flops = 2 * 64 * 64 * 9 * 256 * 256
    if want("conv3x3_64_256_fwd"):
        with torch.no_grad():
            ms, _ = timeit(lambda: conv(x), a.repeat)
        res["conv3x3_64_256_fwd"] = {"ms": ms, "cpu_ms": CPU_MS["last"], "gflops": flops / ms / 1e6}
    if want("conv3x3_64_256_fwdbwd"):
        xg = x.clone().requires_grad_(True)
        def step():
            conv.zero_grad()
            conv(xg).sum().backward()
        ms, _ = timeit(step, a.repeat)
        res["conv3x3_64_256_fwdbwd"] = {"ms": ms, "cpu_ms": CPU_MS["last"], "gflops": 3 * flops / ms / 1e6}
    net = UNet()
    if want("unet2d_train_b4_256"):
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xb = torch.randn(4, 1, 256, 256)
        yb = torch.randint(0, 2, (4, 256, 256))
        lossf = nn.CrossEntropyLoss()
        net.train()
        def step():
            opt.zero_grad()
            loss = lossf(net(xb), yb)
            loss.backward()
            opt.step()
        ms, _ = timeit(step, max(3, a.repeat // 2))
        res["unet2d_train_b4_256"] = {"ms": ms, "cpu_ms": CPU_MS["last"]}
    if want("unet2d_infer_b1_256"):
        net.eval()
        x1 = torch.randn(1, 1, 256, 256)
        with torch.no_grad():
            ms, _ = timeit(lambda: net(x1), a.repeat)
        res["unet2d_infer_b1_256"] = {"ms": ms, "cpu_ms": CPU_MS["last"]}
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
