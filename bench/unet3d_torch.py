#!/usr/bin/python3
"""3-D U-Net benchmark, PyTorch side (Debian python3-torch 1.13): the workloads of
bench/unet3d_bench.c with the same model and settings.

Model: 4 levels, features F, 2F, 4F, 8F; (Conv3d 3x3x3 no bias - InstanceNorm3d(affine) -
LeakyReLU 0.01) x 2 per level; MaxPool3d(2) down; ConvTranspose3d(2, stride 2) up; concat skip;
1x1x1 head; 1 input channel, 2 classes (hinge's "unet" with norm instance, leaky_relu).
  train: one Adam step (cross-entropy) on 1 x 1 x P^3
  infer: sliding window over 1 x 1 x 181 x 217 x 181, window W^3, overlap 0.5, Gaussian
         weights sigma = W/8, windows placed as hg_sliding_window places them (evenly from
         the first to the last valid position, step <= floor(W (1 - overlap))), no_grad.
Prints one JSON object: workload -> {"ms": min over runs, "runs": n}.
Usage: bench/unet3d_torch.py [--threads 2] [--features 16] [--patch 96] [--window 96]
                             [--repeat 3] [--only train|infer] [--check PATH]
--check PATH (written by `unet3d_bench --check PATH`): loads hinge's weights into this model,
runs hinge's 1 x 1 x 32^3 input and prints the largest difference from hinge's output.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn

from peer_torch import UNet  # bench/, the script's folder


def block(cin, cout):
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
        nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True),
        nn.LeakyReLU(0.01, inplace=True))


class UNet3d(UNet):
    """bench/peer_torch.py's U-Net (its forward) with 3-D, instance-norm, LeakyReLU layers."""

    def __init__(self, f=16, cin=1, classes=2):
        nn.Module.__init__(self)  # UNet.__init__ would build the 2-D layers
        feats = [f, 2 * f, 4 * f, 8 * f]
        self.enc = nn.ModuleList()
        c = cin
        for ch in feats:
            self.enc.append(block(c, ch))
            c = ch
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for l in range(len(feats) - 2, -1, -1):
            self.up.append(nn.ConvTranspose3d(feats[l + 1], feats[l], 2, stride=2))
            self.dec.append(block(2 * feats[l], feats[l]))
        self.head = nn.Conv3d(f, classes, 1)
        self.pool = nn.MaxPool3d(2)


def positions(size, win, overlap):
    """hg_sliding_window's window starts along one axis."""
    if size <= win:
        return [0]
    step = max(1.0, math.floor(win * (1.0 - overlap)))
    n = math.ceil((size - win) / step) + 1
    return [math.floor(i * (size - win) / (n - 1) + 0.5) for i in range(n)]  # C's llround


def gaussian(win):
    sigma, c = win / 8.0, 0.5 * (win - 1)
    g = torch.exp(-0.5 * ((torch.arange(win, dtype=torch.float64) - c) / sigma) ** 2)
    return (g[:, None, None] * g[None, :, None] * g[None, None, :]).float()


@torch.no_grad()
def sliding_window(model, x, win, overlap=0.5):
    _, _, D, H, W = x.shape
    g = gaussian(win)
    out, wsum = None, torch.zeros(D, H, W)
    for z in positions(D, win, overlap):
        for y in positions(H, win, overlap):
            for xx in positions(W, win, overlap):
                o = model(x[:, :, z:z + win, y:y + win, xx:xx + win])
                if out is None:
                    out = torch.zeros(1, o.shape[1], D, H, W)
                out[:, :, z:z + win, y:y + win, xx:xx + win] += o * g
                wsum[z:z + win, y:y + win, xx:xx + win] += g
    return out / wsum


def read_safetensors(path):
    import struct
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k != "__metadata__":
            a, b = v["data_offsets"]
            out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy()
                                      .reshape(v["shape"]))
    return out


def hinge_names(levels=4):
    """torch parameter name -> hinge's name (src/nn/unet.c)."""
    names = {}
    for i, blk in [(f"enc.{l}", f"enc{l}") for l in range(levels)] + \
            [(f"dec.{j}", f"dec{levels - 2 - j}") for j in range(levels - 1)]:
        for t, h in (("0", "conv0"), ("1", "norm0"), ("3", "conv1"), ("4", "norm1")):
            names[f"{i}.{t}.weight"] = f"{blk}.{h}.weight"
            if h.startswith("norm"):
                names[f"{i}.{t}.bias"] = f"{blk}.{h}.bias"
    for j in range(levels - 1):
        for w in ("weight", "bias"):
            names[f"up.{j}.{w}"] = f"up{levels - 2 - j}.{w}"
    names["head.weight"], names["head.bias"] = "head.weight", "head.bias"
    return names


def check(path, features):
    w, io = read_safetensors(path), read_safetensors(path + ".io.safetensors")
    model = UNet3d(features).eval()
    sd = {k: w[h] for k, h in hinge_names().items()}
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        y = model(io["x"])
    err = float((y - io["y"]).abs().max() / io["y"].abs().max())
    print(json.dumps({"check": path, "max_abs_diff_rel": err}))
    return err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--window", type=int, default=96)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--check", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.check:
        raise SystemExit(0 if check(a.check, a.features) < 1e-4 else 1)
    torch.manual_seed(0)
    res = {"_peer": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                     "features": a.features, "patch": a.patch, "window": a.window,
                     "overlap": 0.5,
                     "parameters": sum(p.numel() for p in UNet3d(a.features).parameters())}}
    if a.only != "infer":
        model = UNet3d(a.features)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.randn(1, 1, a.patch, a.patch, a.patch)
        y = torch.randint(0, 2, (1, a.patch, a.patch, a.patch))
        loss_fn = nn.CrossEntropyLoss()
        best = cpu = float("inf")
        for k in range(a.repeat + 1):  # the first step warms up
            t, c = time.perf_counter(), time.process_time()
            opt.zero_grad(set_to_none=False)
            loss_fn(model(x), y).backward()
            opt.step()
            t, c = 1e3 * (time.perf_counter() - t), 1e3 * (time.process_time() - c)
            if k:
                best, cpu = min(best, t), min(cpu, c)
        res[f"unet3d_train_b1_{a.patch}"] = {"ms": round(best, 1), "cpu_ms": round(cpu, 1),
                                              "runs": a.repeat}
        print(json.dumps(res), flush=True, file=__import__("sys").stderr)
    if a.only != "train":
        model = UNet3d(a.features).eval()
        x = torch.randn(1, 1, 181, 217, 181)
        best = cpu = float("inf")
        for _ in range(a.repeat):
            t, c = time.perf_counter(), time.process_time()
            out = sliding_window(model, x, a.window)
            best = min(best, 1e3 * (time.perf_counter() - t))
            cpu = min(cpu, 1e3 * (time.process_time() - c))
        res[f"unet3d_infer_181x217x181_w{a.window}"] = {
            "ms": round(best, 1), "cpu_ms": round(cpu, 1), "runs": a.repeat,
            "mean_logit": float(out.mean())}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
