/* Linear-operator core, on an explicit random matrix whose adjoint is its transpose. */
#include "test_util.h"

typedef struct {
    int m, n;
    float *a;
} dense;

static hg_status dense_fwd(const hg_linop *op, const float *x, float *y)
{
    const dense *d = op->data;
    for (int i = 0; i < d->m; i++) {
        double s = 0;
        for (int j = 0; j < d->n; j++)
            s += d->a[i * d->n + j] * x[j];
        y[i] = (float)s;
    }
    return HG_OK;
}

static hg_status dense_adj(const hg_linop *op, const float *y, float *x)
{
    const dense *d = op->data;
    for (int j = 0; j < d->n; j++) {
        double s = 0;
        for (int i = 0; i < d->m; i++)
            s += d->a[i * d->n + j] * y[i];
        x[j] = (float)s;
    }
    return HG_OK;
}

static hg_linop *dense_new(dense *d, int m, int n, uint64_t seed)
{
    d->m = m, d->n = n;
    d->a = malloc(sizeof(float) * m * n);
    hg_rng r = hg_rng_new(seed);
    hg_rng_fill_normal(&r, d->a, m * n, 0, 1);
    hg_linop *op = hg_linop_new("dense", HG_F32, 1, (int64_t[]){n}, HG_F32, 1, (int64_t[]){m});
    op->forward = dense_fwd;
    op->adjoint = dense_adj;
    op->data = d;
    return op;
}

static const hg_linop *g_op;
static hg_tensor *apply_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    return hg_linop_apply(ctx, g_op, in[0], *(bool *)user);
}

int main(void)
{
    dense da, db;
    hg_linop *a = dense_new(&da, 7, 5, 1), *b = dense_new(&db, 5, 9, 2);
    double err;
    CHECK_OK(hg_linop_adjoint_error(a, 3, &err));
    CHECK(err < 1e-6);
    hg_linop *ab = hg_linop_compose(a, b);
    REQUIRE(ab);
    CHECK(ab->in_shape[0] == 9 && ab->out_shape[0] == 7);
    CHECK_OK(hg_linop_adjoint_error(ab, 4, &err));
    CHECK(err < 1e-6);
    CHECK_NULL_WITH(hg_linop_compose(b, a), "compose");
    hg_linop *s = hg_linop_scale(ab, -2.5f);
    CHECK_OK(hg_linop_adjoint_error(s, 5, &err));
    CHECK(err < 1e-6);

    /* Power iteration against the exact norm of a diagonal operator diag(1..5). */
    dense dd = {5, 5, calloc(25, sizeof(float))};
    for (int i = 0; i < 5; i++)
        dd.a[i * 5 + i] = (float)(i + 1);
    hg_linop *diag = hg_linop_new("diag", HG_F32, 1, (int64_t[]){5}, HG_F32, 1, (int64_t[]){5});
    diag->forward = dense_fwd, diag->adjoint = dense_adj, diag->data = &dd;
    double norm;
    CHECK_OK(hg_linop_norm(diag, 200, 1, &norm));
    CHECK_NEAR(norm, 5.0, 1e-3);

    /* As a differentiable op over a batch [2, 3, n]; gradient = adjoint. */
    for (int adj = 0; adj < 2; adj++) {
        g_op = ab;
        hg_tensor *x = adj ? hg_new(NULL, 2, 3, 7) : hg_new(NULL, 2, 3, 9);
        hg_test_fill(x, 8, -1, 1);
        x->requires_grad = true;
        bool flag = adj;
        CHECK_OK(hg_gradcheck(apply_fn, &x, 1, &flag, NULL, NULL));
        hg_tensor_free(x);
    }
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *wrong = hg_new(ctx, 2, 8);
    wrong->name = "sinogram";
    CHECK_NULL_WITH(hg_linop_apply(ctx, ab, wrong, false),
                    "sinogram: expected real shape [..., 9], got real [2, 8]");
    hg_ctx_free(ctx);
    hg_linop_free(s);
    hg_linop_free(ab);
    hg_linop_free(a);
    hg_linop_free(b);
    hg_linop_free(diag);
    free(da.a), free(db.a), free(dd.a);
    return hg_test_finish("test_linop");
}
