/* PNG figures: pixels read back with libpng's decoder, window presets, overlays, montages,
 * errors and atomicity. */
#include "hinge/image.h"
#include "test_util.h"

#include <png.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Decodes a PNG into a fresh buffer in the given format; NULL on failure. */
static uint8_t *decode(const char *path, int channels, int64_t *h, int64_t *w)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return NULL;
    im.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(im));
    if (!png_image_finish_read(&im, NULL, buf, 0, NULL)) {
        free(buf);
        return NULL;
    }
    *h = im.height;
    *w = im.width;
    return buf;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

int main(void)
{
    /* Presets in HU and the mapping c - w/2 .. c + w/2 -> 0 .. 255. */
    hg_window w;
    CHECK_OK(hg_window_preset("brain", &w));
    CHECK(w.center == 40 && w.width == 80);
    CHECK_OK(hg_window_preset("lung", &w));
    CHECK(w.center == -600 && w.width == 1500);
    CHECK_OK(hg_window_preset("bone", &w));
    CHECK_OK(hg_window_preset("subdural", &w));
    CHECK_OK(hg_window_preset("abdomen", &w));
    CHECK(w.center == 50 && w.width == 400);
    CHECK_FAILS(hg_window_preset("liver", &w), HG_ERR_INVALID, "window preset 'liver': unknown");
    hg_window brain = {40, 80};
    float hu[6] = {-1000, 0, 40, 60, 80, NAN};
    uint8_t u[6];
    CHECK_OK(hg_window_apply(hu, 6, &brain, u));
    CHECK(u[0] == 0 && u[1] == 0 && u[2] == 128 && u[3] == 191 && u[4] == 255 && u[5] == 0);
    hg_window zero = {0, 0};
    CHECK_FAILS(hg_window_apply(hu, 6, &zero, u), HG_ERR_INVALID, "width must be > 0");

    /* Gray image through an auto window: a ramp 0..255 must come back exactly. */
    hg_tensor *img = hg_new(NULL, 1, 16, 17);
    for (int64_t i = 0; i < img->numel; i++)
        img->data[i] = (float)(i * 255) / (float)(img->numel - 1) * 3.0f - 100.0f;
    const char *p = hg_test_tmp("ramp.png");
    CHECK_OK(hg_png_write_image(p, img, NULL, NULL, 0));
    int64_t h, wd;
    uint8_t *px = decode(p, 1, &h, &wd);
    REQUIRE(px);
    CHECK(h == 16 && wd == 17);
    int bad = 0;
    for (int64_t i = 0; i < h * wd; i++)
        bad += px[i] != (uint8_t)floor((double)i * 255.0 / (double)(h * wd - 1) + 0.5);
    CHECK_MSG(bad == 0, "%d ramp pixels differ", bad);
    free(px);

    /* Label overlay: background gray, label 1 blended at alpha. */
    hg_tensor *lab = hg_new(NULL, 16, 17);
    lab->data[0] = 1;
    lab->data[5] = 2;
    lab->data[6] = 1e30f; /* absurd label: coloured, not undefined behaviour */
    p = hg_test_tmp("overlay.png");
    CHECK_OK(hg_png_write_image(p, img, NULL, lab, 1.0f));
    px = decode(p, 3, &h, &wd);
    REQUIRE(px);
    CHECK(px[0] == 230 && px[1] == 25 && px[2] == 75); /* label 1, opaque */
    CHECK(px[15] == 60 && px[16] == 180 && px[17] == 75);
    uint8_t g = px[3 * 7];
    CHECK(px[3 * 7 + 1] == g && px[3 * 7 + 2] == g); /* unlabeled stays gray */
    free(px);
    hg_tensor *lab_bad = hg_new(NULL, 16, 16);
    hg_tensor_set_name(lab_bad, "seg");
    CHECK_FAILS(hg_png_write_image(p, img, NULL, lab_bad, 0.5f), HG_ERR_INVALID,
                "labels 'seg' are 16 x 16");
    CHECK_FAILS(hg_png_write_image(p, img, NULL, lab, 1.5f), HG_ERR_INVALID, "alpha 1.5");

    /* Montage: widths add up with gaps, gap filled, panels copied. */
    hg_tensor *a = hg_new(NULL, 4, 3), *b = hg_new(NULL, 1, 4, 5);
    hg_tensor_fill(a, 1.0f);
    hg_tensor_fill(b, 2.0f);
    const hg_tensor *panels[3] = {a, b, a};
    hg_tensor *m = hg_montage(panels, 3, 2, -1.0f);
    REQUIRE(m);
    CHECK(m->ndim == 2 && m->shape[0] == 4 && m->shape[1] == 3 + 5 + 3 + 4);
    CHECK(m->data[2] == 1 && m->data[3] == -1 && m->data[4] == -1 && m->data[5] == 2);
    CHECK(m->data[3 * 15 + 14] == 1 && m->data[3 * 15 + 11] == -1);
    CHECK_OK(hg_png_write_image(hg_test_tmp("montage.png"), m, &(hg_window){0.5f, 3.0f}, NULL, 0));
    hg_tensor *c = hg_new(NULL, 5, 3);
    hg_tensor_set_name(c, "tall");
    const hg_tensor *mixed[2] = {a, c};
    CHECK_NULL_WITH(hg_montage(mixed, 2, 1, 0), "image 1 'tall' has height 5, image 0 has 4");
    hg_tensor *vol = hg_new(NULL, 2, 4, 3);
    const hg_tensor *v1[1] = {vol};
    CHECK_NULL_WITH(hg_montage(v1, 1, 0, 0), "expected a real [H, W] tensor");

    /* Raw writer errors; a failed write leaves no file. */
    uint8_t raw[12] = {0};
    CHECK_FAILS(hg_png_write(hg_test_tmp("x.png"), raw, 2, 2, 2), HG_ERR_INVALID, "2 channels");
    CHECK_FAILS(hg_png_write("/nonexistent-dir/x.png", raw, 2, 2, 1), HG_ERR_IO, "x.png");
    CHECK(!exists("/nonexistent-dir/x.png"));
    CHECK_OK(hg_png_write(hg_test_tmp("rgb.png"), raw, 2, 2, 3));

    hg_tensor_free(img), hg_tensor_free(lab), hg_tensor_free(lab_bad), hg_tensor_free(a);
    hg_tensor_free(b), hg_tensor_free(c), hg_tensor_free(m), hg_tensor_free(vol);
    return hg_test_finish("test_png");
}
