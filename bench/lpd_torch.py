#!/usr/bin/python3
"""Learned primal-dual in PyTorch 1.13, the peer of `hinge bench --only lpd_train_b5_128,...`.

The same network as src/nn/lpd.c (Adler & Oktem 2018: 10 iterations, 5 primal / 5 dual
channels, blocks conv3x3(c->32)-PReLU-conv3x3(32->32)-PReLU-conv3x3(32->5), residual updates,
no weight sharing) on the same problem (128x128 image, parallel beam, 30 angles over [0, pi),
183 detectors). The ray transform is hinge's own Joseph projector, read through ctypes from
build/libhinge.so one row at a time (adjoint of unit sinograms) into a torch sparse matrix
K = A / ||A||, so both sides run the same operator. Timed: an Adam step on the squared error
at batch 5 (lpd_train_b5_128) and inference of one sinogram (lpd_infer_b1_128), median of
--repeat runs after a warm-up. Prints one JSON object like bench/peer_torch.py.
--operator none replaces the ray transform by free padding of the same shapes: the network
alone, a lower bound for any operator PyTorch could use.
Usage: bench/lpd_torch.py [--threads 2] [--repeat 5] [--only a,b] [--operator sparse|none]
       [--lib build/libhinge.so]
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn

SIZE, ANGLES, DET, ITERS, WIDTH, NP, ND = 128, 30, 183, 10, 32, 5, 5


class Geometry(ctypes.Structure):  # hg_ct_geometry (include/hinge/ct.h)
    _fields_ = [("kind", ctypes.c_int), ("nx", ctypes.c_int32), ("ny", ctypes.c_int32),
                ("nz", ctypes.c_int32), ("dx", ctypes.c_float), ("dy", ctypes.c_float),
                ("dz", ctypes.c_float), ("n_angles", ctypes.c_int32),
                ("angles", ctypes.POINTER(ctypes.c_float)), ("n_det", ctypes.c_int32),
                ("n_rows", ctypes.c_int32), ("du", ctypes.c_float), ("dv", ctypes.c_float),
                ("offset_u", ctypes.c_float), ("offset_v", ctypes.c_float),
                ("sod", ctypes.c_float), ("sdd", ctypes.c_float)]


def hinge_matrix(libpath):
    """hinge's Joseph projector as a scipy-free COO (rows, cols, vals), built row by row."""
    lib = ctypes.CDLL(libpath)
    angles = (ctypes.c_float * ANGLES)()
    lib.hg_ct_angles_uniform(angles, ANGLES, ctypes.c_double(0.0), ctypes.c_double(np.pi))
    g = Geometry(0, SIZE, SIZE, 1, 1.0, 1.0, 1.0, ANGLES, angles, DET, 1, 1.0, 1.0, 0, 0, 0, 0)
    lib.hg_ct_projector.restype = ctypes.c_void_p
    op = lib.hg_ct_projector(ctypes.byref(g))
    assert op, "hg_ct_projector failed"
    fp = ctypes.POINTER(ctypes.c_float)
    e = np.zeros(ANGLES * DET, np.float32)
    row = np.zeros(SIZE * SIZE, np.float32)
    rows, cols, vals = [], [], []
    for i in range(ANGLES * DET):
        e[:] = 0
        e[i] = 1
        assert lib.hg_linop_adjoint(ctypes.c_void_p(op), e.ctypes.data_as(fp),
                                    row.ctypes.data_as(fp)) == 0
        nz = np.nonzero(row)[0]
        rows.append(np.full(nz.size, i, np.int64))
        cols.append(nz)
        vals.append(row[nz].copy())
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


class Op(torch.autograd.Function):
    """y = K x (x [N, ...] flattened) with the exact adjoint in backward, both sparse CSR."""
    @staticmethod
    def forward(ctx, x, k, kt):
        ctx.kt, ctx.shape = kt, x.shape
        return torch.sparse.mm(k, x.reshape(x.shape[0], -1).t()).t()

    @staticmethod
    def backward(ctx, gy):
        gx = torch.sparse.mm(ctx.kt, gy.t().contiguous()).t()
        return gx.reshape(ctx.shape), None, None


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, WIDTH, 3, padding=1), nn.PReLU(WIDTH),
                         nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.PReLU(WIDTH),
                         nn.Conv2d(WIDTH, cout, 3, padding=1))


def no_op_fwd(f):
    """--operator none: a free stand-in of the operator's shapes (timing the network alone)."""
    return nn.functional.pad(f[:, :, :ANGLES, :], (0, DET - SIZE))


def no_op_adj(h):
    return nn.functional.pad(h[:, :, :, :SIZE], (0, 0, 0, SIZE - ANGLES))


class LPD(nn.Module):
    def __init__(self, k, kt):
        super().__init__()
        self.k, self.kt = k, kt  # None: --operator none
        self.dual = nn.ModuleList([block(ND + 2, ND) for _ in range(ITERS)])
        self.primal = nn.ModuleList([block(NP + 1, NP) for _ in range(ITERS)])

    def forward(self, g):
        n = g.shape[0]
        f = torch.zeros(n, NP, SIZE, SIZE)
        h = torch.zeros(n, ND, ANGLES, DET)
        for i in range(ITERS):
            if self.k is None:
                kf = no_op_fwd(f[:, 1:2])
            else:
                kf = Op.apply(f[:, 1:2], self.k, self.kt).reshape(n, 1, ANGLES, DET)
            h = h + self.dual[i](torch.cat([h, kf, g], 1))
            if self.k is None:
                kth = no_op_adj(h[:, 0:1])
            else:
                kth = Op.apply(h[:, 0:1], self.kt, self.k).reshape(n, 1, SIZE, SIZE)
            f = f + self.primal[i](torch.cat([f, kth], 1))
        return f[:, 0:1]


def timeit(fn, repeat):
    """{"ms": median wall ms, "cpu_ms": median process CPU ms (all threads)} after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return {"ms": statistics.median(wall), "cpu_ms": statistics.median(cpu)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--operator", choices=("sparse", "none"), default="sparse",
                    help="none: replace the ray transform by free padding (network alone)")
    ap.add_argument("--lib", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                  "libhinge.so"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.operator == "none":
        return run(a, None, None, 0)
    r, c, v = hinge_matrix(a.lib)
    k = torch.sparse_coo_tensor(np.stack([r, c]), v, (ANGLES * DET, SIZE * SIZE)).coalesce()
    # ||K|| by power iteration, as hinge does (100 iterations)
    x = torch.randn(SIZE * SIZE, 1)
    for _ in range(100):
        x = torch.sparse.mm(k.t(), torch.sparse.mm(k, x))
        norm = x.norm()
        x = x / norm
    k = (k * (1.0 / float(norm.sqrt()))).coalesce()
    kt = k.t().coalesce().to_sparse_csr()
    return run(a, k.to_sparse_csr(), kt, int(v.size))


def run(a, k, kt, nnz):
    net = LPD(k, kt)
    op = "hinge Joseph projector as torch sparse CSR" if k is not None else "none (padding)"
    res = {"_peer": {"torch": torch.__version__, "threads": a.threads, "nnz": nnz,
                     "operator": op}}
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    y5, t5 = torch.randn(5, 1, ANGLES, DET), torch.randn(5, 1, SIZE, SIZE)

    def step():
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(y5), t5)
        loss.backward()
        opt.step()
    only = set(filter(None, a.only.split(",")))
    if not only or "lpd_train_b5_128" in only:
        res["lpd_train_b5_128"] = timeit(step, a.repeat)
    y1 = torch.randn(1, 1, ANGLES, DET)
    if not only or "lpd_infer_b1_128" in only:
        with torch.no_grad():
            res["lpd_infer_b1_128"] = timeit(lambda: net(y1), a.repeat)
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
