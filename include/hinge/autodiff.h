/* Reverse-mode autodiff over the tape recorded in a context.
 *
 * An op computes its output, then calls hg_tape_record(); when the context records and some
 * input requires a gradient, a node (op name, inputs, output, backward function, saved state)
 * is appended to the tape. hg_backward() walks the tape in reverse: nodes are appended in
 * creation order, so reverse order is a topological order. A backward function reads
 * out->grad and accumulates (+=) into hg_grad(ctx, in[i]) for the inputs that require it.
 */
#ifndef HINGE_AUTODIFF_H
#define HINGE_AUTODIFF_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HG_MAX_INPUTS 6

typedef hg_status (*hg_backward_fn)(hg_ctx *ctx, hg_node *node);

struct hg_node {
    const char *op;            /* static op name, for profiles and errors */
    hg_backward_fn backward;
    hg_tensor *out;
    hg_tensor *in[HG_MAX_INPUTS];
    int32_t n_in;
    void *state;               /* op-specific saved data, arena-allocated */
};

/* Records `out = op(in...)` if the context records and any input requires a gradient; then
 * marks out->requires_grad. Returns the node (so the op can attach state), or NULL when
 * nothing is recorded (not an error). Inputs may be NULL (optional inputs such as a bias). */
hg_node *hg_tape_record(hg_ctx *ctx, const char *op, hg_backward_fn backward, hg_tensor *out,
                        int n_in, hg_tensor *const *in);
/* Allocates op state in the node's context (zeroed); NULL on failure. */
void *hg_node_state(hg_ctx *ctx, hg_node *node, size_t bytes);

/* The gradient buffer of t, allocated zeroed on first use (arena for context tensors, heap
 * for heap tensors such as parameters). NULL with the error set on allocation failure. */
float *hg_grad(hg_ctx *ctx, hg_tensor *t);
/* Whether input i of a node needs its gradient. */
static inline bool hg_needs_grad(const hg_node *n, int i)
{
    return n->in[i] != NULL && n->in[i]->requires_grad;
}

/* Training-time liveness (off by default): during backward, the data and gradient of each
 * op output are handed back to the context right after the backward of the op that made it
 * (its last reader), so the gradients still to come reuse that memory and a training step
 * peaks near its forward activations instead of activations plus every gradient. Afterwards
 * intermediates hold data == NULL and grad == NULL: read what you need (the loss value)
 * before backward, and run one backward per tape. Leaves (parameters, inputs) keep theirs. */
void hg_tape_set_release(hg_ctx *ctx, bool on);

/* Backpropagates from a scalar (numel 1) loss: d loss/d loss = 1. */
hg_status hg_backward(hg_ctx *ctx, hg_tensor *loss);
/* Backpropagates a vector-Jacobian product: seeds out->grad with `seed` (nfloats values). */
hg_status hg_backward_seed(hg_ctx *ctx, hg_tensor *out, const float *seed);
int64_t hg_tape_length(const hg_ctx *ctx);
/* Called during backward when the gradient of a leaf (a tensor with requires_grad that no op
 * produced: a parameter, or an input being differentiated) is final, i.e. right after the
 * backward of the last tape node (in backward order) that accumulates into it, and before the
 * backward of any earlier node. Data-parallel training uses it to start reducing a gradient
 * bucket while backward goes on (src/dist/data_parallel.c). It is called once per leaf and
 * walk, also when no gradient reached the leaf (leaf->grad may then be NULL); a non-HG_OK
 * return stops the backward with that status. Leaves not on the tape are never reported. */
typedef hg_status (*hg_grad_ready_fn)(void *user, hg_tensor *leaf);
/* Installs (fn non-NULL) or removes (fn NULL) the hook of ctx; it survives hg_ctx_reset. A
 * backward without a hook does no extra work. */
void hg_tape_set_grad_ready_hook(hg_ctx *ctx, hg_grad_ready_fn fn, void *user);
hg_node *hg_tape_node(const hg_ctx *ctx, int64_t i);

/* ---- op profile ------------------------------------------------------------------------ */

/* Time by op, for `hinge bench --profile`. With a profile attached to a context, every
 * hg_tape_record call (ops call it after computing their output, also when nothing is
 * recorded) charges the wall time since the previous record, or since hg_profile_mark, to that
 * op's forward; every backward node's time goes to its op's backward (wall and process CPU time). Forward times therefore
 * include the glue code between ops (views, shape checks), which is part of the framework's
 * cost. Entries are keyed by op name and output rank (a 2-D conv's output has 4 dims, a 3-D
 * conv's 5), in first-seen order. The caller owns the profile. */
typedef struct hg_op_time {
    const char *op;    /* static op name */
    int32_t out_ndim;  /* rank of the op's output */
    int64_t calls;     /* forward calls */
    double forward_s;  /* wall time */
    double backward_s;
    double forward_cpu_s; /* process CPU time (all threads): steadier on a shared machine */
    double backward_cpu_s;
} hg_op_time;

typedef struct hg_profile hg_profile;
hg_profile *hg_profile_new(void);
void hg_profile_free(hg_profile *p);
/* Attaches p to ctx (NULL detaches); the previous-event time starts now. */
void hg_ctx_set_profile(hg_ctx *ctx, hg_profile *p);
/* Starts a new forward segment now: time before this call is charged to nobody. */
void hg_profile_mark(hg_profile *p);
int32_t hg_profile_count(const hg_profile *p);
const hg_op_time *hg_profile_entry(const hg_profile *p, int32_t i);

/* ---- gradient checking ----------------------------------------------------------------- */

/* Builds the output from the inputs inside ctx (must not free or reset ctx). */
typedef hg_tensor *(*hg_gradcheck_fn)(hg_ctx *ctx, hg_tensor **inputs, void *user);

typedef struct hg_gradcheck_opts {
    double eps;       /* finite-difference step (default 1e-2 relative to max(1,|x|)) */
    double rtol;      /* relative tolerance (default 2e-2) */
    double atol;      /* absolute tolerance, scaled by the gradient's max magnitude (1e-3) */
    uint64_t seed;    /* for the random projection of the output */
    int64_t max_checks; /* checked coordinates per input (default all up to 4096) */
} hg_gradcheck_opts;

typedef struct hg_gradcheck_result {
    double max_abs_err;
    double max_rel_err;
    int32_t worst_input;
    int64_t worst_index;
    double analytic;  /* at the worst coordinate */
    double numeric;
} hg_gradcheck_result;

/* Checks the analytic vector-Jacobian product of fn against central finite differences of
 * L = <r, fn(inputs)> (r random), summed in double precision, for every input with
 * requires_grad. Inputs are heap tensors owned by the caller. Returns HG_OK when every checked
 * coordinate is within atol + rtol*|numeric|, HG_ERR_NUMERIC (message names the op, input and
 * index) otherwise. */
hg_status hg_gradcheck(hg_gradcheck_fn fn, hg_tensor **inputs, int n_inputs, void *user,
                       const hg_gradcheck_opts *opts, hg_gradcheck_result *result);

#ifdef __cplusplus
}
#endif
#endif
