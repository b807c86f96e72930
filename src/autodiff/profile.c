/* Op profile: wall time per op name and output rank, charged by the tape (see autodiff.h). */
#include "autodiff/profile_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Workloads have a few dozen distinct ops; a full table stops counting new ones rather
 * than allocating in the middle of a step. */
#define PROFILE_MAX_OPS 128

struct hg_profile {
    hg_op_time ops[PROFILE_MAX_OPS];
    int32_t count;
    double last, last_cpu; /* end of the previous forward event */
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

hg_profile *hg_profile_new(void)
{
    hg_profile *p = calloc(1, sizeof *p);
    if (p)
        hg_profile_mark(p);
    return p;
}

void hg_profile_free(hg_profile *p) { free(p); }

void hg_ctx_set_profile(hg_ctx *ctx, hg_profile *p)
{
    ctx->profile = p;
    if (p)
        hg_profile_mark(p);
}

void hg_profile_mark(hg_profile *p)
{
    p->last = now_s();
    p->last_cpu = cpu_s();
}

int32_t hg_profile_count(const hg_profile *p) { return p ? p->count : 0; }

const hg_op_time *hg_profile_entry(const hg_profile *p, int32_t i)
{
    return p && i >= 0 && i < p->count ? &p->ops[i] : NULL;
}

/* Op names are static strings, but equal names from different files need not share an
 * address: compare the text. */
static hg_op_time *entry_for(hg_profile *p, const char *op, int32_t out_ndim)
{
    for (int32_t i = 0; i < p->count; i++)
        if (p->ops[i].out_ndim == out_ndim && strcmp(p->ops[i].op, op) == 0)
            return &p->ops[i];
    if (p->count == PROFILE_MAX_OPS)
        return NULL;
    hg_op_time *e = &p->ops[p->count++];
    e->op = op;
    e->out_ndim = out_ndim;
    return e;
}

void hg__profile_forward(hg_profile *p, const char *op, const hg_tensor *out)
{
    double t = now_s(), c = cpu_s();
    hg_op_time *e = entry_for(p, op, out ? out->ndim : 0);
    if (e) {
        e->calls++;
        e->forward_s += t - p->last;
        e->forward_cpu_s += c - p->last_cpu;
    }
    p->last = t;
    p->last_cpu = c;
}

void hg__profile_backward_begin(hg_profile *p)
{
    p->last = now_s();
    p->last_cpu = cpu_s();
}

void hg__profile_backward(hg_profile *p, const hg_node *n)
{
    double t = now_s(), c = cpu_s();
    hg_op_time *e = entry_for(p, n->op, n->out ? n->out->ndim : 0);
    if (e) {
        e->backward_s += t - p->last;
        e->backward_cpu_s += c - p->last_cpu;
    }
    /* The next forward (a new step) starts after the backward, not at the last record. */
    p->last = t;
    p->last_cpu = c;
}
