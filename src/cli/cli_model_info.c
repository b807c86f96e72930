/* hinge info for model files (*.safetensors written by hinge train or hinge convert): the
 * architecture, its config (the geometry of a learned reconstruction model included), the
 * parameter count and the training record stored with the weights. */
#include "cli.h"

#include "hinge/io.h"
#include "hinge/nn.h"

#include <cJSON.h>
#include <string.h>

static cJSON *metadata_json(const hg_metadata *m)
{
    cJSON *o = cJSON_CreateObject();
    for (int32_t i = 0; i < m->count; i++)
        cJSON_AddStringToObject(o, m->keys[i], m->values[i]);
    return o;
}

static void metadata_text(const char *title, const hg_metadata *m)
{
    if (m->count == 0)
        return;
    printf("%s:\n", title);
    for (int32_t i = 0; i < m->count; i++)
        printf("  %-24s %s\n", m->keys[i], m->values[i]);
}

int hg_cli_model_info(const char *path, bool json)
{
    if (!hg_cli_ends_with(path, ".safetensors"))
        return -1;
    hg_metadata extra;
    hg_metadata_init(&extra);
    hg_model *m = hg_model_load(path, &extra);
    if (!m) {
        hg_metadata_free(&extra);
        return hg_cli_fail("info");
    }
    long long params = (long long)hg_params_count_trainable(&m->params);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddStringToObject(o, "format", "safetensors model");
        cJSON_AddStringToObject(o, "arch", m->arch->name);
        cJSON_AddNumberToObject(o, "parameters", (double)params);
        cJSON_AddNumberToObject(o, "tensors", m->params.count);
        cJSON_AddItemToObject(o, "config", metadata_json(&m->config));
        cJSON_AddItemToObject(o, "metadata", metadata_json(&extra));
        char *text = cJSON_Print(o);
        printf("%s\n", text ? text : "{}");
        cJSON_free(text);
        cJSON_Delete(o);
    } else {
        printf("%s: hinge model, architecture %s, %lld parameters in %d tensors\n", path,
               m->arch->name, params, (int)m->params.count);
        metadata_text("config", &m->config);
        metadata_text("metadata", &extra);
    }
    hg_model_free(m);
    hg_metadata_free(&extra);
    return HG_EXIT_OK;
}
