/* Shared by the actloss op tests: a table-driven finite-difference check. Each row names an
 * op wrapper, its inputs' shapes and value ranges; inputs are filled from a fixed seed and
 * moved away from the op's kinks so central differences see one smooth piece. */
#ifndef HINGE_TEST_GRADCHECK_TABLE_H
#define HINGE_TEST_GRADCHECK_TABLE_H

#include "test_util.h"

typedef struct {
    int ndim;
    int64_t shape[HG_MAX_DIMS];
    float lo, hi;
    bool complex;
    bool grad;   /* requires_grad */
    float kink;  /* values within 0.05 of kink are pushed away from it ... */
    bool avoid;  /* ... when avoid is set */
} gc_input;

typedef struct {
    const char *name;
    hg_gradcheck_fn fn;
    int n_in;
    gc_input in[4];
    const void *user;
} gc_case;

static void gc_avoid_kink(hg_tensor *t, float kink)
{
    for (int64_t i = 0; i < hg_tensor_nfloats(t); i++) {
        float d = t->data[i] - kink;
        if (fabsf(d) < 0.05f)
            t->data[i] = kink + (d >= 0 ? 0.05f : -0.05f);
    }
}

static void gc_run(const gc_case *c, uint64_t seed)
{
    hg_tensor *in[4] = {NULL};
    for (int i = 0; i < c->n_in; i++) {
        const gc_input *s = &c->in[i];
        in[i] = hg_tensor_new(NULL, s->complex ? HG_C64 : HG_F32, s->ndim, s->shape);
        REQUIRE(in[i]);
        hg_test_fill(in[i], seed * 16 + (uint64_t)i, s->lo, s->hi);
        if (s->avoid)
            gc_avoid_kink(in[i], s->kink);
        in[i]->requires_grad = s->grad;
    }
    hg_gradcheck_result r;
    hg_status st = hg_gradcheck(c->fn, in, c->n_in, (void *)c->user, NULL, &r);
    CHECK_MSG(st == HG_OK, "gradcheck %s: %s", c->name, hg_error_message());
    for (int i = 0; i < c->n_in; i++)
        hg_tensor_free(in[i]);
}

#define GC_IN(nd, lo_, hi_, ...) {.ndim = nd, .shape = {__VA_ARGS__}, .lo = lo_, .hi = hi_, .grad = true}

#endif
