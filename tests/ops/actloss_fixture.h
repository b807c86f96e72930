/* Shared by the actloss op tests: runs one op on the inputs of a PyTorch fixture case and
 * compares its output and its input gradients (for the case's seeded output gradient) with
 * the fixture. See tools/fixtures/make_actloss_fixtures.py for the naming. */
#ifndef HINGE_TEST_ACTLOSS_FIXTURE_H
#define HINGE_TEST_ACTLOSS_FIXTURE_H

#include "test_util.h"

#include <string.h>

#define FX_FILE "torch/actloss.safetensors"

typedef hg_tensor *(*fx_fn)(hg_ctx *ctx, hg_tensor **in);

typedef struct {
    const char *name;
    int n_in;
    fx_fn fn;
    unsigned grad_mask;    /* bit i: input i requires a gradient (compared with grad<i>) */
    unsigned complex_mask; /* bit i: input i is complex, stored as [..., 2] */
    double tol;            /* max |a - b| / max |b| for output and gradients */
} fx_case;

static double fx_worst_out, fx_worst_grad; /* reported by the tests' summaries */

/* A heap copy of fixture tensor `key`; complex (c64, last dim 2 dropped) when complex. */
static hg_tensor *fx_load(const hg_params *p, const char *key, bool complex)
{
    hg_tensor *f = hg_test_get(p, key);
    if (!complex)
        return hg_tensor_clone(NULL, f);
    REQUIRE(f->ndim >= 2 && f->shape[f->ndim - 1] == 2);
    hg_tensor *t = hg_tensor_new(NULL, HG_C64, f->ndim - 1, f->shape);
    REQUIRE(t);
    memcpy(t->data, f->data, (size_t)f->numel * sizeof(float));
    return t;
}

static void fx_compare(const char *what, const char *key, const float *got, int64_t nf,
                       const hg_tensor *ref, double tol, double *worst)
{
    CHECK_MSG(nf == ref->numel, "%s: %s has %lld floats, fixture %lld", key, what, (long long)nf,
              (long long)ref->numel);
    if (nf != ref->numel)
        return;
    double err = got ? hg_test_rel_err(got, ref->data, nf) : INFINITY;
    if (err > *worst)
        *worst = err;
    CHECK_MSG(err <= tol, "%s: %s relative error %.3g > %.1g", key, what, err, tol);
}

static void fx_run(const hg_params *p, const fx_case *c)
{
    char key[128];
    hg_tensor *in[6] = {NULL};
    for (int i = 0; i < c->n_in; i++) {
        snprintf(key, sizeof key, "%s.in%d", c->name, i);
        in[i] = fx_load(p, key, (c->complex_mask >> i) & 1u);
        in[i]->requires_grad = (c->grad_mask >> i) & 1u;
    }
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *out = c->fn(ctx, in);
    CHECK_MSG(out != NULL, "%s: op failed: %s", c->name, hg_error_message());
    if (out) {
        snprintf(key, sizeof key, "%s.out", c->name);
        fx_compare("output", key, out->data, hg_tensor_nfloats(out), hg_test_get(p, key), c->tol,
                   &fx_worst_out);
        snprintf(key, sizeof key, "%s.gout", c->name);
        const hg_tensor *gout = hg_test_get(p, key);
        if (c->grad_mask && gout->numel == hg_tensor_nfloats(out)) {
            CHECK_OK(hg_backward_seed(ctx, out, gout->data));
            for (int i = 0; i < c->n_in; i++) {
                if (!((c->grad_mask >> i) & 1u))
                    continue;
                snprintf(key, sizeof key, "%s.grad%d", c->name, i);
                fx_compare("gradient", key, in[i]->grad, hg_tensor_nfloats(in[i]),
                           hg_test_get(p, key), c->tol, &fx_worst_grad);
            }
        }
    }
    hg_ctx_free(ctx);
    for (int i = 0; i < c->n_in; i++)
        hg_tensor_free(in[i]);
}

#endif
