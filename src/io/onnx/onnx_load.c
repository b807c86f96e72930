/* ONNX model loading: protobuf -> validated, topologically sorted, constant-folded graph; and
 * running it. */
#include "io/onnx/onnx_internal.h"
#include "hinge/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OX_MIN_OPSET 9
#define OX_MAX_OPSET 17

/* ---- name -> value id (open addressing; built once at load) ---------------------------- */

typedef struct name_map {
    uint32_t cap;
    int32_t *ids; /* -1 empty */
    char **names;
    int32_t n;
    int32_t max;
} name_map;

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int32_t map_find(const name_map *mp, const char *name)
{
    for (uint32_t h = hash_str(name) & (mp->cap - 1);; h = (h + 1) & (mp->cap - 1)) {
        int32_t id = mp->ids[h];
        if (id < 0 || strcmp(mp->names[id], name) == 0)
            return id;
    }
}

/* Returns the id of name, adding it when absent. */
static int32_t map_add(name_map *mp, char *name)
{
    uint32_t h = hash_str(name) & (mp->cap - 1);
    for (; mp->ids[h] >= 0; h = (h + 1) & (mp->cap - 1))
        if (strcmp(mp->names[mp->ids[h]], name) == 0)
            return mp->ids[h];
    mp->names[mp->n] = name;
    mp->ids[h] = mp->n;
    return mp->n++;
}

/* ---- loading ----------------------------------------------------------------------------- */

static void *arena_calloc(hg_onnx_model *m, size_t count, size_t size)
{
    return hg_ctx_calloc(m->arena, (count ? count : 1) * size);
}

static hg_status read_value_info(hg_onnx_model *m, const Onnx__ValueInfoProto *vi,
                                 ox_value_info *out)
{
    out->ndim = -1;
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return HG_OK;
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != 1)
        return hg_error(HG_ERR_UNSUPPORTED, "onnx: graph input/output '%s' has element type %d; "
                        "only float (1) is supported", vi->name ? vi->name : "?",
                        (int)tt->elem_type);
    if (!tt->shape)
        return HG_OK;
    if (tt->shape->n_dim > OX_MAX_DIMS)
        return hg_error(HG_ERR_UNSUPPORTED, "onnx: graph input/output '%s' has %zu dimensions",
                        vi->name ? vi->name : "?", tt->shape->n_dim);
    out->ndim = (int32_t)tt->shape->n_dim;
    for (size_t d = 0; d < tt->shape->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        out->dims[d] = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                           ? dim->dim_value : -1;
    }
    (void)m;
    return HG_OK;
}

static bool is_default_domain(const char *d) { return !d || !*d || strcmp(d, "ai.onnx") == 0; }

/* Appends every unsupported node (operator, attribute or attribute value) to one message. */
static hg_status check_supported(hg_onnx_model *m)
{
    char msg[1000];
    size_t len = 0;
    int bad = 0;
    msg[0] = '\0';
    for (int32_t i = 0; i < m->n_nodes; i++) {
        ox_node *n = &m->nodes[i];
        const ox_op *op = is_default_domain(n->proto->domain) ? ox_find_op(n->op) : NULL;
        n->impl = op;
        char why[200];
        why[0] = '\0';
        if (!op) {
            snprintf(why, sizeof why, "operator not supported");
            if (!is_default_domain(n->proto->domain))
                snprintf(why, sizeof why, "domain '%s' not supported", n->proto->domain);
        } else {
            for (size_t a = 0; a < n->proto->n_attribute && !why[0]; a++) {
                const char *an = n->proto->attribute[a]->name ? n->proto->attribute[a]->name : "";
                bool ok = false;
                for (const char *const *p = op->attrs; p && *p && !ok; p++)
                    ok = strcmp(*p, an) == 0;
                if (!ok)
                    snprintf(why, sizeof why, "attribute '%s' not supported", an);
            }
            const char *r = !why[0] && op->check ? op->check(n->proto, m->opset) : NULL;
            if (r)
                snprintf(why, sizeof why, "%s", r);
        }
        if (!why[0])
            continue;
        bad++;
        int w = snprintf(msg + len, sizeof msg - len, "%s%s (node '%s', opset %d): %s",
                         bad > 1 ? "; " : "", n->op, n->name, (int)m->opset, why);
        if (w > 0)
            len = len + (size_t)w < sizeof msg ? len + (size_t)w : sizeof msg - 1;
    }
    if (!bad)
        return HG_OK;
    return hg_error(HG_ERR_UNSUPPORTED, "onnx: %d unsupported node%s: %s", bad,
                    bad > 1 ? "s" : "", msg);
}

/* Kahn's algorithm over value dependencies; a leftover node lies on (or after) a cycle. */
static hg_status topo_sort(hg_onnx_model *m, const int32_t *producer)
{
    int32_t nn = m->n_nodes;
    int32_t *pending = calloc((size_t)nn + 1, sizeof *pending);
    int32_t *order = calloc((size_t)nn + 1, sizeof *order);
    int32_t *users_start = calloc((size_t)m->n_values + 1, sizeof *users_start);
    int32_t *users = NULL;
    hg_status s = HG_OK;
    if (!pending || !order || !users_start) {
        s = hg_error(HG_ERR_NOMEM, "onnx: topological sort of %d nodes", (int)nn);
        goto done;
    }
    /* users of each value (CSR) */
    int64_t edges = 0;
    for (int32_t i = 0; i < nn; i++)
        for (int32_t k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0) {
                users_start[m->nodes[i].in[k] + 1]++;
                edges++;
            }
    for (int32_t v = 0; v < m->n_values; v++)
        users_start[v + 1] += users_start[v];
    users = calloc((size_t)edges + 1, sizeof *users);
    int32_t *fill = calloc((size_t)m->n_values + 1, sizeof *fill);
    if (!users || !fill) {
        free(fill);
        s = hg_error(HG_ERR_NOMEM, "onnx: topological sort of %d nodes", (int)nn);
        goto done;
    }
    for (int32_t i = 0; i < nn; i++)
        for (int32_t k = 0; k < m->nodes[i].n_in; k++) {
            int32_t v = m->nodes[i].in[k];
            if (v < 0)
                continue;
            users[users_start[v] + fill[v]++] = i;
            if (producer[v] >= 0)
                pending[i]++;
        }
    free(fill);
    int32_t head = 0, tail = 0;
    for (int32_t i = 0; i < nn; i++)
        if (!pending[i])
            order[tail++] = i;
    while (head < tail) {
        const ox_node *n = &m->nodes[order[head++]];
        for (int32_t k = 0; k < n->n_out; k++) {
            int32_t v = n->out[k];
            if (v < 0)
                continue;
            for (int32_t u = users_start[v]; u < users_start[v + 1]; u++)
                if (--pending[users[u]] == 0)
                    order[tail++] = users[u];
        }
    }
    if (tail < nn) {
        for (int32_t i = 0; i < nn; i++)
            if (pending[i]) {
                s = hg_error(HG_ERR_FORMAT, "onnx: the graph has a cycle through %s node '%s' "
                             "(%d nodes never become ready)", m->nodes[i].op, m->nodes[i].name,
                             (int)(nn - tail));
                break;
            }
        goto done;
    }
    ox_node *sorted = arena_calloc(m, (size_t)nn, sizeof *sorted);
    if (!sorted) {
        s = hg_error_status();
        goto done;
    }
    for (int32_t i = 0; i < nn; i++)
        sorted[i] = m->nodes[order[i]];
    m->nodes = sorted;
done:
    free(pending);
    free(order);
    free(users_start);
    free(users);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static hg_status build_histogram(hg_onnx_model *m)
{
    char **names = arena_calloc(m, (size_t)m->n_nodes, sizeof *names);
    if (!names)
        return hg_error_status();
    for (int32_t i = 0; i < m->n_nodes; i++)
        names[i] = (char *)m->nodes[i].op;
    qsort(names, (size_t)m->n_nodes, sizeof *names, cmp_str);
    m->op_types = arena_calloc(m, (size_t)m->n_nodes, sizeof *m->op_types);
    m->op_counts = arena_calloc(m, (size_t)m->n_nodes, sizeof *m->op_counts);
    if (!m->op_types || !m->op_counts)
        return hg_error_status();
    for (int32_t i = 0; i < m->n_nodes; i++) {
        if (m->n_op_types && strcmp(m->op_types[m->n_op_types - 1], names[i]) == 0) {
            m->op_counts[m->n_op_types - 1]++;
            continue;
        }
        m->op_types[m->n_op_types] = names[i];
        m->op_counts[m->n_op_types++] = 1;
    }
    return HG_OK;
}

/* Evaluates nodes whose inputs are all constants (and that can run on constants) once, at
 * load; the rest stays for run time. */
static hg_status fold_constants(hg_onnx_model *m)
{
    ox_run r = {.m = m, .ctx = m->arena, .slots = m->consts, .opset = m->opset};
    int32_t kept = 0;
    for (int32_t i = 0; i < m->n_nodes; i++) {
        const ox_node *n = &m->nodes[i];
        const ox_op *op = n->impl;
        bool all_const = op->foldable;
        for (int32_t k = 0; k < n->n_in && all_const; k++)
            all_const = n->in[k] < 0 || m->consts[n->in[k]].is_const;
        /* Shape of a graph input whose declared shape is static: known now (hg_onnx_run
         * refuses inputs of another shape), so the chains hanging off it fold too. */
        const ox_value_info *vi = NULL;
        for (int32_t k = 0; k < m->n_inputs && !all_const && n->n_in == 1; k++)
            if (m->inputs[k].id == n->in[0] && strcmp(n->op, "Shape") == 0)
                vi = &m->inputs[k];
        bool static_shape = vi && vi->ndim >= 0;
        for (int32_t d = 0; static_shape && d < vi->ndim; d++)
            static_shape = vi->dims[d] >= 0;
        if (static_shape) {
            ox_slot *in = &m->consts[n->in[0]], saved = *in;
            in->is_const = true; /* dims only: Shape reads nothing else */
            in->c.ndim = vi->ndim;
            memcpy(in->c.dims, vi->dims, sizeof vi->dims);
            hg_status s = op->fn(&r, n);
            *in = saved;
            if (s != HG_OK)
                return s;
            continue;
        }
        if (all_const) {
            if (op->fn(&r, n) != HG_OK)
                return hg_error_status();
            bool folded = true;
            for (int32_t k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0 && !m->consts[n->out[k]].is_const)
                    folded = false;
            if (folded)
                continue;
            /* it produced a tensor: forget it and run it each time */
            for (int32_t k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0)
                    memset(&m->consts[n->out[k]], 0, sizeof m->consts[0]);
        }
        m->nodes[kept++] = *n;
    }
    m->n_nodes = kept;
    return HG_OK;
}

/* Gives every float constant of 1 to 5 dimensions a tensor view (the weights), once. */
static hg_status make_const_tensors(hg_onnx_model *m)
{
    for (int32_t v = 0; v < m->n_values; v++) {
        ox_const *c = &m->consts[v].c;
        if (!m->consts[v].is_const || c->is_int || c->ndim < 1 || c->ndim > HG_MAX_DIMS ||
            c->numel == 0 || c->tensor)
            continue;
        hg_tensor *t = arena_calloc(m, 1, sizeof *t);
        if (!t)
            return hg_error_status();
        t->dtype = HG_F32;
        t->ndim = c->ndim;
        memcpy(t->shape, c->dims, sizeof(int64_t) * (size_t)c->ndim);
        t->numel = c->numel;
        t->data = c->f;
        t->ctx = m->arena;
        t->name = m->value_names[v];
        c->tensor = t;
    }
    return HG_OK;
}

/* True when every graph input has a declared, fully static shape of bounded size. */
static bool static_inputs(const hg_onnx_model *m)
{
    for (int32_t k = 0; k < m->n_inputs; k++) {
        const ox_value_info *vi = &m->inputs[k];
        int64_t numel = 1;
        if (vi->ndim < 1 || vi->ndim > HG_MAX_DIMS)
            return false;
        for (int32_t d = 0; d < vi->ndim; d++) {
            if (vi->dims[d] < 1 || vi->dims[d] > ((int64_t)1 << 26) / numel)
                return false;
            numel *= vi->dims[d];
        }
    }
    return m->n_inputs > 0;
}

typedef struct shape_rec {
    int32_t ndim; /* -1: not recorded */
    int64_t dims[OX_MAX_DIMS];
} shape_rec;

/* Runs nodes [0, last] on zeros of the declared input shapes, recording the input shape of
 * every Shape node in rec. false (error cleared) when any node fails. */
static bool dry_run(const hg_onnx_model *m, hg_ctx *ctx, int32_t last, shape_rec *rec)
{
    ox_run r = {.m = m, .ctx = ctx, .opset = m->opset};
    r.slots = hg_ctx_alloc(ctx, (size_t)m->n_values * sizeof *r.slots);
    bool ok = r.slots != NULL;
    if (ok)
        memcpy(r.slots, m->consts, (size_t)m->n_values * sizeof *r.slots);
    for (int32_t k = 0; ok && k < m->n_inputs; k++) {
        const ox_value_info *vi = &m->inputs[k];
        hg_tensor *x = hg_tensor_new(ctx, HG_F32, vi->ndim, vi->dims);
        ox_slot *sl = &r.slots[vi->id];
        sl->set = x != NULL, sl->is_const = false, sl->t = x;
        ok = x != NULL;
    }
    for (int32_t i = 0; ok && i <= last; i++) {
        const ox_node *n = &m->nodes[i];
        rec[i].ndim = -1;
        if (strcmp(n->op, "Shape") == 0 && r.slots[n->in[0]].set && !r.slots[n->in[0]].is_const)
            rec[i].ndim = ox_in_shape(&r, n, 0, rec[i].dims);
        ok = n->impl->fn(&r, n) == HG_OK;
    }
    if (!ok)
        hg_error_clear();
    return ok;
}

/* Shape chains that start from an intermediate tensor (x.view(x.size(0), -1) exports
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape on a conv output) fold at load too when
 * every graph input's shape is static: a dry run on zeros up to the last Shape node gives the
 * shapes a real run would see, computed by the same code, and hg_onnx_run refuses inputs of
 * other shapes, so they hold for every run. The Shape nodes become constants and the chains
 * fold. Dynamic inputs, or a dry run that fails, keep the run-time evaluation. */
static hg_status fold_static_shapes(hg_onnx_model *m)
{
    int32_t last = -1;
    for (int32_t i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].op, "Shape") == 0)
            last = i;
    if (last < 0 || !static_inputs(m))
        return HG_OK;
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    shape_rec *rec = hg_ctx_alloc(ctx, (size_t)(last + 1) * sizeof *rec);
    hg_status s = HG_OK;
    bool any = false;
    if (!rec) {
        s = hg_error_status();
        goto done;
    }
    if (!dry_run(m, ctx, last, rec))
        goto done;
    ox_run fr = {.m = m, .ctx = m->arena, .slots = m->consts, .opset = m->opset};
    int32_t kept = 0;
    for (int32_t i = 0; i < m->n_nodes; i++) {
        const ox_node *n = &m->nodes[i];
        if (i <= last && rec[i].ndim >= 0) { /* a Shape of a run-time tensor: now a constant */
            ox_slot *in = &m->consts[n->in[0]], saved = *in;
            in->is_const = true; /* dims only: Shape reads nothing else */
            in->c.ndim = rec[i].ndim;
            memcpy(in->c.dims, rec[i].dims, sizeof rec[i].dims);
            s = n->impl->fn(&fr, n);
            *in = saved;
            if (s)
                goto done;
            any = true;
            continue;
        }
        m->nodes[kept++] = *n;
    }
    m->n_nodes = kept;
done:
    hg_ctx_free(ctx);
    return s == HG_OK && any ? fold_constants(m) : s;
}

static hg_status build(hg_onnx_model *m, const char *base_dir)
{
    const Onnx__GraphProto *g = m->proto->graph;
    if (!g)
        return hg_error(HG_ERR_FORMAT, "onnx: the model has no graph");
    m->opset = -1;
    for (size_t i = 0; i < m->proto->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->proto->opset_import[i];
        if (is_default_domain(o->domain) && o->has_version)
            m->opset = (int32_t)o->version;
    }
    if (m->opset < 0)
        return hg_error(HG_ERR_FORMAT, "onnx: no opset import for the default domain");
    if (m->opset < OX_MIN_OPSET || m->opset > OX_MAX_OPSET)
        return hg_error(HG_ERR_UNSUPPORTED, "onnx: opset %d is not supported (%d to %d are)",
                        (int)m->opset, OX_MIN_OPSET, OX_MAX_OPSET);

    /* value names */
    size_t total = g->n_input + g->n_initializer + g->n_output;
    for (size_t i = 0; i < g->n_node; i++)
        total += g->node[i]->n_output + g->node[i]->n_input;
    if (total > (1u << 26) || g->n_node > (1u << 24))
        return hg_error(HG_ERR_FORMAT, "onnx: graph too large (%zu values)", total);
    name_map mp = {0};
    mp.cap = 16;
    while (mp.cap < 2 * total + 16)
        mp.cap *= 2;
    mp.ids = malloc(mp.cap * sizeof *mp.ids);
    mp.names = malloc((total + 1) * sizeof *mp.names);
    int32_t *producer = NULL;
    hg_status s = HG_OK;
    if (!mp.ids || !mp.names) {
        s = hg_error(HG_ERR_NOMEM, "onnx: name table of %zu values", total);
        goto done;
    }
    memset(mp.ids, 0xff, mp.cap * sizeof *mp.ids);
    for (size_t i = 0; i < g->n_initializer; i++)
        map_add(&mp, g->initializer[i]->name ? g->initializer[i]->name : "");
    for (size_t i = 0; i < g->n_input; i++)
        map_add(&mp, g->input[i]->name ? g->input[i]->name : "");
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (g->node[i]->output[k] && *g->node[i]->output[k])
                map_add(&mp, g->node[i]->output[k]);
    int32_t n_defined = mp.n;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (g->node[i]->input[k] && *g->node[i]->input[k])
                map_add(&mp, g->node[i]->input[k]);
    for (size_t i = 0; i < g->n_output; i++)
        map_add(&mp, g->output[i]->name ? g->output[i]->name : "");
    m->n_values = mp.n;
    m->value_names = arena_calloc(m, (size_t)mp.n, sizeof *m->value_names);
    m->consts = arena_calloc(m, (size_t)mp.n, sizeof *m->consts);
    producer = malloc(((size_t)mp.n + 1) * sizeof *producer);
    if (!m->value_names || !m->consts || !producer) {
        s = hg_error_status() ? hg_error_status() : hg_error(HG_ERR_NOMEM, "onnx: values");
        goto done;
    }
    memcpy(m->value_names, mp.names, (size_t)mp.n * sizeof *mp.names);
    for (int32_t v = 0; v < mp.n; v++)
        producer[v] = -1;

    /* initializers */
    for (size_t i = 0; i < g->n_initializer; i++) {
        int32_t v = map_find(&mp, g->initializer[i]->name ? g->initializer[i]->name : "");
        if (m->consts[v].is_const) {
            s = hg_error(HG_ERR_FORMAT, "onnx: initializer '%s' defined twice", mp.names[v]);
            goto done;
        }
        if ((s = ox_tensor_to_const(g->initializer[i], base_dir, m->arena, &m->consts[v].c)))
            goto done;
        m->consts[v].is_const = m->consts[v].set = true;
        if (!m->consts[v].c.is_int)
            m->param_count += m->consts[v].c.numel;
    }
    /* run-time inputs */
    m->inputs = arena_calloc(m, g->n_input, sizeof *m->inputs);
    m->outputs = arena_calloc(m, g->n_output, sizeof *m->outputs);
    if (!m->inputs || !m->outputs) {
        s = hg_error_status();
        goto done;
    }
    for (size_t i = 0; i < g->n_input; i++) {
        int32_t v = map_find(&mp, g->input[i]->name ? g->input[i]->name : "");
        if (m->consts[v].is_const)
            continue; /* an initializer listed as input (older exporters) */
        m->inputs[m->n_inputs].id = v;
        if ((s = read_value_info(m, g->input[i], &m->inputs[m->n_inputs])))
            goto done;
        producer[v] = -2; /* defined by the caller */
        m->n_inputs++;
    }
    /* nodes */
    m->n_nodes = (int32_t)g->n_node;
    m->nodes = arena_calloc(m, g->n_node, sizeof *m->nodes);
    if (!m->nodes) {
        s = hg_error_status();
        goto done;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        ox_node *n = &m->nodes[i];
        n->proto = np;
        n->op = np->op_type ? np->op_type : "";
        if (np->name && *np->name) {
            n->name = np->name;
        } else {
            char *nm = hg_ctx_alloc(m->arena, 24);
            if (!nm) {
                s = hg_error_status();
                goto done;
            }
            snprintf(nm, 24, "#%zu", i);
            n->name = nm;
        }
        if (np->n_input > 64 || np->n_output > 64) {
            s = hg_error(HG_ERR_FORMAT, "onnx: %s node '%s' has %zu inputs and %zu outputs",
                         n->op, n->name, np->n_input, np->n_output);
            goto done;
        }
        n->n_in = (int32_t)np->n_input;
        n->n_out = (int32_t)np->n_output;
        n->in = arena_calloc(m, np->n_input, sizeof *n->in);
        n->out = arena_calloc(m, np->n_output, sizeof *n->out);
        if (!n->in || !n->out) {
            s = hg_error_status();
            goto done;
        }
        for (size_t k = 0; k < np->n_output; k++) {
            int32_t v = np->output[k] && *np->output[k] ? map_find(&mp, np->output[k]) : -1;
            n->out[k] = v;
            if (v < 0)
                continue;
            if (producer[v] != -1 || m->consts[v].is_const) {
                s = hg_error(HG_ERR_FORMAT, "onnx: value '%s' is defined twice (again by %s node "
                             "'%s')", mp.names[v], n->op, n->name);
                goto done;
            }
            producer[v] = (int32_t)i;
        }
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        ox_node *n = &m->nodes[i];
        for (size_t k = 0; k < np->n_input; k++) {
            int32_t v = np->input[k] && *np->input[k] ? map_find(&mp, np->input[k]) : -1;
            n->in[k] = v;
            if (v >= n_defined || (v >= 0 && producer[v] == -1 && !m->consts[v].is_const)) {
                s = hg_error(HG_ERR_FORMAT, "onnx: %s node '%s': input '%s' is not produced by "
                             "any node, initializer or graph input", n->op, n->name, np->input[k]);
                goto done;
            }
        }
        /* Input 0 is required by every supported operator but Constant; the handlers rely on
         * it (fuzzer finding: Shape with input "" read the value before the first). */
        if (strcmp(n->op, "Constant") != 0 && (n->n_in == 0 || n->in[0] < 0)) {
            s = hg_error(HG_ERR_FORMAT, "onnx: %s node '%s' has no input 0 (it is required)",
                         n->op, n->name);
            goto done;
        }
    }
    for (size_t i = 0; i < g->n_output; i++) {
        int32_t v = map_find(&mp, g->output[i]->name ? g->output[i]->name : "");
        if (v >= n_defined || (producer[v] == -1 && !m->consts[v].is_const)) {
            s = hg_error(HG_ERR_FORMAT, "onnx: graph output '%s' is not produced by any node",
                         mp.names[v]);
            goto done;
        }
        m->outputs[m->n_outputs].id = v;
        if ((s = read_value_info(m, g->output[i], &m->outputs[m->n_outputs])))
            goto done;
        m->n_outputs++;
    }
    if ((s = build_histogram(m)) || (s = check_supported(m)) || (s = topo_sort(m, producer)) ||
        (s = fold_constants(m)) || (s = make_const_tensors(m)) ||
        (s = fold_static_shapes(m)) || (s = make_const_tensors(m)))
        goto done;
done:
    free(mp.ids);
    free(mp.names);
    free(producer);
    return s;
}

hg_onnx_model *hg_onnx_load_buffer(const void *data, size_t size, const char *base_dir)
{
    hg_onnx_model *m = calloc(1, sizeof *m);
    if (!m) {
        hg_error(HG_ERR_NOMEM, "onnx: model");
        return NULL;
    }
    m->arena = hg_ctx_new();
    if (!m->arena) {
        free(m);
        return NULL;
    }
    hg_ctx_set_grad(m->arena, false);
    hg_ctx_set_training(m->arena, false);
    m->proto = onnx__model_proto__unpack(NULL, size, data);
    if (!m->proto) {
        hg_error(HG_ERR_FORMAT, "onnx: not a valid ONNX protobuf (%zu bytes: truncated or "
                 "corrupt)", size);
        hg_onnx_free(m);
        return NULL;
    }
    if (build(m, base_dir) != HG_OK) {
        hg_onnx_free(m);
        return NULL;
    }
    return m;
}

hg_onnx_model *hg_onnx_load(const char *path)
{
    unsigned char *data = NULL;
    size_t size = 0;
    if (hg_read_file(path, (size_t)1 << 31, &data, &size) != HG_OK)
        return NULL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    hg_onnx_model *m = hg_onnx_load_buffer(data, size, dir);
    free(data);
    if (!m)
        hg_error_context(hg_error_status(), "%s", path);
    return m;
}

void hg_onnx_free(hg_onnx_model *m)
{
    if (!m)
        return;
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, NULL);
    hg_ctx_free(m->arena);
    free(m);
}

/* ---- queries ------------------------------------------------------------------------------ */

int32_t hg_onnx_opset(const hg_onnx_model *m) { return m->opset; }
const char *hg_onnx_producer(const hg_onnx_model *m)
{
    return m->proto->producer_name ? m->proto->producer_name : "";
}
int32_t hg_onnx_num_inputs(const hg_onnx_model *m) { return m->n_inputs; }
int32_t hg_onnx_num_outputs(const hg_onnx_model *m) { return m->n_outputs; }
const char *hg_onnx_input_name(const hg_onnx_model *m, int32_t i)
{
    return i >= 0 && i < m->n_inputs ? m->value_names[m->inputs[i].id] : NULL;
}
const char *hg_onnx_output_name(const hg_onnx_model *m, int32_t i)
{
    return i >= 0 && i < m->n_outputs ? m->value_names[m->outputs[i].id] : NULL;
}
static int32_t info_shape(const ox_value_info *vi, int64_t shape[8])
{
    for (int32_t d = 0; d < vi->ndim; d++)
        shape[d] = vi->dims[d];
    return vi->ndim;
}
int32_t hg_onnx_input_shape(const hg_onnx_model *m, int32_t i, int64_t shape[8])
{
    return i >= 0 && i < m->n_inputs ? info_shape(&m->inputs[i], shape) : -1;
}
int32_t hg_onnx_output_shape(const hg_onnx_model *m, int32_t i, int64_t shape[8])
{
    return i >= 0 && i < m->n_outputs ? info_shape(&m->outputs[i], shape) : -1;
}
int64_t hg_onnx_param_count(const hg_onnx_model *m) { return m->param_count; }
int32_t hg_onnx_num_op_types(const hg_onnx_model *m) { return m->n_op_types; }
const char *hg_onnx_op_type(const hg_onnx_model *m, int32_t i, int64_t *count)
{
    if (i < 0 || i >= m->n_op_types)
        return NULL;
    if (count)
        *count = m->op_counts[i];
    return m->op_types[i];
}
int64_t hg_onnx_num_nodes(const hg_onnx_model *m) { return m->n_nodes; }

/* ---- running ------------------------------------------------------------------------------ */

hg_status hg_onnx_run(const hg_onnx_model *m, hg_ctx *ctx, hg_tensor *const *inputs,
                      hg_tensor **outputs)
{
    if (!m || !ctx || (m->n_inputs && !inputs) || !outputs)
        return hg_error(HG_ERR_INVALID, "onnx run: NULL model, context, inputs or outputs");
    ox_run r = {.m = m, .ctx = ctx, .opset = m->opset};
    r.slots = hg_ctx_alloc(ctx, (size_t)m->n_values * sizeof *r.slots);
    if (!r.slots)
        return hg_error_status();
    memcpy(r.slots, m->consts, (size_t)m->n_values * sizeof *r.slots);
    for (int32_t i = 0; i < m->n_inputs; i++) {
        const ox_value_info *vi = &m->inputs[i];
        hg_tensor *x = inputs[i];
        const char *name = m->value_names[vi->id];
        if (!x || x->dtype != HG_F32)
            return hg_error(HG_ERR_INVALID, "onnx run: input '%s' must be a float tensor", name);
        bool ok = vi->ndim < 0 || vi->ndim == x->ndim;
        for (int32_t d = 0; ok && vi->ndim >= 0 && d < vi->ndim; d++)
            ok = vi->dims[d] < 0 || vi->dims[d] == x->shape[d];
        if (!ok) {
            char sh[96], want[96] = "[";
            for (int32_t d = 0; d < vi->ndim; d++) {
                char one[24];
                if (vi->dims[d] < 0) /* dynamic */
                    snprintf(one, sizeof one, "%s?", d ? ", " : "");
                else
                    snprintf(one, sizeof one, "%s%lld", d ? ", " : "", (long long)vi->dims[d]);
                strncat(want, one, sizeof want - strlen(want) - 2);
            }
            strcat(want, "]");
            return hg_error(HG_ERR_INVALID, "onnx run: input '%s' shape: expected %s, got %s",
                            name, want, hg_shape_str(x, sh, sizeof sh));
        }
        ox_slot *sl = &r.slots[vi->id];
        sl->set = true, sl->is_const = false, sl->t = x;
    }
    for (int32_t i = 0; i < m->n_nodes; i++) {
        const ox_node *n = &m->nodes[i];
        if (n->impl->fn(&r, n) != HG_OK)
            return hg_error_status();
    }
    for (int32_t i = 0; i < m->n_outputs; i++) {
        ox_node fake = {.op = "output", .name = m->value_names[m->outputs[i].id], .n_in = 1,
                        .in = (int32_t *)&m->outputs[i].id};
        outputs[i] = ox_in_tensor(&r, &fake, 0);
        if (!outputs[i])
            return hg_error_status();
    }
    return HG_OK;
}
