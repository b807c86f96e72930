/* hinge info for ONNX models (called from cmd_info.c for *.onnx): inputs and outputs with
 * their declared shapes, opset, producer, operator histogram and parameter count. */
#include "cli.h"

#include "hinge/onnx.h"

#include <cJSON.h>
#include <string.h>

static void shape_text(int32_t nd, const int64_t *s, char *buf, size_t size)
{
    if (nd < 0) {
        snprintf(buf, size, "(unknown)");
        return;
    }
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int32_t d = 0; d < nd && len < size; d++)
        len += (size_t)(s[d] < 0 ? snprintf(buf + len, size - len, "%s?", d ? ", " : "")
                                 : snprintf(buf + len, size - len, "%s%lld", d ? ", " : "",
                                            (long long)s[d]));
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

static cJSON *io_json(const hg_onnx_model *m, bool inputs)
{
    cJSON *a = cJSON_CreateArray();
    int32_t n = inputs ? hg_onnx_num_inputs(m) : hg_onnx_num_outputs(m);
    for (int32_t i = 0; i < n; i++) {
        int64_t s[8];
        int32_t nd = inputs ? hg_onnx_input_shape(m, i, s) : hg_onnx_output_shape(m, i, s);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", inputs ? hg_onnx_input_name(m, i) : hg_onnx_output_name(m, i));
        cJSON *sh = nd < 0 ? cJSON_CreateNull() : cJSON_CreateArray();
        for (int32_t d = 0; d < nd; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)s[d]));
        cJSON_AddItemToObject(o, "shape", sh);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

int hg_cli_onnx_info(const char *path, bool json)
{
    if (!hg_cli_ends_with(path, ".onnx"))
        return -1;
    hg_onnx_model *m = hg_onnx_load(path);
    if (!m)
        return hg_cli_fail("info");
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddStringToObject(o, "format", "onnx");
        cJSON_AddNumberToObject(o, "opset", hg_onnx_opset(m));
        cJSON_AddStringToObject(o, "producer", hg_onnx_producer(m));
        cJSON_AddItemToObject(o, "inputs", io_json(m, true));
        cJSON_AddItemToObject(o, "outputs", io_json(m, false));
        cJSON_AddNumberToObject(o, "parameters", (double)hg_onnx_param_count(m));
        cJSON *h = cJSON_CreateObject();
        for (int32_t i = 0; i < hg_onnx_num_op_types(m); i++) {
            int64_t c;
            const char *op = hg_onnx_op_type(m, i, &c);
            cJSON_AddNumberToObject(h, op, (double)c);
        }
        cJSON_AddItemToObject(o, "operators", h);
        cJSON_AddNumberToObject(o, "nodes_after_folding", (double)hg_onnx_num_nodes(m));
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s ? s : "{}");
        cJSON_free(s);
        cJSON_Delete(o);
        hg_onnx_free(m);
        return HG_EXIT_OK;
    }
    char buf[160];
    printf("file:       %s\nformat:     onnx, opset %d, producer '%s'\n", path,
           (int)hg_onnx_opset(m), hg_onnx_producer(m));
    for (int32_t k = 0; k < 2; k++) {
        int32_t n = k ? hg_onnx_num_outputs(m) : hg_onnx_num_inputs(m);
        for (int32_t i = 0; i < n; i++) {
            int64_t s[8];
            int32_t nd = k ? hg_onnx_output_shape(m, i, s) : hg_onnx_input_shape(m, i, s);
            shape_text(nd, s, buf, sizeof buf);
            printf("%-11s %s %s\n", k ? "output:" : "input:",
                   k ? hg_onnx_output_name(m, i) : hg_onnx_input_name(m, i), buf);
        }
    }
    printf("parameters: %lld\noperators: ", (long long)hg_onnx_param_count(m));
    for (int32_t i = 0; i < hg_onnx_num_op_types(m); i++) {
        int64_t c;
        const char *op = hg_onnx_op_type(m, i, &c);
        printf("%s%s %lld", i ? ", " : "", op, (long long)c);
    }
    printf("\nnodes run:  %lld (after folding constants)\n", (long long)hg_onnx_num_nodes(m));
    hg_onnx_free(m);
    return HG_EXIT_OK;
}
