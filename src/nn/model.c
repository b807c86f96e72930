/* The model registry, config parsing, and self-describing model files. */
#include "hinge/nn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern const hg_model_arch hg_arch_cnn;
extern const hg_model_arch hg_arch_unet;
extern const hg_model_arch hg_arch_lpd, hg_arch_lgd, hg_arch_fbpconvnet;
extern const hg_model_arch hg_arch_onnx;
extern const hg_model_arch hg_arch_resnet18;
extern const hg_model_arch hg_arch_modl, hg_arch_varnet;

static const hg_model_arch *const archs[] = {&hg_arch_cnn, &hg_arch_unet, &hg_arch_lpd,
                                             &hg_arch_lgd, &hg_arch_fbpconvnet, &hg_arch_onnx,
                                             &hg_arch_resnet18, &hg_arch_modl, &hg_arch_varnet,
                                             NULL};

const hg_model_arch *const *hg_model_archs(void) { return archs; }

const hg_model_arch *hg_model_arch_find(const char *name)
{
    for (int i = 0; archs[i]; i++)
        if (strcmp(archs[i]->name, name) == 0)
            return archs[i];
    return NULL;
}

hg_status hg_config_int(const hg_metadata *c, const char *key, int64_t lo, int64_t hi,
                        int64_t *out)
{
    const char *v = hg_metadata_get(c, key);
    if (!v)
        return HG_OK; /* keep the default */
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi)
        return hg_error(HG_ERR_INVALID, "config '%s': expected an integer in [%lld, %lld], got '%s'",
                        key, (long long)lo, (long long)hi, v);
    *out = x;
    return HG_OK;
}

hg_status hg_config_float(const hg_metadata *c, const char *key, double *out)
{
    const char *v = hg_metadata_get(c, key);
    if (!v)
        return HG_OK;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v)
        return hg_error(HG_ERR_INVALID, "config '%s': expected a number, got '%s'", key, v);
    *out = x;
    return HG_OK;
}

hg_status hg_config_int_list(const hg_metadata *c, const char *key, int max, int64_t *out,
                             int *count)
{
    const char *v = hg_metadata_get(c, key);
    if (!v)
        return HG_OK;
    int n = 0;
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (errno || end == p || x <= 0 || x > (1 << 20) || n == max || (*end && *end != ','))
            return hg_error(HG_ERR_INVALID,
                            "config '%s': expected up to %d comma-separated positive integers, "
                            "got '%s'",
                            key, max, v);
        out[n++] = x;
        p = *end ? end + 1 : end;
    }
    if (n == 0)
        return hg_error(HG_ERR_INVALID, "config '%s': empty list", key);
    *count = n;
    return HG_OK;
}

static hg_status check_keys(const hg_model_arch *a, const hg_metadata *config)
{
    for (int i = 0; config && i < config->count; i++) {
        const char *k = config->keys[i];
        bool known = strcmp(k, "arch") == 0;
        for (int j = 0; !known && a->config_keys[j]; j++)
            known = strcmp(k, a->config_keys[j]) == 0;
        if (!known) {
            char list[512] = "";
            size_t at = 0;
            for (int j = 0; a->config_keys[j] && at < sizeof list; j++)
                at += (size_t)snprintf(list + at, sizeof list - at, j ? ", %s" : "%s",
                                       a->config_keys[j]);
            return hg_error(HG_ERR_INVALID, "model %s: unknown config key '%s' (known: %s)",
                            a->name, k, list);
        }
    }
    return HG_OK;
}

hg_model *hg_model_create(const char *arch, const hg_metadata *config, uint64_t seed)
{
    const hg_model_arch *a = hg_model_arch_find(arch);
    if (!a) {
        char list[256] = "";
        size_t at = 0;
        for (int i = 0; archs[i] && at < sizeof list; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, i ? ", %s" : "%s", archs[i]->name);
        hg_error(HG_ERR_INVALID, "unknown model architecture '%s' (known: %s)", arch, list);
        return NULL;
    }
    if (check_keys(a, config) != HG_OK)
        return NULL;
    hg_model *m = calloc(1, sizeof *m);
    if (!m) {
        hg_error(HG_ERR_NOMEM, "model %s: out of memory", arch);
        return NULL;
    }
    m->arch = a;
    hg_params_init(&m->params);
    hg_metadata_init(&m->config);
    hg_status s = hg_metadata_set(&m->config, "arch", a->name);
    for (int i = 0; s == HG_OK && config && i < config->count; i++)
        if (strcmp(config->keys[i], "arch") != 0)
            s = hg_metadata_set(&m->config, config->keys[i], config->values[i]);
    hg_rng rng = hg_rng_new(seed);
    if (s == HG_OK)
        s = a->build(m, &rng);
    if (s != HG_OK) {
        hg_error_context(s, "model %s", a->name);
        hg_model_free(m);
        return NULL;
    }
    return m;
}

void hg_model_free(hg_model *m)
{
    if (!m)
        return;
    if (m->arch && m->arch->destroy)
        m->arch->destroy(m);
    else
        free(m->impl);
    hg_params_free(&m->params);
    hg_metadata_free(&m->config);
    free(m);
}

hg_tensor *hg_model_forward(hg_model *m, hg_ctx *ctx, hg_tensor *x)
{
    return m->arch->forward(m, ctx, x);
}

hg_status hg_model_save(const hg_model *m, const char *path, const hg_metadata *extra)
{
    hg_metadata all;
    hg_metadata_init(&all);
    hg_status s = HG_OK;
    for (int i = 0; s == HG_OK && extra && i < extra->count; i++)
        s = hg_metadata_set(&all, extra->keys[i], extra->values[i]);
    /* Config keys are stored as "config.<key>" so they cannot collide with extra metadata. */
    for (int i = 0; s == HG_OK && i < m->config.count; i++) {
        char key[256];
        snprintf(key, sizeof key, "config.%s", m->config.keys[i]);
        s = hg_metadata_set(&all, key, m->config.values[i]);
    }
    if (s == HG_OK)
        s = hg_safetensors_save(path, &m->params, &all);
    hg_metadata_free(&all);
    return s;
}

hg_model *hg_model_load(const char *path, hg_metadata *extra_out)
{
    size_t len = strlen(path);
    if (len > 5 && strcmp(path + len - 5, ".onnx") == 0) {
        /* An ONNX file: the "onnx" architecture wraps it (its config is derived from it). */
        hg_metadata c;
        hg_metadata_init(&c);
        hg_model *m = hg_metadata_set(&c, "path", path) == HG_OK
                          ? hg_model_create("onnx", &c, 0)
                          : NULL;
        hg_metadata_free(&c);
        return m;
    }
    /* Read the metadata first (through a throwaway load), build, then load strictly. */
    hg_params file;
    hg_params_init(&file);
    hg_metadata meta;
    hg_metadata_init(&meta);
    hg_status s = hg_safetensors_load(path, &file, &meta);
    hg_params_free(&file);
    if (s != HG_OK) {
        hg_metadata_free(&meta);
        return NULL;
    }
    const char *arch = hg_metadata_get(&meta, "config.arch");
    if (!arch) {
        hg_error(HG_ERR_FORMAT, "%s: not a hinge model file (no config.arch metadata)", path);
        hg_metadata_free(&meta);
        return NULL;
    }
    hg_metadata config, extra;
    hg_metadata_init(&config);
    hg_metadata_init(&extra);
    for (int i = 0; s == HG_OK && i < meta.count; i++) {
        if (strncmp(meta.keys[i], "config.", 7) == 0)
            s = hg_metadata_set(&config, meta.keys[i] + 7, meta.values[i]);
        else
            s = hg_metadata_set(&extra, meta.keys[i], meta.values[i]);
    }
    hg_model *m = s == HG_OK ? hg_model_create(arch, &config, 0) : NULL;
    if (m && hg_safetensors_load_into(path, &m->params, true, NULL) != HG_OK) {
        hg_model_free(m);
        m = NULL;
    }
    if (m && extra_out)
        for (int i = 0; i < extra.count; i++)
            hg_metadata_set(extra_out, extra.keys[i], extra.values[i]);
    if (!m)
        hg_error_context(HG_ERR_FORMAT, "%s", path);
    hg_metadata_free(&config);
    hg_metadata_free(&extra);
    hg_metadata_free(&meta);
    return m;
}
