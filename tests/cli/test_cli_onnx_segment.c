/* ONNX models run through the same commands as native ones: `hinge segment --model x.onnx`
 * on the PyTorch-exported 2-D U-Net fixture gives the argmax of PyTorch's own output. */
#include "test_util.h"

#include <unistd.h>

int main(void)
{
    hg_params fx;
    hg_test_load_fixture("onnx/expected.safetensors", &fx);
    hg_tensor *x = hg_test_get(&fx, "unet2d_op13.x0"), *y = hg_test_get(&fx, "unet2d_op13.y");
    REQUIRE(x->numel == 32 * 32 && y->shape[1] == 3);
    hg_image img;
    hg_image_init(&img);
    img.data = hg_tensor_clone(NULL, x);
    img.data->ndim = 2;
    img.data->shape[0] = 32, img.data->shape[1] = 32;
    const double sp[2] = {0.9, 0.9};
    CHECK_OK(hg_image_set_spacing(&img, 2, sp));
    const char *in = hg_test_tmp("onnx_seg_in.nii.gz"), *out = hg_test_tmp("onnx_seg_out.nii.gz");
    CHECK_OK(hg_nifti_write(in, &img, NULL));
    hg_image_free(&img);
    unlink(out);
    CHECK(hg_test_run("%s segment --model %s --normalize none %s -o %s", HINGE_BINARY,
                      hg_test_fixture("onnx/unet2d_op13.onnx"), in, out) == 0);
    hg_image seg;
    hg_image_init(&seg);
    CHECK_OK(hg_nifti_read(out, &seg));
    REQUIRE(seg.data && seg.data->numel == 32 * 32);
    int64_t differ = 0;
    for (int64_t i = 0; i < 32 * 32; i++) {
        int best = 0;
        for (int k = 1; k < 3; k++)
            if (y->data[k * 1024 + i] > y->data[best * 1024 + i])
                best = k;
        differ += (int)seg.data->data[i] != best;
    }
    CHECK_MSG(differ == 0, "%lld of 1024 labels differ from PyTorch's argmax", (long long)differ);
    CHECK_NEAR(seg.spacing[0], 0.9, 1e-6);
    hg_image_free(&seg);
    /* A fixed-size ONNX model refuses a window of another size, naming both. */
    CHECK(hg_test_run("%s segment --model %s --window 16 --normalize none %s -o %s 2>/dev/null",
                      HINGE_BINARY, hg_test_fixture("onnx/unet2d_op13.onnx"), in,
                      hg_test_tmp("onnx_seg_bad.nii.gz")) == 1);
    CHECK(access(hg_test_tmp("onnx_seg_bad.nii.gz"), F_OK) != 0);
    hg_params_free(&fx);
    return hg_test_finish("test_cli_onnx_segment");
}
