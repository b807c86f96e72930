/* ONNX import: every fixture model (PyTorch exports at opsets 9-17 and hand-built graphs) run
 * on hinge ops against PyTorch's output (<= 1e-4 relative), then the ways a file can be
 * wrong: truncated, wrong tensor sizes, cycles, dangling inputs, unsupported operators
 * (listed all at once), external data outside its file or directory, bad input shapes. */
#include "test_util.h"

#include "hinge/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check_model(const hg_params *expected, const char *name, double *worst)
{
    char path[512], key[256];
    snprintf(path, sizeof path, "onnx/%s.onnx", name);
    hg_onnx_model *m = hg_onnx_load(hg_test_fixture(path));
    CHECK_MSG(m != NULL, "%s: %s", name, hg_error_message());
    if (!m)
        return;
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    hg_tensor *in[8] = {NULL}, *out[4] = {NULL};
    int32_t ni = hg_onnx_num_inputs(m);
    CHECK(ni >= 1 && ni <= 8 && hg_onnx_num_outputs(m) == 1);
    for (int32_t i = 0; i < ni && i < 8; i++) {
        snprintf(key, sizeof key, "%s.x%d", name, (int)i);
        in[i] = hg_test_get(expected, key);
    }
    snprintf(key, sizeof key, "%s.y", name);
    hg_tensor *want = hg_test_get(expected, key);
    double t0 = now();
    hg_status s = hg_onnx_run(m, ctx, in, out);
    double ms = 1e3 * (now() - t0);
    CHECK_MSG(s == HG_OK, "%s: %s", name, hg_error_message());
    if (s == HG_OK) {
        CHECK_MSG(out[0]->numel == want->numel, "%s: %lld elements, expected %lld", name,
                  (long long)out[0]->numel, (long long)want->numel);
        if (out[0]->numel == want->numel) {
            double err = hg_test_rel_err(out[0]->data, want->data, want->numel);
            CHECK_MSG(err <= 1e-4, "%s: relative error %.3g", name, err);
            if (err > *worst)
                *worst = err;
            if (strncmp(name, "hand", 4) && strchr("ulr", name[0]) && !strstr(name, "relu") &&
                !strstr(name, "leaky") && !strstr(name, "log_"))
                printf("  %-28s rel err %.2e  %7.2f ms  %lld params, %lld nodes run\n", name, err,
                       ms, (long long)hg_onnx_param_count(m), (long long)hg_onnx_num_nodes(m));
        }
    }
    hg_ctx_free(ctx);
    hg_onnx_free(m);
}

static void run_fixture_models(void)
{
    hg_params expected;
    hg_params_init(&expected);
    hg_test_load_fixture("onnx/expected.safetensors", &expected);
    FILE *f = fopen(hg_test_fixture("onnx/models.txt"), "r");
    CHECK(f != NULL);
    char line[256];
    int count = 0;
    double worst = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        check_model(&expected, line, &worst);
        count++;
    }
    if (f)
        fclose(f);
    CHECK(count >= 80);
    printf("%d models, worst relative error %.3g\n", count, worst);
    hg_params_free(&expected);
}

static void check_info(void)
{
    hg_onnx_model *m = hg_onnx_load(hg_test_fixture("onnx/resnet18_op17.onnx"));
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(hg_onnx_opset(m) == 17);
    CHECK(hg_onnx_num_inputs(m) == 1 && strcmp(hg_onnx_input_name(m, 0), "x0") == 0);
    int64_t shape[8];
    CHECK(hg_onnx_input_shape(m, 0, shape) == 4 && shape[0] == 2 && shape[1] == 3 &&
          shape[3] == 64);
    int64_t convs = 0, total = 0;
    for (int32_t i = 0; i < hg_onnx_num_op_types(m); i++) {
        int64_t c;
        const char *op = hg_onnx_op_type(m, i, &c);
        total += c;
        if (strcmp(op, "Conv") == 0)
            convs = c;
    }
    /* stem + 8 blocks x 2 + 3 downsampling convs; batch norm folded into Conv by the exporter */
    CHECK_MSG(convs == 20, "Conv count %lld", (long long)convs);
    CHECK(total >= convs);
    /* ResNet-18 at width 8: parameters counted from the initializers (PyTorch: same sum) */
    CHECK(hg_onnx_param_count(m) > 150000 && hg_onnx_param_count(m) < 200000);
    /* wrong input shape is refused with both shapes named */
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(ctx, 2, 3, 32, 64), *y = NULL;
    CHECK_FAILS(hg_onnx_run(m, ctx, &x, &y), HG_ERR_INVALID, "expected [2, 3, 64, 64], got [2, 3, 32, 64]");
    hg_ctx_free(ctx);
    hg_onnx_free(m);
    /* Shape -> Cast -> Gather -> Concat -> Reshape and ConstantOfShape on a static input fold
     * at load: only the Add and the Reshape of the data remain (8 nodes stored) */
    m = hg_onnx_load(hg_test_fixture("onnx/hand_shape_fold_op13.onnx"));
    CHECK(m && hg_onnx_num_nodes(m) == 2);
    hg_onnx_free(m);
    /* dynamic batch and spatial size: a size the U-Net cannot take fails at run time with
     * the node named (33 -> 16 -> 8 -> 16 -> 32 does not concatenate with 33) */
    m = hg_onnx_load(hg_test_fixture("onnx/unet2d_dynamic_op13.onnx"));
    CHECK(m != NULL);
    ctx = hg_ctx_new();
    x = hg_new(ctx, 1, 1, 33, 33);
    CHECK_FAILS(hg_onnx_run(m, ctx, &x, &y), HG_ERR_INVALID, "onnx: Concat node '/Concat_1'");
    hg_ctx_free(ctx);
    hg_onnx_free(m);
    /* x.view(x.size(0), -1) after a conv: Shape -> Gather -> Unsqueeze -> Concat on the
     * conv's output. Batch fixed: folded at load (Conv, Relu, Reshape, Gemm remain); batch
     * dynamic: evaluated each run. Both give PyTorch's output. */
    hg_params sx;
    hg_params_init(&sx);
    hg_test_load_fixture("onnx/shape_chain/expected.safetensors", &sx);
    static const char *const chain[2] = {"onnx/shape_chain/fixed.onnx",
                                         "onnx/shape_chain/dynamic.onnx"};
    for (int v = 0; v < 2; v++) {
        m = hg_onnx_load(hg_test_fixture(chain[v]));
        CHECK_MSG(m && hg_onnx_num_nodes(m) == (v ? 8 : 4), "%s: %lld nodes", chain[v],
                  m ? (long long)hg_onnx_num_nodes(m) : -1ll);
        ctx = hg_ctx_new();
        hg_ctx_set_grad(ctx, false);
        const hg_tensor *xs = hg_test_get(&sx, "dynamic.x"), *ys = hg_test_get(&sx, "dynamic.y");
        x = hg_tensor_new(ctx, HG_F32, xs->ndim, xs->shape);
        memcpy(x->data, xs->data, (size_t)xs->numel * sizeof(float));
        y = NULL;
        CHECK_OK(m ? hg_onnx_run(m, ctx, &x, &y) : HG_ERR_INVALID);
        CHECK(y && y->numel == ys->numel && hg_test_rel_err(y->data, ys->data, ys->numel) < 1e-5);
        if (v == 0) { /* the folded shapes hold for the declared batch only */
            x = hg_new(ctx, 2, 1, 6, 5);
            CHECK_FAILS(hg_onnx_run(m, ctx, &x, &y), HG_ERR_INVALID, "expected [3, 1, 6, 5]");
        }
        hg_ctx_free(ctx);
        hg_onnx_free(m);
    }
    hg_params_free(&sx);
    /* F.interpolate(size=...) exports Shape/Slice/Concat around Resize: one node remains */
    m = hg_onnx_load(hg_test_fixture("onnx/upsample_nearest_size_op13.onnx"));
    CHECK(m && hg_onnx_num_nodes(m) == 1);
    hg_onnx_free(m);
}

static void check_bad_files(void)
{
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/unsupported.onnx")),
                    "4 unsupported nodes: Cos (node 'my_cos', opset 13): operator not supported; "
                    "Resize (node 'my_resize', opset 13): mode 'cubic' not supported");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/unsupported.onnx")),
                    "Conv (node 'my_conv', opset 13): auto_pad 'SAME_UPPER' not supported");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/unsupported.onnx")),
                    "NonZero (node 'my_nonzero', opset 13)");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/cycle.onnx")), "cycle through");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/dangling.onnx")),
                    "Add node 'add': input 'ghost' is not produced");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/wrong_size.onnx")),
                    "tensor 'w': raw_data holds 5 elements, its shape needs 6");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/opset18.onnx")),
                    "opset 18 is not supported (9 to 17 are)");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/ext_offset.onnx")),
                    "expected 24 from offset 16");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/ext_escape.onnx")),
                    "must be a relative path inside the model's directory");
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/bad/missing.onnx")), "missing.onnx");
    hg_onnx_model *km = hg_onnx_load(hg_test_fixture("onnx/bad/kernel_mismatch.onnx"));
    CHECK(km != NULL);
    if (km) {
        hg_ctx *ctx = hg_ctx_new();
        hg_tensor *x = hg_new(ctx, 1, 2, 3, 4), *y = NULL;
        CHECK_FAILS(hg_onnx_run(km, ctx, &x, &y), HG_ERR_INVALID,
                    "onnx: Conv node 'conv_k' (opset 13): kernel_shape does not match the weight "
                    "[3, 2, 1, 1]");
        hg_ctx_free(ctx);
        hg_onnx_free(km);
    }
    CHECK_NULL_WITH(hg_onnx_load_buffer("\x0a\xff\xff", 3, NULL), "not a valid ONNX protobuf");

    /* Every truncation of a real model fails cleanly (or, cut at a field boundary, loads a
     * smaller valid graph); none crashes (ASan build). */
    unsigned char *data = NULL;
    size_t size = 0;
    CHECK_OK(hg_read_file(hg_test_fixture("onnx/pad_constant_op13.onnx"), 1 << 24, &data, &size));
    int refused = 0, tried = 0;
    for (size_t cut = 0; data && cut < size; cut += 1 + cut / 7) {
        hg_error_clear();
        hg_onnx_model *m = hg_onnx_load_buffer(data, cut, ".");
        refused += m == NULL;
        tried++;
        hg_onnx_free(m);
    }
    CHECK_MSG(refused >= tried - 2, "%d of %d truncations refused", refused, tried);
    /* Flipped bytes: must not crash; loaded models must run or fail with a message. */
    for (int k = 0; data && k < 400; k++) {
        unsigned char *copy = malloc(size);
        memcpy(copy, data, size);
        size_t at = (size_t)((k * 2654435761u) % size);
        copy[at] ^= (unsigned char)(1 + k % 255);
        hg_onnx_model *m = hg_onnx_load_buffer(copy, size, ".");
        if (m) {
            hg_ctx *ctx = hg_ctx_new();
            hg_tensor *x = hg_new(ctx, 1, 4, 8, 8), *y = NULL;
            hg_status s = hg_onnx_run(m, ctx, &x, &y);
            CHECK(s == HG_OK || strlen(hg_error_message()) > 10);
            hg_ctx_free(ctx);
        }
        hg_onnx_free(m);
        free(copy);
    }
    free(data);
}

/* Fuzzer findings (tests/fixtures/onnx/fuzz/): loaded from memory and run on zeros of the
 * declared input shapes, exactly as tools/fuzz/fuzz_onnx.c does; under ASan/UBSan any
 * regression aborts. */
static void replay_fuzz_findings(void)
{
    const char *dir = hg_test_fixture("onnx/fuzz");
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int count = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unsigned char *data = NULL;
        size_t size = 0;
        CHECK_OK(hg_read_file(path, 1 << 24, &data, &size));
        hg_onnx_model *m = hg_onnx_load_buffer(data, size, NULL);
        if (m && hg_onnx_num_inputs(m) <= 8) {
            hg_ctx *ctx = hg_ctx_new();
            hg_tensor *in[8] = {NULL}, *out[64] = {NULL};
            bool ok = hg_onnx_num_outputs(m) <= 64;
            for (int32_t i = 0; ok && i < hg_onnx_num_inputs(m); i++) {
                int64_t s[8];
                int32_t nd = hg_onnx_input_shape(m, i, s);
                ok = nd >= 1 && nd <= HG_MAX_DIMS;
                for (int32_t k = 0; ok && k < nd; k++) {
                    s[k] = s[k] < 0 ? 1 : s[k];
                    ok = s[k] > 0 && s[k] <= 256;
                }
                if (ok)
                    ok = (in[i] = hg_tensor_new(ctx, HG_F32, nd, s)) != NULL;
            }
            if (ok) {
                hg_status st = hg_onnx_run(m, ctx, in, out);
                CHECK(st == HG_OK || strstr(hg_error_message(), "onnx"));
            }
            hg_ctx_free(ctx);
        }
        hg_onnx_free(m);
        free(data);
        count++;
    }
    if (d)
        closedir(d);
    CHECK(count >= 1);
}

int main(void)
{
    replay_fuzz_findings();
    /* fuzzer finding: a Shape node whose input is "" (omitted) is refused at load */
    CHECK_NULL_WITH(hg_onnx_load(hg_test_fixture("onnx/fuzz/crash-shape-omitted-input.onnx")),
                    "has no input 0 (it is required)");
    run_fixture_models();
    check_info();
    check_bad_files();
    return hg_test_finish("onnx");
}
