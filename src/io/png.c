/* 8-bit PNG figures through libpng: windowing, label overlays, montages. Writes are atomic. */
#include "hinge/image.h"
#include "hinge/io.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>

/* ---- windows --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    hg_window w;
} presets[] = {
    {"brain", {40.0f, 80.0f}},    {"subdural", {75.0f, 200.0f}}, {"lung", {-600.0f, 1500.0f}},
    {"bone", {400.0f, 1800.0f}}, {"abdomen", {50.0f, 400.0f}},
};

hg_status hg_window_preset(const char *name, hg_window *w)
{
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (name && strcmp(name, presets[i].name) == 0) {
            *w = presets[i].w;
            return HG_OK;
        }
    return hg_error(HG_ERR_INVALID, "window preset '%s': unknown; expected brain, subdural, "
                    "lung, bone or abdomen", name ? name : "(null)");
}

hg_status hg_window_apply(const float *x, int64_t n, const hg_window *w, uint8_t *out)
{
    double lo, width;
    if (w) {
        if (!(w->width > 0) || !isfinite(w->center) || !isfinite(w->width))
            return hg_error(HG_ERR_INVALID, "window: center %g width %g; the width must be > 0",
                            (double)w->center, (double)w->width);
        lo = (double)w->center - 0.5 * (double)w->width;
        width = w->width;
    } else { /* min..max of the finite values */
        double mn = INFINITY, mx = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            if (isfinite(x[i]))
                mn = fmin(mn, x[i]), mx = fmax(mx, x[i]);
        lo = isfinite(mn) ? mn : 0;
        width = mx > mn ? mx - mn : INFINITY;
    }
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double v = ((double)x[i] - lo) / width * 255.0;
        out[i] = isnan(v) ? 0 : v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)floor(v + 0.5);
    }
    return HG_OK;
}

/* ---- PNG encoding ---------------------------------------------------------------------- */

typedef struct png_err {
    jmp_buf jmp;
    char msg[200];
} png_err;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jmp, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* Encodes into an open FILE; libpng reports errors by longjmp, caught here. */
static hg_status encode(FILE *fp, const char *path, const uint8_t *pixels, int64_t h, int64_t w,
                        int channels)
{
    png_err err;
    err.msg[0] = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error,
                                              on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return hg_error(HG_ERR_NOMEM, "%s: cannot create the PNG encoder", path);
    }
    if (setjmp(err.jmp)) {
        png_destroy_write_struct(&png, &info);
        return hg_error(HG_ERR_IO, "%s: PNG encoding failed: %s", path, err.msg);
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    for (int64_t r = 0; r < h; r++)
        png_write_row(png, pixels + r * w * channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return HG_OK;
}

hg_status hg_png_write(const char *path, const uint8_t *pixels, int64_t height, int64_t width,
                       int channels)
{
    if (channels != 1 && channels != 3)
        return hg_error(HG_ERR_INVALID, "%s: %d channels, expected 1 (gray) or 3 (RGB)", path,
                        channels);
    if (height < 1 || width < 1 || height > 1000000 || width > 1000000)
        return hg_error(HG_ERR_INVALID, "%s: PNG size %lld x %lld, expected 1..1000000", path,
                        (long long)height, (long long)width);
    hg_atomic_file f;
    hg_status s = hg_atomic_open(&f, path);
    if (s)
        return s;
    if ((s = encode(f.fp, path, pixels, height, width, channels))) {
        hg_atomic_abort(&f);
        return s;
    }
    return hg_atomic_commit(&f);
}

/* ---- images, overlays, montages -------------------------------------------------------- */

/* H and W of a tensor that is 2-D after dropping leading ones. */
static hg_status plane_of(const char *what, const hg_tensor *t, int64_t *h, int64_t *w)
{
    char buf[64];
    if (!t || t->dtype != HG_F32 || t->ndim < 2)
        goto bad;
    for (int i = 0; i < t->ndim - 2; i++)
        if (t->shape[i] != 1)
            goto bad;
    *h = t->shape[t->ndim - 2];
    *w = t->shape[t->ndim - 1];
    return HG_OK;
bad:
    return hg_error(HG_ERR_INVALID, "%s: '%s' has shape %s, expected a real [H, W] tensor "
                    "(leading ones allowed)", what, t ? hg_tensor_label(t) : "NULL",
                    t ? hg_shape_str(t, buf, sizeof buf) : "-");
}

/* A distinct colour per label (tab10-like palette, cycling). */
static void label_colour(int64_t label, uint8_t rgb[3])
{
    static const uint8_t pal[10][3] = {{230, 25, 75},  {60, 180, 75},   {255, 225, 25},
                                       {0, 130, 200},  {245, 130, 48},  {145, 30, 180},
                                       {70, 240, 240}, {240, 50, 230},  {210, 245, 60},
                                       {250, 190, 212}};
    memcpy(rgb, pal[(label - 1) % 10], 3);
}

hg_status hg_png_write_image(const char *path, const hg_tensor *image, const hg_window *w,
                             const hg_tensor *labels, float alpha)
{
    int64_t h, wd, lh, lw;
    hg_status s = plane_of("png", image, &h, &wd);
    if (s)
        return s;
    if (labels) {
        if ((s = plane_of("png labels", labels, &lh, &lw)))
            return s;
        if (lh != h || lw != wd)
            return hg_error(HG_ERR_INVALID, "png: labels '%s' are %lld x %lld, image '%s' is "
                            "%lld x %lld", hg_tensor_label(labels), (long long)lh, (long long)lw,
                            hg_tensor_label(image), (long long)h, (long long)wd);
        if (!(alpha >= 0 && alpha <= 1))
            return hg_error(HG_ERR_INVALID, "png: overlay alpha %g, expected 0..1", (double)alpha);
    }
    int channels = labels ? 3 : 1;
    uint8_t *gray = hg_malloc((size_t)(h * wd * (1 + channels)));
    if (!gray)
        return hg_error_context(hg_error_status(), "%s", path);
    uint8_t *out = gray + h * wd;
    if ((s = hg_window_apply(image->data, h * wd, w, gray)))
        goto done;
    if (!labels) {
        memcpy(out, gray, (size_t)(h * wd));
    } else {
        for (int64_t i = 0; i < h * wd; i++) {
            float l = labels->data[i];
            uint8_t c[3] = {gray[i], gray[i], gray[i]};
            if (isfinite(l) && l >= 1)
                label_colour((int64_t)fmin(l, 1e9), c); /* clamp: the cast of huge values is UB */
            for (int k = 0; k < 3; k++)
                out[3 * i + k] = l >= 1 ? (uint8_t)floor((1 - alpha) * gray[i] + alpha * c[k] + 0.5)
                                        : gray[i];
        }
    }
    s = hg_png_write(path, out, h, wd, channels);
done:
    hg_free(gray);
    return s;
}

hg_tensor *hg_montage(const hg_tensor *const *images, int n, int64_t gap, float gap_value)
{
    if (n < 1 || gap < 0) {
        hg_error(HG_ERR_INVALID, "montage: %d images with gap %lld, expected >= 1 and >= 0", n,
                 (long long)gap);
        return NULL;
    }
    int64_t h0 = 0, total = gap * (n - 1);
    for (int i = 0; i < n; i++) {
        int64_t h, w;
        if (plane_of("montage", images[i], &h, &w))
            return NULL;
        if (i == 0)
            h0 = h;
        if (h != h0) {
            hg_error(HG_ERR_INVALID, "montage: image %d '%s' has height %lld, image 0 has %lld",
                     i, hg_tensor_label(images[i]), (long long)h, (long long)h0);
            return NULL;
        }
        total += w;
    }
    hg_tensor *out = hg_tensor_empty(NULL, HG_F32, 2, (const int64_t[]){h0, total});
    if (!out)
        return NULL;
    hg_tensor_fill(out, gap_value);
    int64_t x0 = 0;
    for (int i = 0; i < n; i++) {
        int64_t w = images[i]->shape[images[i]->ndim - 1];
        for (int64_t r = 0; r < h0; r++)
            memcpy(out->data + r * total + x0, images[i]->data + r * w, (size_t)w * sizeof(float));
        x0 += w + gap;
    }
    return out;
}
