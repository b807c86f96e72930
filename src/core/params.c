/* Named parameter lists: what optimizers update and checkpoints store. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

void hg_params_init(hg_params *p) { memset(p, 0, sizeof *p); }

void hg_params_free(hg_params *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->count; i++) {
        free(p->items[i].name);
        hg_tensor_free(p->items[i].tensor);
    }
    free(p->items);
    memset(p, 0, sizeof *p);
}

hg_tensor *hg_params_get(const hg_params *p, const char *name)
{
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->items[i].name, name) == 0)
            return p->items[i].tensor;
    return NULL;
}

hg_status hg_params_adopt(hg_params *p, const char *name, hg_tensor *t)
{
    if (!t || t->ctx)
        return hg_error(HG_ERR_INVALID, "parameter '%s': expected a heap tensor", name);
    if (hg_params_get(p, name))
        return hg_error(HG_ERR_INVALID, "parameter '%s' already exists", name);
    if (p->count == p->capacity) {
        int cap = p->capacity ? 2 * p->capacity : 16;
        hg_param *items = realloc(p->items, (size_t)cap * sizeof *items);
        if (!items)
            return hg_error(HG_ERR_NOMEM, "out of memory adding parameter '%s'", name);
        p->items = items;
        p->capacity = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return hg_error(HG_ERR_NOMEM, "out of memory adding parameter '%s'", name);
    p->items[p->count].name = copy;
    p->items[p->count].tensor = t;
    t->name = copy;
    p->count++;
    return HG_OK;
}

hg_tensor *hg_params_add(hg_params *p, const char *name, bool trainable, int ndim,
                         const int64_t *shape)
{
    if (hg_params_get(p, name)) {
        hg_error(HG_ERR_INVALID, "parameter '%s' already exists", name);
        return NULL;
    }
    hg_tensor *t = hg_tensor_new(NULL, HG_F32, ndim, shape);
    if (!t)
        return NULL;
    t->requires_grad = trainable;
    if (hg_params_adopt(p, name, t) != HG_OK) {
        hg_tensor_free(t);
        return NULL;
    }
    return t;
}

void hg_params_zero_grad(hg_params *p)
{
    for (int i = 0; i < p->count; i++) {
        hg_tensor *t = p->items[i].tensor;
        if (t->grad)
            memset(t->grad, 0, (size_t)hg_tensor_nfloats(t) * sizeof(float));
    }
}

int64_t hg_params_count_trainable(const hg_params *p)
{
    int64_t n = 0;
    for (int i = 0; i < p->count; i++)
        if (p->items[i].tensor->requires_grad)
            n += hg_tensor_nfloats(p->items[i].tensor);
    return n;
}
