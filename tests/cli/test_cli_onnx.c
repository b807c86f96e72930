/* hinge info and hinge infer on ONNX models: the U-Net fixture run through the CLI on a NIfTI
 * image must reproduce PyTorch's output (and its argmax), with the input's geometry. */
#include "test_util.h"

#include "hinge/image.h"

#include <stdio.h>
#include <string.h>

static char out_text[1 << 16], err_text[1 << 14];

static void slurp(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static int run(const char *args)
{
    const char *o = hg_test_tmp("stdout.txt"), *e = hg_test_tmp("stderr.txt");
    int rc = hg_test_run("%s %s > %s 2> %s", HINGE_BINARY, args, o, e);
    slurp(o, out_text, sizeof out_text);
    slurp(e, err_text, sizeof err_text);
    return rc;
}

int main(void)
{
    hg_params fx;
    hg_test_load_fixture("onnx/expected.safetensors", &fx);
    const char *model = hg_test_fixture("onnx/unet2d_op13.onnx");
    char args[2048];

    snprintf(args, sizeof args, "info %s", model);
    CHECK(run(args) == 0);
    CHECK(strstr(out_text, "opset 13") && strstr(out_text, "input:      x0 [1, 1, 32, 32]") &&
          strstr(out_text, "parameters: 26491") && strstr(out_text, "Conv 9"));
    snprintf(args, sizeof args, "info --json %s", model);
    CHECK(run(args) == 0 && strstr(out_text, "\"operators\":{") && strstr(out_text, "\"opset\":13"));
    snprintf(args, sizeof args, "info %s", hg_test_fixture("onnx/bad/unsupported.onnx"));
    CHECK(run(args) == 1 && strstr(err_text, "4 unsupported nodes"));

    /* the fixture input as a 32x32 NIfTI with a non-trivial geometry */
    hg_tensor *x = hg_test_get(&fx, "unet2d_op13.x0"), *want = hg_test_get(&fx, "unet2d_op13.y");
    hg_image img;
    hg_image_init(&img);
    img.data = hg_new(NULL, 32, 32);
    CHECK(img.data != NULL && x->numel == 1024);
    memcpy(img.data->data, x->data, sizeof(float) * 1024);
    double sp[2] = {0.7, 1.3};
    CHECK_OK(hg_image_set_spacing(&img, 2, sp));
    const char *in_path = hg_test_tmp("in.nii.gz"), *out_path = hg_test_tmp("out.nii.gz");
    CHECK_OK(hg_nifti_write(in_path, &img, NULL));
    snprintf(args, sizeof args, "infer --model %s %s -o %s --threads 2", model, in_path, out_path);
    CHECK_MSG(run(args) == 0, "%s", err_text);
    hg_image out;
    hg_image_init(&out);
    CHECK_OK(hg_nifti_read(out_path, &out));
    CHECK(out.data && out.data->ndim == 3 && out.data->shape[0] == 3 && out.data->shape[2] == 32);
    if (out.data && out.data->numel == want->numel) {
        double err = hg_test_rel_err(out.data->data, want->data, want->numel);
        CHECK_MSG(err <= 1e-5, "infer vs PyTorch: %g", err);
        printf("hinge infer unet2d vs PyTorch: relative error %.2e\n", err);
    }
    CHECK_NEAR(out.spacing[0], 0.7, 1e-6);
    CHECK_NEAR(out.spacing[1], 1.3, 1e-6);
    hg_image_free(&out);

    snprintf(args, sizeof args, "infer --model %s %s -o %s --argmax", model, in_path, out_path);
    CHECK_MSG(run(args) == 0, "%s", err_text);
    hg_image_init(&out);
    CHECK_OK(hg_nifti_read(out_path, &out));
    int wrong = 0;
    for (int64_t v = 0; out.data && v < 32 * 32; v++) {
        int best = 0;
        for (int c = 1; c < 3; c++)
            if (want->data[c * 1024 + v] > want->data[best * 1024 + v])
                best = c;
        wrong += (int)out.data->data[v] != best;
    }
    CHECK_MSG(out.data && out.data->numel == 1024 && wrong == 0, "%d labels differ", wrong);
    CHECK(out.intent_code == 1002);
    hg_image_free(&out);

    /* a 3-D image does not fit the 2-D model's 32x32 input: the message says why */
    hg_image_free(&img);
    hg_image_init(&img);
    img.data = hg_new(NULL, 4, 16, 32);
    CHECK_OK(hg_nifti_write(in_path, &img, NULL));
    snprintf(args, sizeof args, "infer --model %s %s -o %s", model, in_path, out_path);
    CHECK(run(args) == 1 && strstr(err_text, "expected [1, 1, 32, 32], got [1, 4, 16, 32]"));
    snprintf(args, sizeof args, "infer %s -o %s", in_path, out_path);
    CHECK(run(args) == 2 && strstr(err_text, "--model"));
    hg_image_free(&img);
    hg_params_free(&fx);
    return hg_test_finish("cli_onnx");
}
