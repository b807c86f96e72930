/* The learned-MRI ops: coil expand/reduce (adjoint pair, gradients to image and maps), the
 * soft k-space data consistency, and the CG data consistency whose backward is another CG
 * solve: its forward solves the system of the independent SENSE operator (hg_linop_sense),
 * its gradients match central differences, shape errors name the tensors. */
#include "hinge/mri_learned.h"
#include "test_util.h"

#include <string.h>

enum { NB = 2, NC = 3, NS = 8 };

static hg_tensor *cplx(int64_t n, int64_t c, uint64_t seed)
{
    hg_tensor *t = hg_tensor_new(NULL, HG_C64, 4, (const int64_t[]){n, c, NS, NS});
    hg_test_fill(t, seed, -1, 1);
    t->requires_grad = true;
    return t;
}

/* A line mask per sample [NB, 1, NS, NS]: every other column plus the centre. */
static hg_tensor *line_mask(void)
{
    hg_tensor *m = hg_new(NULL, NB, 1, NS, NS);
    for (int b = 0; b < NB; b++)
        for (int i = 0; i < NS; i++)
            for (int j = 0; j < NS; j++)
                m->data[(b * NS + i) * NS + j] = (j + b) % 2 == 0 || j == NS / 2;
    return m;
}

static hg_tensor *expand_fn(hg_ctx *ctx, hg_tensor **in, void *u)
{
    (void)u;
    return hg_coil_expand(ctx, in[0], in[1]);
}

static hg_tensor *reduce_fn(hg_ctx *ctx, hg_tensor **in, void *u)
{
    (void)u;
    return hg_coil_reduce(ctx, in[0], in[1]);
}

static void test_coil_ops(void)
{
    hg_tensor *x = cplx(NB, 1, 1), *s = cplx(NB, NC, 2), *k = cplx(NB, NC, 3);
    hg_gradcheck_opts go = {.eps = 1e-2, .rtol = 1e-3, .atol = 1e-4, .seed = 4};
    hg_gradcheck_result r;
    hg_tensor *ein[2] = {x, s}, *rin[2] = {k, s};
    CHECK_OK(hg_gradcheck(expand_fn, ein, 2, NULL, &go, &r));
    CHECK_OK(hg_gradcheck(reduce_fn, rin, 2, NULL, &go, &r));
    /* Adjoint pair: Re<E x, k> = Re<x, R k>. */
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *ex = hg_coil_expand(ctx, x, s), *rk = hg_coil_reduce(ctx, k, s);
    REQUIRE(ex && rk);
    double a = 0, b = 0, na = 0;
    for (int64_t i = 0; i < 2 * ex->numel; i++)
        a += (double)ex->data[i] * k->data[i], na += fabs(ex->data[i] * k->data[i]);
    for (int64_t i = 0; i < 2 * rk->numel; i++)
        b += (double)x->data[i] * rk->data[i];
    printf("coil expand/reduce adjoint: |<Ex,k> - <x,Rk>| / sum|.| = %.2e\n", fabs(a - b) / na);
    CHECK(fabs(a - b) <= 1e-6 * na);
    /* Wrong coil count / real maps are refused, naming the tensor. */
    hg_tensor *k2 = cplx(NB, NC + 1, 5);
    hg_tensor_set_name(k2, "kspace");
    CHECK_NULL_WITH(hg_coil_reduce(ctx, k2, s), "kspace");
    hg_tensor *real = hg_new(NULL, NB, NC, NS, NS);
    hg_tensor_set_name(real, "maps");
    CHECK_NULL_WITH(hg_coil_expand(ctx, x, real), "maps must be complex");
    hg_ctx_free(ctx);
    hg_tensor_free(real);
    hg_tensor_free(k2);
    hg_tensor_free(x), hg_tensor_free(s), hg_tensor_free(k);
}

static hg_tensor *dc_mask;

static hg_tensor *soft_dc_fn(hg_ctx *ctx, hg_tensor **in, void *u)
{
    (void)u;
    return hg_kspace_soft_dc(ctx, in[0], in[1], dc_mask, in[2]);
}

static void test_soft_dc(void)
{
    dc_mask = line_mask();
    hg_tensor *k = cplx(NB, NC, 6), *y = cplx(NB, NC, 7), *eta = hg_new(NULL, 1);
    eta->data[0] = 0.7f, eta->requires_grad = true;
    hg_tensor *in[3] = {k, y, eta};
    hg_gradcheck_opts go = {.eps = 1e-2, .rtol = 1e-3, .atol = 1e-4, .seed = 8};
    hg_gradcheck_result r;
    CHECK_OK(hg_gradcheck(soft_dc_fn, in, 3, NULL, &go, &r));
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *bad = hg_new(NULL, NB, 2, NS, NS);
    hg_tensor_set_name(bad, "mask");
    CHECK_NULL_WITH(hg_kspace_soft_dc(ctx, k, y, bad, eta), "mask");
    hg_ctx_free(ctx);
    hg_tensor_free(bad);
    hg_tensor_free(k), hg_tensor_free(y), hg_tensor_free(eta), hg_tensor_free(dc_mask);
}

typedef struct {
    hg_tensor *sens, *mask;
    hg_linop *fft;
    int iters;
} cg_user;

static hg_tensor *cg_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    cg_user *u = user;
    return hg_sense_cg_dc(ctx, in[0], in[1], in[2], u->sens, u->mask, u->fft, u->iters);
}

static void test_cg_dc(void)
{
    cg_user u = {cplx(NB, NC, 9), line_mask(), NULL, 200};
    u.sens->requires_grad = false;
    u.fft = hg_linop_fft(3, (const int64_t[]){NC, NS, NS}, 2);
    REQUIRE(u.fft);
    hg_tensor *rhs = cplx(NB, 1, 10), *z = cplx(NB, 1, 11), *lam = hg_new(NULL, 1);
    lam->data[0] = 0.3f, lam->requires_grad = true;
    /* Forward: the residual of the system built from the independent SENSE operator. */
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_sense_cg_dc(ctx, rhs, z, lam, u.sens, u.mask, u.fft, u.iters);
    REQUIRE(x);
    double worst = 0;
    for (int b = 0; b < NB; b++) {
        hg_tensor *sb = hg_tensor_new(NULL, HG_C64, 3, (const int64_t[]){NC, NS, NS});
        hg_tensor *mb = hg_new(NULL, NS, NS);
        memcpy(sb->data, u.sens->data + b * 2 * NC * NS * NS, sizeof(float) * 2 * NC * NS * NS);
        memcpy(mb->data, u.mask->data + b * NS * NS, sizeof(float) * NS * NS);
        hg_linop *a = hg_linop_sense(sb, mb);
        REQUIRE(a);
        float ax[2 * NS * NS];
        CHECK_OK(hg_linop_normal(a, x->data + b * 2 * NS * NS, ax));
        double num = 0, den = 0;
        for (int i = 0; i < 2 * NS * NS; i++) {
            int at = b * 2 * NS * NS + i;
            double want = rhs->data[at] + 0.3 * z->data[at];
            double got = ax[i] + 0.3 * x->data[at];
            num += (got - want) * (got - want), den += want * want;
        }
        worst = fmax(worst, sqrt(num / den));
        hg_linop_free(a);
        hg_tensor_free(sb), hg_tensor_free(mb);
    }
    printf("sense_cg_dc: relative residual against hg_linop_sense's normal operator %.2e\n",
           worst);
    CHECK(worst < 1e-5);
    hg_ctx_free(ctx);
    /* Gradients: backward is a second CG solve. */
    hg_tensor *in[3] = {rhs, z, lam};
    hg_gradcheck_opts go = {.eps = 1e-2, .rtol = 2e-3, .atol = 1e-3, .seed = 12};
    hg_gradcheck_result r;
    CHECK_OK(hg_gradcheck(cg_fn, in, 3, &u, &go, &r));
    printf("sense_cg_dc gradcheck (2 x 8x8, 3 coils): max abs err %.2e, max rel err %.2e\n",
           r.max_abs_err, r.max_rel_err);
    /* A non-positive lambda and a mismatched image are refused. */
    ctx = hg_ctx_new();
    lam->data[0] = 0;
    CHECK_NULL_WITH(hg_sense_cg_dc(ctx, rhs, z, lam, u.sens, u.mask, u.fft, 10), "positive");
    lam->data[0] = 0.3f;
    hg_tensor *z3 = cplx(NB + 1, 1, 13);
    hg_tensor_set_name(z3, "denoised");
    CHECK_NULL_WITH(hg_sense_cg_dc(ctx, rhs, z3, lam, u.sens, u.mask, u.fft, 10), "denoised");
    hg_ctx_free(ctx);
    hg_tensor_free(z3);
    hg_tensor_free(rhs), hg_tensor_free(z), hg_tensor_free(lam);
    hg_tensor_free(u.sens), hg_tensor_free(u.mask);
    hg_linop_free(u.fft);
}

int main(void)
{
    test_coil_ops();
    test_soft_dc();
    test_cg_dc();
    return hg_test_finish("test_mri_ops");
}
