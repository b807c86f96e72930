/* Checkpoints: model tensors, optimizer state, train state and user metadata in one
 * safetensors file (written atomically by hg_safetensors_save), guarded by a CRC-32.
 *
 * Layout. Tensors: every entry of the parameter list under its own name, and the optimizer's
 * state of each parameter that has been updated as "optim.<state>.<param>" (PyTorch's state
 * names: momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq). Metadata (strings):
 *   hinge.format          "hinge-checkpoint/1"
 *   hinge.optim           "sgd" | "adam" | "adamw", with hinge.optim.<hyper-parameter> and
 *   hinge.optim.step.<p>  per-parameter update counts (PyTorch's state['step'])
 *   hinge.optim.weight_decay.<p>  where a parameter has its own weight decay
 *   hinge.step, hinge.rng.seed, hinge.rng.counter   the train state
 *   hinge.crc32           CRC-32 of all tensors (name, shape, bytes, in name order) and all
 *                         other metadata (in key order): safetensors has no checksum, and a
 *                         flipped bit in a moment would otherwise resume silently wrong.
 * Numbers are printed exactly (%.17g for doubles, decimal integers), so a load restores the
 * same bits. Loading validates everything into temporaries before it writes anything. */
#include "optim/optim_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CKPT_FORMAT "hinge-checkpoint/1"
#define CKPT_STATE_PREFIX "optim."
#define CKPT_STEP_PREFIX "hinge.optim.step."
#define CKPT_WD_PREFIX "hinge.optim.weight_decay."

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- checksum -------------------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const hg_param *)a)->name, ((const hg_param *)b)->name);
}

typedef struct { const char *key, *value; } kv;

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const kv *)a)->key, ((const kv *)b)->key);
}

/* The shape a tensor has in the file (complex gains a trailing dimension of 2). */
static int file_shape(const hg_tensor *t, int64_t *dims)
{
    int nd = t->ndim;
    for (int d = 0; d < nd; d++)
        dims[d] = t->shape[d];
    if (t->dtype == HG_C64)
        dims[nd++] = 2;
    return nd;
}

static uLong crc_bytes(uLong crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) { /* zlib takes uInt lengths */
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, b, k);
        b += k, n -= k;
    }
    return crc;
}

static hg_status checksum(const hg_params *tensors, const hg_metadata *meta, uint32_t *out)
{
    hg_param *sorted = malloc((size_t)(tensors->count + 1) * sizeof *sorted);
    kv *keys = malloc((size_t)(meta->count + 1) * sizeof *keys);
    if (!sorted || !keys) {
        free(sorted), free(keys);
        return hg_error(HG_ERR_NOMEM, "checkpoint checksum: out of memory");
    }
    memcpy(sorted, tensors->items, (size_t)tensors->count * sizeof *sorted);
    qsort(sorted, (size_t)tensors->count, sizeof *sorted, cmp_name);
    int nk = 0;
    for (int i = 0; i < meta->count; i++)
        if (strcmp(meta->keys[i], "hinge.crc32") != 0)
            keys[nk++] = (kv){meta->keys[i], meta->values[i]};
    qsort(keys, (size_t)nk, sizeof *keys, cmp_key);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < tensors->count; i++) {
        const hg_tensor *t = sorted[i].tensor;
        int64_t dims[HG_MAX_DIMS + 1];
        int64_t nd = file_shape(t, dims);
        crc = crc_bytes(crc, sorted[i].name, strlen(sorted[i].name) + 1);
        crc = crc_bytes(crc, &nd, sizeof nd);
        crc = crc_bytes(crc, dims, (size_t)nd * sizeof dims[0]);
        crc = crc_bytes(crc, t->data, (size_t)hg_tensor_nfloats(t) * sizeof(float));
    }
    for (int i = 0; i < nk; i++) {
        crc = crc_bytes(crc, keys[i].key, strlen(keys[i].key) + 1);
        crc = crc_bytes(crc, keys[i].value, strlen(keys[i].value) + 1);
    }
    free(sorted), free(keys);
    *out = (uint32_t)crc;
    return HG_OK;
}

/* ---- saving ---------------------------------------------------------------------------- */

static hg_status set_f(hg_metadata *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static hg_status set_f(hg_metadata *m, const char *key, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return hg_metadata_set(m, key, buf);
}

/* The hyper-parameters that must match on resume (lr excluded: it is restored). */
typedef struct { const char *name; double value; } hparam;

static int optim_hparams(const hg_optim *opt, hparam *h)
{
    int n = 0;
    if (opt->kind == HG_OPTIM_SGD) {
        h[n++] = (hparam){"momentum", opt->sgd.momentum};
        h[n++] = (hparam){"dampening", opt->sgd.dampening};
        h[n++] = (hparam){"weight_decay", opt->sgd.weight_decay};
        h[n++] = (hparam){"nesterov", opt->sgd.nesterov ? 1.0 : 0.0};
    } else {
        h[n++] = (hparam){"beta1", opt->adam.beta1};
        h[n++] = (hparam){"beta2", opt->adam.beta2};
        h[n++] = (hparam){"eps", opt->adam.eps};
        h[n++] = (hparam){"weight_decay", opt->adam.weight_decay};
        h[n++] = (hparam){"amsgrad", opt->adam.amsgrad ? 1.0 : 0.0};
    }
    return n;
}

static double global_decay(const hg_optim *opt)
{
    return opt->kind == HG_OPTIM_SGD ? opt->sgd.weight_decay : opt->adam.weight_decay;
}

static hg_status optim_metadata(const hg_optim *opt, hg_metadata *m)
{
    char key[512];
    hg_status s = hg_metadata_set(m, "hinge.optim", hg_optim_name(opt));
    if (s == HG_OK)
        s = set_f(m, "hinge.optim.lr", "%.17g", hg_optim_lr(opt));
    hparam h[8];
    int nh = optim_hparams(opt, h);
    for (int i = 0; i < nh && s == HG_OK; i++) {
        snprintf(key, sizeof key, "hinge.optim.%s", h[i].name);
        s = set_f(m, key, "%.17g", h[i].value);
    }
    for (int i = 0; i < opt->n_slots && s == HG_OK; i++) {
        snprintf(key, sizeof key, CKPT_STEP_PREFIX "%s", opt->slots[i].name);
        s = set_f(m, key, "%" PRId64, opt->slots[i].step);
        if (s == HG_OK && opt->slots[i].weight_decay != global_decay(opt)) {
            snprintf(key, sizeof key, CKPT_WD_PREFIX "%s", opt->slots[i].name);
            s = set_f(m, key, "%.17g", opt->slots[i].weight_decay);
        }
    }
    return s;
}

static char *state_name(const char *state, const char *param)
{
    size_t n = strlen(CKPT_STATE_PREFIX) + strlen(state) + 1 + strlen(param) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, CKPT_STATE_PREFIX "%s.%s", state, param);
    else
        hg_error(HG_ERR_NOMEM, "checkpoint: out of memory");
    return s;
}

static hg_status check_save_args(const char *path, const hg_params *params, const hg_optim *opt,
                                 const hg_metadata *user)
{
    if (!path || !params)
        return hg_error(HG_ERR_INVALID, "checkpoint save: NULL path or parameter list");
    for (int i = 0; i < params->count; i++)
        if (starts_with(params->items[i].name, CKPT_STATE_PREFIX))
            return hg_error(HG_ERR_INVALID, "%s: parameter name '%s' uses the reserved prefix "
                            "'" CKPT_STATE_PREFIX "'", path, params->items[i].name);
    for (int i = 0; user && i < user->count; i++)
        if (starts_with(user->keys[i], "hinge."))
            return hg_error(HG_ERR_INVALID, "%s: user metadata key '%s' uses the reserved "
                            "prefix 'hinge.'", path, user->keys[i]);
    for (int i = 0; opt && i < opt->n_slots; i++)
        if (hg_params_get(params, opt->slots[i].name) != opt->slots[i].param)
            return hg_error(HG_ERR_INVALID, "%s: the optimizer's parameter '%s' is not in the "
                            "parameter list being saved", path, opt->slots[i].name);
    return HG_OK;
}

hg_status hg_checkpoint_save(const char *path, const hg_params *params, const hg_optim *opt,
                             const hg_train_state *state, const hg_metadata *user)
{
    hg_status s = check_save_args(path, params, opt, user);
    if (s != HG_OK)
        return s;
    /* A borrowing view: model tensors then optimizer state; freed by hand below (not with
     * hg_params_free, which would free the tensors). */
    int cap = params->count + (opt ? opt->n_slots * opt->n_state : 0);
    hg_params view = {0, cap, calloc((size_t)cap + 1, sizeof(hg_param))};
    hg_metadata meta;
    hg_metadata_init(&meta);
    if (!view.items)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < params->count; i++)
        view.items[view.count++] = params->items[i];
    int first_owned = view.count;
    for (int i = 0; opt && i < opt->n_slots && s == HG_OK; i++) {
        const hg_optim_slot *sl = &opt->slots[i];
        if (sl->step == 0)
            continue; /* no state yet, as in PyTorch */
        for (int k = 0; k < opt->n_state && s == HG_OK; k++) {
            char *name = state_name(opt->state_names[k], sl->name);
            if (!name)
                s = HG_ERR_NOMEM;
            else
                view.items[view.count++] = (hg_param){name, sl->state[k]};
        }
    }
    if (s == HG_OK)
        s = hg_metadata_set(&meta, "hinge.format", CKPT_FORMAT);
    if (s == HG_OK && opt)
        s = optim_metadata(opt, &meta);
    if (s == HG_OK && state) {
        s = set_f(&meta, "hinge.step", "%" PRId64, state->step);
        if (s == HG_OK)
            s = set_f(&meta, "hinge.rng.seed", "%" PRIu64, state->rng.seed);
        if (s == HG_OK)
            s = set_f(&meta, "hinge.rng.counter", "%" PRIu64, state->rng.counter);
    }
    for (int i = 0; user && i < user->count && s == HG_OK; i++)
        s = hg_metadata_set(&meta, user->keys[i], user->values[i]);
    uint32_t crc = 0;
    if (s == HG_OK)
        s = checksum(&view, &meta, &crc);
    if (s == HG_OK)
        s = set_f(&meta, "hinge.crc32", "%08" PRIx32, crc);
    if (s == HG_OK)
        s = hg_safetensors_save(path, &view, &meta);
    for (int i = first_owned; i < view.count; i++)
        free(view.items[i].name);
    free(view.items);
    hg_metadata_free(&meta);
    return s;
}

/* ---- loading --------------------------------------------------------------------------- */

static hg_status get_i64(const char *path, const hg_metadata *m, const char *key, int64_t *out)
{
    const char *v = hg_metadata_get(m, key);
    if (!v)
        return hg_error(HG_ERR_FORMAT, "%s: metadata '%s' is missing", path, key);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < 0)
        return hg_error(HG_ERR_FORMAT, "%s: metadata '%s' = '%s' is not a count", path, key, v);
    *out = x;
    return HG_OK;
}

static hg_status get_u64(const char *path, const hg_metadata *m, const char *key, uint64_t *out)
{
    const char *v = hg_metadata_get(m, key);
    if (!v)
        return hg_error(HG_ERR_FORMAT, "%s: metadata '%s' is missing", path, key);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
        return hg_error(HG_ERR_FORMAT, "%s: metadata '%s' = '%s' is not an unsigned integer",
                        path, key, v);
    *out = x;
    return HG_OK;
}

static hg_status get_f64(const char *path, const hg_metadata *m, const char *key, double *out)
{
    const char *v = hg_metadata_get(m, key);
    if (!v)
        return hg_error(HG_ERR_FORMAT, "%s: metadata '%s' is missing", path, key);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return hg_error(HG_ERR_FORMAT, "%s: metadata '%s' = '%s' is not a number", path, key, v);
    *out = x;
    return HG_OK;
}

/* Whether a file tensor (always F32) can be copied into t: same floats and shape. */
static hg_status check_shape(const char *path, const char *what, const char *name,
                             const hg_tensor *t, const hg_tensor *f)
{
    int64_t dims[HG_MAX_DIMS + 1];
    int nd = file_shape(t, dims);
    bool same = nd == f->ndim;
    for (int d = 0; same && d < nd; d++)
        same = dims[d] == f->shape[d];
    if (same)
        return HG_OK;
    char a[96], b[96];
    return hg_error(HG_ERR_FORMAT, "%s: %s '%s': expected shape %s, checkpoint has %s", path,
                    what, name, hg_shape_str(t, a, sizeof a), hg_shape_str(f, b, sizeof b));
}

static hg_status validate_model(const char *path, const hg_params *params, const hg_params *file)
{
    for (int i = 0; i < params->count; i++) {
        const char *name = params->items[i].name;
        const hg_tensor *f = hg_params_get(file, name);
        if (!f)
            return hg_error(HG_ERR_FORMAT, "%s: tensor '%s' is missing (a checkpoint of another "
                            "model?)", path, name);
        hg_status s = check_shape(path, "tensor", name, params->items[i].tensor, f);
        if (s != HG_OK)
            return s;
    }
    for (int i = 0; i < file->count; i++) {
        const char *name = file->items[i].name;
        if (!starts_with(name, CKPT_STATE_PREFIX) && !hg_params_get(params, name))
            return hg_error(HG_ERR_FORMAT, "%s: unexpected tensor '%s' (not in the model; a "
                            "checkpoint of another model?)", path, name);
    }
    return HG_OK;
}

/* Validated optimizer state, applied only once everything checked out. */
typedef struct {
    double lr;
    int64_t *steps; /* per slot */
    const hg_tensor **state; /* n_slots * n_state, NULL where step == 0 */
} optim_restore;

static hg_status validate_optim(const char *path, const hg_optim *opt, const hg_params *file,
                                const hg_metadata *m, optim_restore *r)
{
    const char *kind = hg_metadata_get(m, "hinge.optim");
    if (!kind)
        return hg_error(HG_ERR_FORMAT, "%s: the checkpoint holds no optimizer state (expected "
                        "'%s')", path, hg_optim_name(opt));
    if (strcmp(kind, hg_optim_name(opt)) != 0)
        return hg_error(HG_ERR_FORMAT, "%s: optimizer: expected '%s', checkpoint has '%s'",
                        path, hg_optim_name(opt), kind);
    hg_status s = get_f64(path, m, "hinge.optim.lr", &r->lr);
    if (s != HG_OK)
        return s;
    if (r->lr < 0.0)
        return hg_error(HG_ERR_FORMAT, "%s: negative learning rate %g", path, r->lr);
    hparam h[8];
    int nh = optim_hparams(opt, h);
    char key[512];
    for (int i = 0; i < nh; i++) {
        double v;
        snprintf(key, sizeof key, "hinge.optim.%s", h[i].name);
        if ((s = get_f64(path, m, key, &v)) != HG_OK)
            return s;
        if (v != h[i].value)
            return hg_error(HG_ERR_FORMAT, "%s: %s %s: expected %.17g, checkpoint has %.17g "
                            "(hyper-parameters must match to resume)", path, kind, h[i].name,
                            h[i].value, v);
    }
    for (int i = 0; i < opt->n_slots; i++) {
        const hg_optim_slot *sl = &opt->slots[i];
        snprintf(key, sizeof key, CKPT_STEP_PREFIX "%s", sl->name);
        if ((s = get_i64(path, m, key, &r->steps[i])) != HG_OK)
            return s;
        double wd = global_decay(opt); /* equal to the file's, checked above */
        snprintf(key, sizeof key, CKPT_WD_PREFIX "%s", sl->name);
        if (hg_metadata_get(m, key) && (s = get_f64(path, m, key, &wd)) != HG_OK)
            return s;
        if (wd != sl->weight_decay)
            return hg_error(HG_ERR_FORMAT, "%s: %s weight_decay of '%s': expected %.17g, "
                            "checkpoint has %.17g (hyper-parameters must match to resume)", path,
                            kind, sl->name, sl->weight_decay, wd);
        for (int k = 0; k < opt->n_state && r->steps[i] > 0; k++) {
            snprintf(key, sizeof key, CKPT_STATE_PREFIX "%s.%s", opt->state_names[k], sl->name);
            const hg_tensor *f = hg_params_get(file, key);
            if (!f)
                return hg_error(HG_ERR_FORMAT, "%s: optimizer state '%s' is missing", path, key);
            if ((s = check_shape(path, "optimizer state", key, sl->param, f)) != HG_OK)
                return s;
            r->state[i * opt->n_state + k] = f;
        }
    }
    /* Nothing in the file may be left unexplained: state or step counts of parameters this
     * optimizer does not have mean another model or another configuration. */
    for (int i = 0; i < file->count; i++) {
        const char *name = file->items[i].name;
        if (!starts_with(name, CKPT_STATE_PREFIX))
            continue;
        bool known = false;
        for (int j = 0; j < opt->n_slots * opt->n_state && !known; j++)
            known = r->state[j] == file->items[i].tensor;
        if (!known)
            return hg_error(HG_ERR_FORMAT, "%s: unexpected optimizer state '%s' (not kept by "
                            "this %s for this model)", path, name, kind);
    }
    for (int i = 0; i < m->count; i++) {
        const char *key_i = m->keys[i];
        size_t skip = starts_with(key_i, CKPT_STEP_PREFIX) ? strlen(CKPT_STEP_PREFIX)
                      : starts_with(key_i, CKPT_WD_PREFIX) ? strlen(CKPT_WD_PREFIX)
                                                           : 0;
        if (skip && hg_optim_param_steps(opt, key_i + skip) < 0)
            return hg_error(HG_ERR_FORMAT, "%s: optimizer metadata '%s' names '%s', which is "
                            "not a trainable parameter here", path, key_i, key_i + skip);
    }
    return HG_OK;
}

static hg_status validate_state(const char *path, const hg_metadata *m, hg_train_state *out)
{
    hg_status s = get_i64(path, m, "hinge.step", &out->step);
    if (s == HG_OK)
        s = get_u64(path, m, "hinge.rng.seed", &out->rng.seed);
    if (s == HG_OK)
        s = get_u64(path, m, "hinge.rng.counter", &out->rng.counter);
    return s;
}

static hg_status validate_file(const char *path, const hg_params *file, const hg_metadata *m)
{
    const char *fmt = hg_metadata_get(m, "hinge.format");
    if (!fmt)
        return hg_error(HG_ERR_FORMAT, "%s: not a hinge checkpoint (no 'hinge.format' "
                        "metadata)", path);
    if (strcmp(fmt, CKPT_FORMAT) != 0)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: checkpoint format '%s', expected '%s'", path,
                        fmt, CKPT_FORMAT);
    const char *stored = hg_metadata_get(m, "hinge.crc32");
    uint32_t crc;
    hg_status s = checksum(file, m, &crc);
    if (s != HG_OK)
        return s;
    char want[16];
    snprintf(want, sizeof want, "%08" PRIx32, crc);
    if (!stored || strcmp(stored, want) != 0)
        return hg_error(HG_ERR_FORMAT, "%s: checksum mismatch (stored %s, computed %s): the "
                        "file is corrupt", path, stored ? stored : "none", want);
    return HG_OK;
}

static hg_status copy_user_metadata(const hg_metadata *m, hg_metadata *user)
{
    hg_metadata tmp;
    hg_metadata_init(&tmp);
    hg_status s = HG_OK;
    for (int i = 0; i < m->count && s == HG_OK; i++)
        if (!starts_with(m->keys[i], "hinge."))
            s = hg_metadata_set(&tmp, m->keys[i], m->values[i]);
    if (s == HG_OK && user->count == 0) {
        hg_metadata_free(user);
        *user = tmp; /* moved: cannot fail */
        return HG_OK;
    }
    for (int i = 0; i < tmp.count && s == HG_OK; i++)
        s = hg_metadata_set(user, tmp.keys[i], tmp.values[i]);
    hg_metadata_free(&tmp);
    return s;
}

static void apply_optim(hg_optim *opt, const optim_restore *r)
{
    opt->kind == HG_OPTIM_SGD ? (void)(opt->sgd.lr = r->lr) : (void)(opt->adam.lr = r->lr);
    for (int i = 0; i < opt->n_slots; i++) {
        hg_optim_slot *sl = &opt->slots[i];
        sl->step = r->steps[i];
        for (int k = 0; k < opt->n_state; k++) {
            const hg_tensor *f = r->state[i * opt->n_state + k];
            size_t bytes = (size_t)hg_tensor_nfloats(sl->state[k]) * sizeof(float);
            if (f)
                memcpy(sl->state[k]->data, f->data, bytes);
            else
                memset(sl->state[k]->data, 0, bytes);
        }
    }
}

hg_status hg_checkpoint_load(const char *path, hg_params *params, hg_optim *opt,
                             hg_train_state *state, hg_metadata *user)
{
    if (!path || !params)
        return hg_error(HG_ERR_INVALID, "checkpoint load: NULL path or parameter list");
    hg_params file;
    hg_params_init(&file);
    hg_metadata m;
    hg_metadata_init(&m);
    optim_restore r = {0};
    hg_train_state st = {0};
    hg_status s = HG_OK;
    for (int i = 0; opt && i < opt->n_slots && s == HG_OK; i++)
        if (hg_params_get(params, opt->slots[i].name) != opt->slots[i].param)
            s = hg_error(HG_ERR_INVALID, "%s: the optimizer's parameter '%s' is not in the "
                         "parameter list being loaded", path, opt->slots[i].name);
    if (s == HG_OK)
        s = hg_safetensors_load(path, &file, &m);
    if (s == HG_OK)
        s = validate_file(path, &file, &m);
    if (s == HG_OK)
        s = validate_model(path, params, &file);
    if (s == HG_OK && opt) {
        r.steps = calloc((size_t)opt->n_slots + 1, sizeof *r.steps);
        r.state = calloc((size_t)(opt->n_slots * opt->n_state) + 1, sizeof *r.state);
        s = r.steps && r.state ? validate_optim(path, opt, &file, &m, &r)
                               : hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s == HG_OK && state)
        s = validate_state(path, &m, &st);
    if (s == HG_OK && user)
        s = copy_user_metadata(&m, user); /* the only step that may fail (memory) */
    if (s == HG_OK) {
        for (int i = 0; i < params->count; i++) {
            hg_tensor *t = params->items[i].tensor;
            const hg_tensor *f = hg_params_get(&file, params->items[i].name);
            memcpy(t->data, f->data, (size_t)hg_tensor_nfloats(t) * sizeof(float));
        }
        if (opt)
            apply_optim(opt, &r);
        if (state)
            *state = st;
    }
    free(r.steps);
    free(r.state);
    hg_params_free(&file);
    hg_metadata_free(&m);
    return s;
}
