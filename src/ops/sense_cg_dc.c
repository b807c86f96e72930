/* sense_cg_dc: MoDL's data-consistency step x = (A^H A + lambda I)^{-1} (rhs + lambda z) by
 * conjugate gradients, per sample, with A = M F S the sample's SENSE operator (its maps and
 * mask are constants of the op). The system matrix is self-adjoint, so the vector-Jacobian
 * product is another solve of the same system with the incoming gradient:
 *   v = (A^H A + lambda)^{-1} g,  d rhs = v,  d z = lambda v,  d lambda = Re<v, z - x>
 * (d lambda from differentiating (A^H A + lambda) x = rhs + lambda z). This is exact for the
 * solved system; with a fixed iteration count that has not converged it is the gradient of
 * the converged map, as in the MoDL paper. */
#include "ops/mri_ops_internal.h"

#include "hinge/solvers.h"

typedef struct {
    const hg_linop *fft; /* centred FFT over [C, *S] */
    const float *sens;   /* [C, *S] complex: the current sample's maps */
    const float *mask;   /* [*S] real */
    float *work;         /* [C, *S] complex */
    int64_t c, s;
} normal_data;

/* out = sum_c conj(s_c) F^H M^2 F (s_c x) for the sample in d. */
static hg_status normal_apply(const hg_linop *op, const float *x, float *out)
{
    const normal_data *d = op->data;
    int64_t c = d->c, s = d->s;
    float *w = d->work;
    for (int64_t j = 0; j < c; j++) {
        const float *sj = d->sens + 2 * j * s;
        float *wj = w + 2 * j * s;
        for (int64_t i = 0; i < s; i++) {
            float sr = sj[2 * i], si = sj[2 * i + 1], xr = x[2 * i], xi = x[2 * i + 1];
            wj[2 * i] = sr * xr - si * xi;
            wj[2 * i + 1] = sr * xi + si * xr;
        }
    }
    /* F is applied in place: the FFT operator copies through its own plans' buffers. */
    hg_status st = hg_linop_forward(d->fft, w, w);
    if (st != HG_OK)
        return st;
    for (int64_t j = 0; j < c; j++)
        for (int64_t i = 0; i < s; i++) {
            float m2 = d->mask[i] * d->mask[i];
            w[2 * (j * s + i)] *= m2;
            w[2 * (j * s + i) + 1] *= m2;
        }
    st = hg_linop_adjoint(d->fft, w, w);
    if (st != HG_OK)
        return st;
    for (int64_t i = 0; i < s; i++) {
        float re = 0, im = 0;
        for (int64_t j = 0; j < c; j++) {
            int64_t at = 2 * (j * s + i);
            float sr = d->sens[at], si = d->sens[at + 1], wr = w[at], wi = w[at + 1];
            re += sr * wr + si * wi;
            im += sr * wi - si * wr;
        }
        out[2 * i] = re;
        out[2 * i + 1] = im;
    }
    return HG_OK;
}

typedef struct {
    int64_t n, c, s, iters;
    const hg_tensor *sens, *mask;
    const hg_linop *fft;
} dc_state;

/* The normal operator of sample b as a square operator on [*S] (stack-allocated: no heap). */
static void normal_op(const dc_state *v, int64_t b, normal_data *d, hg_linop *op)
{
    memset(op, 0, sizeof *op);
    snprintf(op->name, sizeof op->name, "sense_normal");
    op->in_dtype = op->out_dtype = HG_C64;
    op->in_ndim = op->out_ndim = 1;
    op->in_shape[0] = op->out_shape[0] = v->s;
    op->forward = op->adjoint = normal_apply;
    d->sens = v->sens->data + 2 * b * v->c * v->s;
    d->mask = v->mask->data + b * v->s;
    op->data = d;
}

/* x_b = (A_b^H A_b + lambda)^{-1} b_b for every sample, x holding the start on entry. CG
 * stops early at a relative residual of 1e-6 (float32 cannot go much further, and running on
 * past convergence breaks down when the search direction vanishes). */
static hg_status solve_all(hg_ctx *ctx, const dc_state *v, float lambda, const float *rhs,
                           float *x)
{
    normal_data d = {.fft = v->fft, .c = v->c, .s = v->s};
    d.work = hg_ctx_alloc(ctx, (size_t)(2 * v->c * v->s) * sizeof(float));
    if (!d.work)
        return hg_error_status();
    hg_solver_opts so = {.max_iter = (int32_t)v->iters, .tol = 1e-6};
    for (int64_t b = 0; b < v->n; b++) {
        hg_linop op;
        normal_op(v, b, &d, &op);
        hg_status s = hg_cg(&op, rhs + 2 * b * v->s, x + 2 * b * v->s, lambda, &so, NULL);
        if (s != HG_OK)
            return hg_error_context(s, "sense_cg_dc: sample %lld", (long long)b);
    }
    return HG_OK;
}

static hg_status cgdc_backward(hg_ctx *ctx, hg_node *n)
{
    const dc_state *v = n->state;
    float lambda = n->in[2]->data[0];
    int64_t nf = 2 * v->n * v->s;
    float *vv = hg_ctx_calloc(ctx, (size_t)nf * sizeof(float));
    if (!vv)
        return hg_error_status();
    hg_status s = solve_all(ctx, v, lambda, n->out->grad, vv);
    if (s != HG_OK)
        return s;
    if (hg_needs_grad(n, 0)) {
        float *g = hg_grad(ctx, n->in[0]);
        if (!g)
            return hg_error_status();
        hg_accumulate(g, vv, nf);
    }
    if (hg_needs_grad(n, 1)) {
        float *g = hg_grad(ctx, n->in[1]);
        if (!g)
            return hg_error_status();
        for (int64_t i = 0; i < nf; i++)
            g[i] += lambda * vv[i];
    }
    if (hg_needs_grad(n, 2)) {
        float *g = hg_grad(ctx, n->in[2]);
        if (!g)
            return hg_error_status();
        double acc = 0;
        const float *z = n->in[1]->data, *x = n->out->data;
        for (int64_t i = 0; i < nf; i++)
            acc += (double)vv[i] * ((double)z[i] - x[i]);
        g[0] += (float)acc;
    }
    return HG_OK;
}

hg_tensor *hg_sense_cg_dc(hg_ctx *ctx, hg_tensor *rhs, hg_tensor *z, hg_tensor *lambda,
                          const hg_tensor *sens, const hg_tensor *mask, const hg_linop *coil_fft,
                          int iters)
{
    const char *op = "sense_cg_dc";
    HG_PROPAGATE_NULL(rhs, z, lambda, sens, mask);
    if (!hg__mri_check(op, sens, HG_C64, -1, -1, NULL) ||
        !hg__mri_check(op, rhs, HG_C64, sens->shape[0], 1, sens) ||
        !hg__mri_check(op, z, HG_C64, sens->shape[0], 1, sens) ||
        !hg__mri_check(op, mask, HG_F32, sens->shape[0], 1, sens))
        return NULL;
    if (lambda->dtype != HG_F32 || lambda->numel != 1 || !(lambda->data[0] > 0)) {
        hg_error(HG_ERR_INVALID, "%s: %s must be a positive real scalar [1]", op,
                 hg_tensor_label(lambda));
        return NULL;
    }
    dc_state v = {sens->shape[0], sens->shape[1], hg__mri_spatial(sens), iters, sens, mask,
                  coil_fft};
    if (!coil_fft || hg_linop_in_floats(coil_fft) != 2 * v.c * v.s || iters < 1) {
        hg_error(HG_ERR_INVALID, "%s: expected a coil FFT over %lld x %lld complex values and "
                 "iters >= 1 (got %d)", op, (long long)v.c, (long long)v.s, iters);
        return NULL;
    }
    /* rhs + lambda z, and z as the starting point. */
    float lam = lambda->data[0];
    int64_t nf = 2 * v.n * v.s;
    hg_tensor *out = hg_tensor_clone(ctx, z);
    float *b = out ? hg_ctx_alloc(ctx, (size_t)nf * sizeof(float)) : NULL;
    if (!b)
        return NULL;
    for (int64_t i = 0; i < nf; i++)
        b[i] = rhs->data[i] + lam * z->data[i];
    if (solve_all(ctx, &v, lam, b, out->data) != HG_OK)
        return NULL;
    out->node = NULL, out->requires_grad = false, out->grad = NULL;
    hg_tensor *in[3] = {rhs, z, lambda};
    hg_node *node;
    if (hg__record(ctx, op, cgdc_backward, out, 3, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(dc_state *)node->state = v;
    return out;
}
