/* Private to the convolution ops: geometry, im2col/col2im and the three GEMM products.
 *
 * Both hg_conv and hg_conv_transpose are built on one convolution C that maps a "big" image
 * (channels cb, spatial size in) to a "small" one (channels cs, spatial size out) with weights
 * Wc [cs, cb/groups, *k]:
 *   conv:            y  = C(x)          dx += C^T(dy)        dW += dy  (x) im2col(x)
 *   conv_transpose:  y  = C^T(x)        dx += C(dy)          dW += x   (x) im2col(dy)
 * (PyTorch's ConvTranspose weight [Cin, Cout/groups, *k] is exactly Wc for the big = output
 * side.) So three kernels serve both ops and each op's backward is its partner's forward. */
#ifndef HINGE_OPS_CONV_INTERNAL_H
#define HINGE_OPS_CONV_INTERNAL_H

#include "ops/op_util.h"

/* Spatial geometry, always 3-D: a 1-D or 2-D problem has leading unit dimensions. */
typedef struct hg_conv_geom {
    int64_t in[3];  /* big spatial size (D, H, W) */
    int64_t out[3]; /* small spatial size */
    int64_t k[3], s[3], p[3], d[3];
    int64_t kvol, in_vol, out_vol;
    bool identity;  /* 1x1x1 kernel, stride 1, no padding: im2col is the image itself */
} hg_conv_geom;

typedef struct hg_conv_plan {
    hg_conv_geom g;
    int32_t nsp;    /* spatial dimensions of the tensors (1..3) */
    int64_t batch;
    int64_t groups;
    int64_t cb, cs; /* channels of the big and small sides */
    int64_t cbg, csg; /* per group */
    int64_t kg;     /* rows of the column matrix: cbg * kvol */
} hg_conv_plan;

/* Validates x, w, b and opts for `op` (hg_conv when !transposed, else hg_conv_transpose) and
 * fills the plan and the output shape (x->ndim entries). Errors name op, tensor, expected and
 * actual values. */
hg_status hg_conv_plan_init(const char *op, bool transposed, const hg_tensor *x,
                            const hg_tensor *w, const hg_tensor *b, const hg_conv_opts *opts,
                            hg_conv_plan *plan, int64_t *out_shape);

/* Column matrix rows [channels*kvol] x columns [j0, j1) of flat small-side positions. */
void hg_im2col(const hg_conv_geom *g, const float *img, int64_t channels, int64_t j0,
               int64_t j1, float *col);
/* Adjoint of hg_im2col for one channel: accumulates its kvol rows of columns (col, row
 * length j1 - j0) into that channel's image. */
void hg_col2im_channel(const hg_conv_geom *g, const float *col, int64_t j0, int64_t j1,
                       float *img);

/* small = beta * small + C(big). */
hg_status hg_conv_apply(hg_ctx *ctx, const hg_conv_plan *p, const float *big, const float *w,
                        float *small, float beta);
/* big += C^T(small). */
hg_status hg_conv_apply_adjoint(hg_ctx *ctx, const hg_conv_plan *p, const float *small,
                                const float *w, float *big);
/* dw += d<small, C_w(big)>/dw, i.e. small (x) im2col(big) per group. */
hg_status hg_conv_weight_grad(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                              const float *small, float *dw);

/* Scratch comes from the context and goes back to it at hg_conv_scratch_end; an op called
 * without a context (heap output) takes it from the heap instead (at most 4 buffers). */
typedef struct {
    hg_ctx *ctx;
    hg_ctx_mark mark;
    void *heap[4];
    int n;
} hg_conv_scratch;

hg_conv_scratch hg_conv_scratch_begin(hg_ctx *ctx);
void *hg_conv_scratch_alloc(hg_conv_scratch *s, size_t bytes, bool zero);
void hg_conv_scratch_end(hg_conv_scratch *s);

/* ---- direct kernels (conv_direct.c) ---------------------------------------------------
 * Stride-1, undilated, ungrouped 2-D (and 1-D) convolutions with few channels run as direct
 * AVX2/AVX-512 kernels chosen at run time (one binary runs on both; without either, or for
 * other geometries, the im2col + sgemm path above). hg_conv_apply (hence the flipped adjoint)
 * and hg_conv_weight_grad call them when hg_conv_direct_usable says so. */
typedef enum {
    HG_CONV_PATH_AUTO = 0, /* by geometry and channel counts (measured, see conv_direct.c) */
    HG_CONV_PATH_GEMM,     /* always im2col + sgemm */
    HG_CONV_PATH_DIRECT,   /* direct whenever the geometry and the CPU allow */
    HG_CONV_PATH_DNNL,     /* oneDNN for every pass it supports (conv_dnnl.c) */
    HG_CONV_PATH_NATIVE    /* as AUTO, but never oneDNN (benchmarks: hinge's own kernels) */
} hg_conv_path;
typedef enum { HG_CONV_ISA_AUTO = 0, HG_CONV_ISA_AVX2, HG_CONV_ISA_AVX512 } hg_conv_isa;
/* Overrides for tests and benchmarks (not thread-safe: set them between ops). */
extern hg_conv_path hg__conv_path;
extern hg_conv_isa hg__conv_isa;

/* `wgrad`: asks for the weight-gradient kernel (3x3 only) rather than the forward one. */
bool hg_conv_direct_usable(const hg_conv_plan *p, bool wgrad, float beta);
/* Name of the instruction set the direct kernels would use now ("avx512", "avx2", "none"). */
const char *hg_conv_direct_isa(void);
hg_status hg_conv_direct_apply(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                               const float *w, float *small, float beta);
hg_status hg_conv_direct_weight_grad(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                                     const float *small, float *dw);

/* ---- oneDNN (conv_dnnl.c) -------------------------------------------------------------
 * The three passes through oneDNN primitives, cached per geometry and thread count. In AUTO
 * mode hg_conv_dnnl_wanted (a static rule table from measurements) picks the passes that go
 * there; HG_CONV_PATH_DNNL sends every usable pass. */
typedef enum { HG_CONV_DNNL_FWD = 0, HG_CONV_DNNL_BWD_DATA, HG_CONV_DNNL_BWD_WEIGHTS } hg_conv_dnnl_pass;
/* Tensors in oneDNN's preferred (blocked) layouts with reorders, or hinge's plain layout. */
typedef enum { HG_CONV_DNNL_BLOCKED = 0, HG_CONV_DNNL_PLAIN } hg_conv_dnnl_layout;
/* Overrides for tests and benchmarks (not thread-safe: set them between ops). _fail makes
 * primitive creation fail inside oneDNN (error-path test). */
extern hg_conv_dnnl_layout hg__conv_dnnl_layout;
extern bool hg__conv_dnnl_fail;
extern bool hg__conv_dnnl_winograd; /* oneDNN's Winograd algorithm (benchmarks) */
/* Largest blocked copies of one oneDNN call before its batch runs in chunks of images
 * (conv_dnnl.c; 32 MiB; tests lower it to exercise the chunking). */
extern int64_t hg__conv_dnnl_chunk_bytes;

bool hg_conv_dnnl_available(void); /* built with oneDNN */
bool hg_conv_dnnl_usable(const hg_conv_plan *p);
bool hg_conv_dnnl_wanted(const hg_conv_plan *p, hg_conv_dnnl_pass pass);
hg_status hg_conv_dnnl_apply(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                             const float *w, float *small, float beta);
hg_status hg_conv_dnnl_apply_adjoint(hg_ctx *ctx, const hg_conv_plan *p, const float *small,
                                     const float *w, float *big);
hg_status hg_conv_dnnl_weight_grad(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                                   const float *small, float *dw);

/* out[n, c, :] = b[c] over `vol` positions (channels c). */
void hg_conv_fill_bias(float *out, const float *b, int64_t batch, int64_t channels,
                       int64_t vol);
/* db[c] += sum over n and positions of g[n, c, :]. */
void hg_conv_bias_grad(const float *g, float *db, int64_t batch, int64_t channels, int64_t vol);

#endif
