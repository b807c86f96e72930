#!/usr/bin/python3
"""The engine benchmark's workloads in PyTorch (Debian python3-torch), for a side-by-side run.

Mirrors `hinge bench`: SGEMM 2048^3, conv 64->64 3x3 on 1x64x256x256 (forward, forward+backward),
a 2-D U-Net (features 32,64,128,256; conv-BN-ReLU x2 per level; max-pool down; transposed-conv
up; 1 input channel, 2 classes) training step at batch 4 of 256x256 with Adam, and single-image
inference (also with batch norm fused into the convs, torch.nn.utils.fusion). Prints one JSON
object: workload -> {"ms": median, "runs": n, "gflops": ...}.
Usage: bench/peer_torch.py [--threads 2] [--repeat 5] [--only name,name] [--memory]

--memory instead measures the peak memory of one U-Net step (training, inference, fused
inference): the process's peak resident set (VmHWM, reset through /proc/self/clear_refs) minus
its resident set before the step, after a warm-up step. glibc would otherwise keep freed
tensors in its heap (the RSS then hides reuse), so this mode re-executes itself with
MALLOC_MMAP_THRESHOLD_=131072: large tensors are mmap'ed and returned on free, and the RSS
follows the live tensors. Not used for timings (mmap per tensor is slower).

--memory3d --features F --patch P measures the same for one training step of the 3-D U-Net of
bench/unet3d_torch.py (batch 1 x 1 x P^3, cross-entropy, Adam), as bench/unet3d_bench.c runs it.
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


def fuse_bn(net):
    """Eval-mode copy of the U-Net with every conv-BN pair fused (one conv with a bias)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    for seq in list(net.enc) + list(net.dec):
        seq[0] = fuse_conv_bn_eval(seq[0], seq[1])
        seq[1] = nn.Identity()
        seq[3] = fuse_conv_bn_eval(seq[3], seq[4])
        seq[4] = nn.Identity()
    return net


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def peak_mb(fn):
    """Peak resident memory of fn() above the resident memory before it, in MiB (median of 3,
    each after a warm-up call)."""
    fn()
    out = []
    for _ in range(3):
        base = status_kb("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        fn()
        out.append((status_kb("VmHWM") - base) / 1024.0)
    return statistics.median(out)


def memory(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    res = {"_peer": {"torch": torch.__version__, "threads": a.threads, "measure":
                     "VmHWM - VmRSS around one step, MALLOC_MMAP_THRESHOLD_=131072"}}
    net = UNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xb, yb = torch.randn(4, 1, 256, 256), torch.randint(0, 2, (4, 256, 256))
    lossf = nn.CrossEntropyLoss()
    net.train()

    def step():
        opt.zero_grad()
        lossf(net(xb), yb).backward()
        opt.step()
    res["unet2d_train_b4_256"] = {"peak_mb": peak_mb(step)}
    net.eval()
    x1 = torch.randn(1, 1, 256, 256)
    with torch.no_grad():
        res["unet2d_infer_b1_256"] = {"peak_mb": peak_mb(lambda: net(x1))}
        fused = fuse_bn(net)
        res["unet2d_infer_b1_256_folded"] = {"peak_mb": peak_mb(lambda: fused(x1))}
    json.dump(res, sys.stdout, indent=1)
    print()


def memory3d(a):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from unet3d_torch import UNet3d
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = UNet3d(a.features)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(1, 1, a.patch, a.patch, a.patch)
    y = torch.randint(0, 2, (1, a.patch, a.patch, a.patch))
    lossf = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=False)
        lossf(model(x), y).backward()
        opt.step()
    res = {"_peer": {"torch": torch.__version__, "threads": a.threads, "features": a.features,
                     "measure": "VmHWM - VmRSS around one step, MALLOC_MMAP_THRESHOLD_=131072"},
           f"unet3d_train_b1_{a.patch}": {"peak_mb": peak_mb(step)}}
    json.dump(res, sys.stdout, indent=1)
    print()


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
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--memory3d", action="store_true")
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    a = ap.parse_args()
    if a.memory or a.memory3d:
        if os.environ.get("MALLOC_MMAP_THRESHOLD_") != "131072":
            env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
            os.execve(sys.executable, [sys.executable] + sys.argv, env)
        return memory3d(a) if a.memory3d else memory(a)
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
    if want("unet2d_infer_b1_256_folded"):
        fused = fuse_bn(UNet().eval())
        x1 = torch.randn(1, 1, 256, 256)
        with torch.no_grad():
            ms, _ = timeit(lambda: fused(x1), a.repeat)
        res["unet2d_infer_b1_256_folded"] = {"ms": ms, "cpu_ms": CPU_MS["last"]}
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
