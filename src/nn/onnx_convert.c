/* ONNX weights -> a native hinge model of the same architecture (hg_onnx_convert).
 *
 * Exporters rename parameters ("onnx::Conv_123") and rewrite layers (PyTorch in eval mode
 * folds every BatchNorm into the conv before it), so names cannot be trusted. The mapping goes
 * by graph structure instead: the native parameters, in registration order, are grouped into
 * layers (conv, batch norm, affine norm, linear). Each conv, linear or affine norm pairs with
 * the first unpaired ONNX node holding weights (Conv/ConvTranspose, InstanceNormalization,
 * Gemm/MatMul), in the graph's topological order, that fits it by kind and shape: exporters
 * order a block's independent branches either way (a ResNet's projection shortcut may come
 * before conv2), so nodes that do not fit are passed over and paired later. Each batch norm
 * pairs with the BatchNormalization node reading its conv's output, or, when there is none,
 * takes the bias the exporter folded into that conv. Because the pairing alone cannot prove
 * the wiring (skip order, activations), the result is then verified by running both models on
 * the same random input: the conversion fails unless the outputs agree. A new architecture
 * needs no code here as long as each norm is registered right after its conv (true of unet
 * and resnet18). */
#include "hinge/nn.h"
#include "hinge/onnx.h"
#include "io/onnx/onnx_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NATIVE_EPS 1e-5f /* hg_norm_layer_init's epsilon */
#define MAX_REL_ERROR 1e-4

typedef enum { L_CONV, L_BATCH_NORM, L_AFFINE_NORM, L_LINEAR } layer_kind;

typedef struct native_layer {
    layer_kind kind;
    char prefix[200];
    hg_tensor *p[4]; /* conv/linear: weight, bias (or NULL); norms: weight, bias, mean, var */
} native_layer;

typedef struct onnx_layer {
    const ox_node *node;
    const ox_const *p[4]; /* as the operator's inputs 1..4; NULL when absent */
    float eps;
    bool trans_b; /* Gemm: weight stored [out, in] (else [in, out], also MatMul) */
    bool used;    /* paired with a native layer */
} onnx_layer;

static const char *native_names[] = {"conv", "batch norm", "instance/group norm", "linear"};

/* ---- layer lists ----------------------------------------------------------------------- */

static const char *suffix_of(const char *name, char *prefix, size_t size)
{
    const char *dot = strrchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : 0;
    snprintf(prefix, size, "%.*s", (int)n, name);
    return dot ? dot + 1 : name;
}

/* Groups the native parameters (registration order) into layers. */
static hg_status native_layers(const hg_model *m, native_layer *out, int max, int *count)
{
    int n = 0;
    const hg_params *ps = &m->params;
    for (int i = 0; i < ps->count;) {
        if (n == max)
            return hg_error(HG_ERR_UNSUPPORTED, "convert: more than %d native layers", max);
        native_layer *l = &out[n];
        memset(l, 0, sizeof *l);
        const char *suf = suffix_of(ps->items[i].name, l->prefix, sizeof l->prefix);
        int k = 0;
        for (; i + k < ps->count && k < 4; k++) {
            char pre[200];
            const char *s = suffix_of(ps->items[i + k].name, pre, sizeof pre);
            if (strcmp(pre, l->prefix) != 0)
                break;
            static const char *const order[4] = {"weight", "bias", "running_mean", "running_var"};
            if (strcmp(s, order[k]) != 0)
                return hg_error(HG_ERR_UNSUPPORTED, "convert: native parameter '%s' is not "
                                "a weight, bias or running statistic in that order",
                                ps->items[i + k].name);
            l->p[k] = ps->items[i + k].tensor;
        }
        if (k == 0 || strcmp(suf, "weight") != 0)
            return hg_error(HG_ERR_UNSUPPORTED, "convert: native parameter '%s' has no weight "
                            "before it", ps->items[i].name);
        int wd = l->p[0]->ndim;
        if (k == 4)
            l->kind = L_BATCH_NORM;
        else if (k == 2 && wd == 1)
            l->kind = L_AFFINE_NORM;
        else if (wd >= 3 && k <= 2)
            l->kind = L_CONV;
        else if (wd == 2 && k <= 2)
            l->kind = L_LINEAR;
        else
            return hg_error(HG_ERR_UNSUPPORTED, "convert: native layer '%s' (%d parameters, "
                            "weight %d-d) is of no kind an ONNX node can fill", l->prefix, k, wd);
        i += k;
        n++;
    }
    *count = n;
    return HG_OK;
}

/* Float constant input k of node n, or NULL (absent, computed at run time, or integer). */
static const ox_const *const_in(const hg_onnx_model *m, const ox_node *n, int k)
{
    if (k >= n->n_in || n->in[k] < 0 || !m->consts[n->in[k]].is_const ||
        m->consts[n->in[k]].c.is_int)
        return NULL;
    return &m->consts[n->in[k]].c;
}

/* The constant added to a MatMul's output (how a Linear's bias exports), or NULL. */
static const ox_const *matmul_bias(const hg_onnx_model *m, const ox_node *mm)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const ox_node *nd = &m->nodes[i];
        if (strcmp(nd->op, "Add") != 0 || nd->n_in != 2)
            continue;
        for (int k = 0; k < 2; k++)
            if (nd->in[k] == mm->out[0] && const_in(m, nd, 1 - k))
                return const_in(m, nd, 1 - k);
    }
    return NULL;
}

/* The ONNX nodes that hold weights, in topological order. */
static hg_status onnx_layers(const hg_onnx_model *m, onnx_layer *out, int max, int *count)
{
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const ox_node *nd = &m->nodes[i];
        const char *op = nd->op;
        int np = !strcmp(op, "Conv") || !strcmp(op, "ConvTranspose") ? 2
                 : !strcmp(op, "BatchNormalization")                  ? 4
                 : !strcmp(op, "InstanceNormalization")               ? 2
                 : !strcmp(op, "Gemm") || !strcmp(op, "MatMul")       ? 2
                                                                      : 0;
        if (!np || !const_in(m, nd, 1))
            continue; /* no weights (activations, pools, shape ops), or data x data */
        if (n == max)
            return hg_error(HG_ERR_UNSUPPORTED, "convert: more than %d ONNX layers", max);
        onnx_layer *l = &out[n++];
        memset(l, 0, sizeof *l);
        l->node = nd;
        for (int k = 0; k < np; k++)
            l->p[k] = const_in(m, nd, k + 1);
        l->eps = ox_attr_float(nd->proto, "epsilon", 1e-5f);
        l->trans_b = !strcmp(op, "Gemm") && ox_attr_int(nd->proto, "transB", 0) != 0;
        if (!strcmp(op, "Gemm") && (ox_attr_float(nd->proto, "alpha", 1.0f) != 1.0f ||
                                    ox_attr_float(nd->proto, "beta", 1.0f) != 1.0f ||
                                    ox_attr_int(nd->proto, "transA", 0) != 0))
            return hg_error(HG_ERR_UNSUPPORTED, "convert: ONNX Gemm node '%s' scales or "
                            "transposes its operands (alpha, beta, transA): a linear layer "
                            "cannot hold it", nd->name);
        if (!strcmp(op, "MatMul"))
            l->p[1] = matmul_bias(m, nd);
    }
    *count = n;
    return HG_OK;
}

/* ---- filling --------------------------------------------------------------------------- */

static void shape_text(int nd, const int64_t *d, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < nd && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

static hg_status mismatch(const native_layer *nl, const char *what, const hg_tensor *t,
                          const onnx_layer *ol, const ox_const *c)
{
    char a[96], b[96];
    shape_text(t->ndim, t->shape, a, sizeof a);
    if (c)
        shape_text(c->ndim, c->dims, b, sizeof b);
    else
        snprintf(b, sizeof b, "absent");
    return hg_error(HG_ERR_INVALID, "convert: native %s '%s' %s is %s, but ONNX %s node '%s' "
                    "(the matching layer in graph order) has %s: the architecture or its "
                    "--set config differs from the exported model", native_names[nl->kind],
                    nl->prefix, what, a, ol->node->op, ol->node->name, b);
}

static bool same_size(const hg_tensor *t, const ox_const *c)
{
    return c && c->numel == t->numel;
}

static hg_status copy_exact(const native_layer *nl, int k, const char *what,
                            const onnx_layer *ol, const ox_const *c)
{
    hg_tensor *t = nl->p[k];
    bool ok = c && c->ndim == t->ndim;
    for (int d = 0; ok && d < t->ndim; d++)
        ok = c->dims[d] == t->shape[d];
    if (!ok && !(c && t->ndim == 1 && same_size(t, c))) /* [C] vs [C, 1, 1] style biases */
        return mismatch(nl, what, t, ol, c);
    memcpy(t->data, c->f, (size_t)t->numel * sizeof(float));
    return HG_OK;
}

/* Fills a linear layer's weight from Gemm (B [out, in] with transB, else [in, out]) or
 * MatMul ([in, out]). */
static hg_status fill_linear_weight(const native_layer *nl, const onnx_layer *ol)
{
    hg_tensor *w = nl->p[0];
    const ox_const *c = ol->p[0];
    int64_t out = w->shape[0], in = w->shape[1];
    if (ol->trans_b)
        return copy_exact(nl, 0, "weight", ol, c);
    if (!c || c->ndim != 2 || c->dims[0] != in || c->dims[1] != out)
        return mismatch(nl, "weight (transposed)", w, ol, c);
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++)
            w->data[o * in + i] = c->f[i * out + o];
    return HG_OK;
}

/* The bias: Gemm's C, or the constant a MatMul's output is added to; none is zero. */
static hg_status fill_linear(const native_layer *nl, const onnx_layer *ol)
{
    hg_status s = fill_linear_weight(nl, ol);
    if (s || !nl->p[1]) {
        if (!s && ol->p[1])
            return hg_error(HG_ERR_INVALID, "convert: ONNX %s node '%s' has a bias, native "
                            "linear '%s' has none", ol->node->op, ol->node->name, nl->prefix);
        return s;
    }
    if (!ol->p[1]) {
        hg_tensor_fill(nl->p[1], 0.0f);
        return HG_OK;
    }
    return copy_exact(nl, 1, "bias", ol, ol->p[1]);
}

typedef struct convert_state {
    const ox_const *pending_bias; /* a conv bias the native conv lacks: goes to the next BN */
    const onnx_layer *pending_from;
    const onnx_layer *last; /* the ONNX node paired with the previous native layer */
    int fused;
} convert_state;

static hg_status fill_conv(convert_state *st, const native_layer *nl, const onnx_layer *ol)
{
    if (strcmp(ol->node->op, "Conv") && strcmp(ol->node->op, "ConvTranspose"))
        return mismatch(nl, "weight", nl->p[0], ol, ol->p[0]);
    hg_status s = copy_exact(nl, 0, "weight", ol, ol->p[0]);
    if (s)
        return s;
    if (nl->p[1]) {
        if (ol->p[1])
            return copy_exact(nl, 1, "bias", ol, ol->p[1]);
        hg_tensor_fill(nl->p[1], 0.0f);
        return HG_OK;
    }
    if (ol->p[1] && ol->p[1]->numel != nl->p[0]->shape[0])
        return mismatch(nl, "weight", nl->p[0], ol, ol->p[1]);
    st->pending_bias = ol->p[1];
    st->pending_from = ol;
    return HG_OK;
}

/* BN(x + b) with statistics (mean, var) is BN(x) with mean - b; a BN the exporter folded
 * into the conv is the identity plus the conv's bias (mean 0, var 1 - eps, gamma 1).
 * ol: the BatchNormalization node reading the conv's output, or NULL (folded). */
static hg_status fill_batch_norm(convert_state *st, const native_layer *nl, const onnx_layer *ol)
{
    int64_t c = nl->p[0]->numel;
    const ox_const *b = st->pending_bias;
    st->pending_bias = NULL;
    if (ol) {
        static const char *const what[4] = {"weight", "bias", "running_mean", "running_var"};
        for (int k = 0; k < 4; k++) {
            hg_status s = copy_exact(nl, k, what[k], ol, ol->p[k]);
            if (s)
                return s;
        }
        for (int64_t i = 0; i < c; i++) {
            if (b)
                nl->p[2]->data[i] -= b->f[i];
            nl->p[3]->data[i] += ol->eps - NATIVE_EPS; /* var + eps is what counts */
        }
        return HG_OK;
    }
    if (!b)
        return hg_error(HG_ERR_INVALID, "convert: native batch norm '%s' has no ONNX "
                        "counterpart: no BatchNormalization node reads the output of %s, and "
                        "that node has no bias a folded batch norm would have left", nl->prefix,
                        st->last ? st->last->node->name : "(no node: the model starts here)");
    hg_tensor_fill(nl->p[0], 1.0f);
    memcpy(nl->p[1]->data, b->f, (size_t)c * sizeof(float));
    hg_tensor_fill(nl->p[2], 0.0f);
    hg_tensor_fill(nl->p[3], 1.0f - NATIVE_EPS);
    st->fused++;
    return HG_OK;
}

static hg_status fill_affine_norm(const native_layer *nl, const onnx_layer *ol)
{
    if (strcmp(ol->node->op, "InstanceNormalization") != 0)
        return mismatch(nl, "weight", nl->p[0], ol, ol->p[0]);
    if (fabsf(ol->eps - NATIVE_EPS) > 1e-9f)
        return hg_error(HG_ERR_UNSUPPORTED, "convert: ONNX node '%s' has epsilon %g, the native "
                        "norm '%s' uses %g", ol->node->name, (double)ol->eps, nl->prefix,
                        (double)NATIVE_EPS);
    hg_status s = copy_exact(nl, 0, "weight", ol, ol->p[0]);
    return s ? s : copy_exact(nl, 1, "bias", ol, ol->p[1]);
}

/* ---- pairing --------------------------------------------------------------------------- */

static bool dims_are(const ox_const *c, int nd, const int64_t *d, bool transposed)
{
    if (!c || c->ndim != nd)
        return false;
    for (int i = 0; i < nd; i++)
        if (c->dims[i] != d[transposed ? nd - 1 - i : i])
            return false;
    return true;
}

/* Whether ONNX node ol is of native layer nl's kind with its weight's shape. */
static bool fits(const native_layer *nl, const onnx_layer *ol)
{
    const char *op = ol->node->op;
    const hg_tensor *w = nl->p[0];
    switch (nl->kind) {
    case L_CONV:
        return (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose")) &&
               dims_are(ol->p[0], w->ndim, w->shape, false);
    case L_LINEAR:
        return (!strcmp(op, "Gemm") || !strcmp(op, "MatMul")) &&
               dims_are(ol->p[0], 2, w->shape, !ol->trans_b);
    case L_AFFINE_NORM:
        return !strcmp(op, "InstanceNormalization") && same_size(w, ol->p[0]);
    case L_BATCH_NORM:
        return !strcmp(op, "BatchNormalization") && same_size(w, ol->p[0]);
    }
    return false;
}

/* The ONNX counterpart of a conv, linear or affine norm: the first unpaired node in graph
 * order that fits by kind and shape. Exporters may order the independent branches of a
 * block either way (a ResNet's projection shortcut before or after conv2), so an unpaired
 * node that does not fit may be passed over; pairing in order where it fits keeps equal
 * shapes in order. With no fit, the first unpaired node is returned so that the error names
 * it; NULL when every node is paired. */
static onnx_layer *pair_weighted(const native_layer *nl, onnx_layer *ol, int no)
{
    onnx_layer *first = NULL;
    for (int j = 0; j < no; j++) {
        if (ol[j].used)
            continue;
        if (fits(nl, &ol[j]))
            return &ol[j];
        if (!first)
            first = &ol[j];
    }
    return first;
}

/* The ONNX counterpart of a batch norm: the unpaired BatchNormalization reading the output of
 * the node paired with the layer before (its conv); NULL if none (folded into the conv). */
static onnx_layer *pair_batch_norm(const native_layer *nl, const onnx_layer *last,
                                   onnx_layer *ol, int no)
{
    for (int j = 0; j < no; j++)
        if (!ol[j].used && !strcmp(ol[j].node->op, "BatchNormalization") &&
            (last ? ol[j].node->in[0] == last->node->out[0] : true) && fits(nl, &ol[j]))
            return &ol[j];
    return NULL;
}

static hg_status unused_bias(const convert_state *st, const char *native_prefix)
{
    const ox_const *b = st->pending_bias;
    for (int64_t k = 0; b && k < b->numel; k++)
        if (b->f[k] != 0.0f)
            return hg_error(HG_ERR_INVALID, "convert: ONNX node '%s' has a bias, but native "
                            "conv '%s' has none and no batch norm follows it",
                            st->pending_from->node->name, native_prefix);
    return HG_OK;
}

static hg_status fill_all(const native_layer *nl, int nn, onnx_layer *ol, int no, int *fused)
{
    convert_state st = {0};
    for (int i = 0; i < nn; i++) {
        hg_status s = HG_OK;
        onnx_layer *o;
        if (nl[i].kind == L_BATCH_NORM) {
            o = pair_batch_norm(&nl[i], st.last, ol, no);
            s = fill_batch_norm(&st, &nl[i], o);
        } else {
            o = pair_weighted(&nl[i], ol, no);
            if (!o)
                return hg_error(HG_ERR_INVALID, "convert: native %s '%s' and %d more native "
                                "layers have no ONNX counterpart (the ONNX model has %d "
                                "weighted nodes)", native_names[nl[i].kind], nl[i].prefix,
                                nn - i - 1, no);
            if ((s = unused_bias(&st, i ? nl[i - 1].prefix : "")))
                return s;
            st.pending_bias = NULL;
            s = nl[i].kind == L_CONV     ? fill_conv(&st, &nl[i], o)
                : nl[i].kind == L_LINEAR ? fill_linear(&nl[i], o)
                                         : fill_affine_norm(&nl[i], o);
        }
        if (s)
            return s;
        if (o) {
            o->used = true;
            st.last = o;
        }
    }
    hg_status s = nn > 0 ? unused_bias(&st, nl[nn - 1].prefix) : HG_OK;
    if (s)
        return s;
    for (int j = 0; j < no; j++)
        if (!ol[j].used) {
            int more = 0;
            for (int k = j + 1; k < no; k++)
                more += !ol[k].used;
            return hg_error(HG_ERR_INVALID, "convert: ONNX %s node '%s' and %d more weighted "
                            "nodes have no native counterpart (the native model has %d layers)",
                            ol[j].node->op, ol[j].node->name, more, nn);
        }
    *fused = st.fused;
    return HG_OK;
}

/* ---- verification ---------------------------------------------------------------------- */

static hg_status verify(const hg_onnx_model *m, hg_model *native, int ndim, const int64_t *shape,
                        double *rel)
{
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    hg_status s = HG_OK;
    hg_tensor *x = hg_tensor_new(ctx, HG_F32, ndim, shape), *y = NULL;
    if (!x) {
        s = hg_error_status();
        goto done;
    }
    hg_rng rng = hg_rng_new(0);
    hg_rng_fill_normal(&rng, x->data, x->numel, 0.0f, 1.0f);
    if ((s = hg_onnx_run(m, ctx, &x, &y)))
        goto done;
    hg_tensor *z = hg_model_forward(native, ctx, x);
    if (!z) {
        s = hg_error_status();
        goto done;
    }
    bool same = z->ndim == y->ndim && z->numel == y->numel;
    for (int d = 0; same && d < z->ndim; d++)
        same = z->shape[d] == y->shape[d];
    if (!same) {
        char a[96], b[96];
        shape_text(z->ndim, z->shape, a, sizeof a);
        shape_text(y->ndim, y->shape, b, sizeof b);
        s = hg_error(HG_ERR_INVALID, "convert: the native %s model outputs %s, the ONNX model "
                     "%s", native->arch->name, a, b);
        goto done;
    }
    double diff = 0.0, scale = 0.0;
    for (int64_t i = 0; i < z->numel; i++) {
        diff = fmax(diff, fabs((double)z->data[i] - y->data[i]));
        scale = fmax(scale, fabs((double)y->data[i]));
    }
    *rel = scale > 0 ? diff / scale : diff;
    if (!(*rel <= MAX_REL_ERROR))
        s = hg_error(HG_ERR_INVALID, "convert: every weight fits, but the native %s model's "
                     "output differs from the ONNX model's by %.3g (relative to max |y| = %.3g; "
                     "at most %g allowed): the layers are wired differently", native->arch->name,
                     *rel, scale, MAX_REL_ERROR);
done:
    hg_ctx_free(ctx);
    return s;
}

hg_status hg_onnx_convert(const hg_onnx_model *m, struct hg_model *native, int32_t ndim,
                          const int64_t *shape, hg_onnx_convert_report *report)
{
    if (!m || !native || !report)
        return hg_error(HG_ERR_INVALID, "convert: NULL model or report");
    memset(report, 0, sizeof *report);
    int64_t in_shape[8];
    if (!shape) {
        if (hg_onnx_num_inputs(m) != 1)
            return hg_error(HG_ERR_UNSUPPORTED, "convert: the ONNX model has %d inputs, "
                            "expected 1", (int)hg_onnx_num_inputs(m));
        ndim = hg_onnx_input_shape(m, 0, in_shape);
        for (int d = 0; d < ndim; d++)
            if (in_shape[d] < 1)
                return hg_error(HG_ERR_INVALID, "convert: input '%s' has a dynamic dimension "
                                "%d: give the check input's shape", hg_onnx_input_name(m, 0), d);
        shape = in_shape;
    }
    if (ndim < 1 || ndim > HG_MAX_DIMS)
        return hg_error(HG_ERR_INVALID, "convert: check input of %d dimensions (1 to %d)",
                        (int)ndim, HG_MAX_DIMS);
    enum { MAX_LAYERS = 1024 };
    native_layer *nl = hg_malloc(MAX_LAYERS * sizeof *nl);
    onnx_layer *ol = hg_malloc(MAX_LAYERS * sizeof *ol);
    int nn = 0, no = 0, fused = 0;
    hg_status s = !nl || !ol ? hg_error_status() : native_layers(native, nl, MAX_LAYERS, &nn);
    if (!s)
        s = onnx_layers(m, ol, MAX_LAYERS, &no);
    if (!s)
        s = fill_all(nl, nn, ol, no, &fused);
    if (!s) {
        report->layers = nn;
        report->onnx_layers = no;
        report->fused_batch_norms = fused;
        s = verify(m, native, (int)ndim, shape, &report->max_rel_error);
    }
    hg_free(nl);
    hg_free(ol);
    return s;
}
