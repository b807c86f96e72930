/* fastMRI HDF5 files: values read from h5py-written fixtures (multi-coil 2 x 4 x 32 x 24 and
 * single-coil) compared bit-exactly with the same arrays saved by the fixture script, slices,
 * attributes, listing, a write/read round trip, and malformed files refused by message. */
#include "hinge/fastmri.h"
#include "hinge/image.h"
#include "test_util.h"

#include <string.h>
#include <unistd.h>

/* Bit-exact equality of a tensor's floats with a fixture tensor's (same count). */
static bool same_floats(const hg_tensor *t, const float *want, int64_t n)
{
    return t && hg_tensor_nfloats(t) == n && memcmp(t->data, want, (size_t)n * sizeof(float)) == 0;
}

static bool shape_is(const hg_tensor *t, int nd, const int64_t *s)
{
    if (!t || t->ndim != nd)
        return false;
    for (int i = 0; i < nd; i++)
        if (t->shape[i] != s[i])
            return false;
    return true;
}

static const char *HEADER = "<?xml version=\"1.0\"?><ismrmrdHeader><encoding><trajectory>"
                            "cartesian</trajectory></encoding></ismrmrdHeader>";

static void check_multicoil(const char *path, const hg_params *fx, bool from_h5py)
{
    hg_fastmri_file *f = hg_fastmri_open(path);
    CHECK_MSG(f, "%s", hg_error_message());
    if (!f)
        return;
    const hg_fastmri_info *in = hg_fastmri_get_info(f);
    CHECK(in->multicoil && in->slices == 2 && in->coils == 4 && in->height == 32 &&
          in->width == 24);
    CHECK(in->has_rss && in->has_esc && in->has_mask && in->mask_len == 24);
    CHECK(in->rss_shape[0] == 2 && in->rss_shape[1] == 16 && in->rss_shape[2] == 12);
    CHECK(in->esc_shape[0] == 2 && in->esc_shape[1] == 16 && in->esc_shape[2] == 12);
    CHECK(strcmp(in->acquisition, "CORPDFS_FBK") == 0 && strcmp(in->patient_id, "abc123") == 0);
    CHECK(in->has_max && in->max == 0.000321 && in->has_norm && in->norm == 0.0125);
    CHECK(in->ismrmrd_header && strcmp(in->ismrmrd_header, HEADER) == 0);
    CHECK(in->ndatasets == 5);
    bool listed = false;
    for (int i = 0; i < in->ndatasets && i < HG_FASTMRI_MAX_DATASETS; i++)
        if (!strcmp(in->datasets[i].name, "kspace"))
            listed = !strcmp(in->datasets[i].type, "complex64") && in->datasets[i].ndim == 4 &&
                     in->datasets[i].shape[3] == 24;
        else if (!strcmp(in->datasets[i].name, "mask"))
            CHECK(!strcmp(in->datasets[i].type, "bool") && in->datasets[i].shape[0] == 24);
    CHECK(listed);

    const hg_tensor *k = hg_test_get(fx, "multi_kspace");
    hg_tensor *all = hg_fastmri_read_kspace(f, -1);
    CHECK(shape_is(all, 4, (int64_t[]){2, 4, 32, 24}) && all->dtype == HG_C64);
    CHECK(same_floats(all, k->data, hg_tensor_nfloats(k)));
    hg_tensor *s1 = hg_fastmri_read_kspace(f, 1);
    int64_t half = hg_tensor_nfloats(k) / 2;
    CHECK(shape_is(s1, 3, (int64_t[]){4, 32, 24}) && same_floats(s1, k->data + half, half));
    const hg_tensor *rss = hg_test_get(fx, "multi_rss"), *esc = hg_test_get(fx, "multi_esc");
    hg_tensor *r = hg_fastmri_read_recon(f, "reconstruction_rss", -1);
    CHECK(shape_is(r, 3, (int64_t[]){2, 16, 12}) && same_floats(r, rss->data, rss->numel));
    hg_tensor *r0 = hg_fastmri_read_recon(f, "reconstruction_esc", 0);
    CHECK(shape_is(r0, 2, (int64_t[]){16, 12}) && same_floats(r0, esc->data, 16 * 12));
    hg_tensor *m = hg_fastmri_read_mask(f);
    const hg_tensor *mw = hg_test_get(fx, "multi_mask");
    CHECK(same_floats(m, mw->data, 24));
    CHECK_NULL_WITH(hg_fastmri_read_kspace(f, 2), "slice 2 of dataset 'kspace' requested, it has 2");
    CHECK_NULL_WITH(hg_fastmri_read_recon(f, "kspace", 0), "is not a reconstruction");
    (void)from_h5py;
    hg_tensor_free(all), hg_tensor_free(s1), hg_tensor_free(r), hg_tensor_free(r0),
        hg_tensor_free(m);
    hg_fastmri_close(f);
}

static void check_singlecoil(const hg_params *fx)
{
    hg_fastmri_file *f = hg_fastmri_open(hg_test_fixture("fastmri/singlecoil.h5"));
    CHECK_MSG(f, "%s", hg_error_message());
    if (!f)
        return;
    const hg_fastmri_info *in = hg_fastmri_get_info(f);
    CHECK(!in->multicoil && in->slices == 3 && in->coils == 1 && in->height == 20 &&
          in->width == 18 && in->has_rss && !in->has_esc && !in->has_mask);
    CHECK(strcmp(in->acquisition, "CORPD_FBK") == 0 && strcmp(in->patient_id, "p2") == 0);
    const hg_tensor *k = hg_test_get(fx, "single_kspace");
    hg_tensor *s2 = hg_fastmri_read_kspace(f, 2);
    int64_t per = 20 * 18 * 2;
    CHECK(shape_is(s2, 2, (int64_t[]){20, 18}) && same_floats(s2, k->data + 2 * per, per));
    hg_tensor *all = hg_fastmri_read_kspace(f, -1);
    CHECK(shape_is(all, 3, (int64_t[]){3, 20, 18}) && same_floats(all, k->data, 3 * per));
    CHECK_NULL_WITH(hg_fastmri_read_mask(f), "no 'mask' dataset");
    CHECK_NULL_WITH(hg_fastmri_read_recon(f, "reconstruction_esc", 0), "no 'reconstruction_esc'");
    hg_tensor_free(s2), hg_tensor_free(all);
    hg_fastmri_close(f);
}

/* Writes the fixture arrays back and reads them again: same values and attributes. */
static void check_round_trip(const hg_params *fx)
{
    const hg_tensor *k = hg_test_get(fx, "multi_kspace");
    hg_tensor *kc = hg_new_complex(NULL, 2, 4, 32, 24);
    memcpy(kc->data, k->data, (size_t)hg_tensor_nfloats(k) * sizeof(float));
    hg_fastmri_data d = {.kspace = kc,
                         .rss = hg_test_get(fx, "multi_rss"),
                         .esc = hg_test_get(fx, "multi_esc"),
                         .mask = hg_test_get(fx, "multi_mask"),
                         .acquisition = "CORPDFS_FBK",
                         .patient_id = "abc123",
                         .ismrmrd_header = HEADER,
                         .has_max = true,
                         .max = 0.000321,
                         .has_norm = true,
                         .norm = 0.0125};
    const char *out = hg_test_tmp("rt_fastmri.h5");
    unlink(out);
    CHECK_OK(hg_fastmri_write(out, &d));
    check_multicoil(out, fx, false);

    /* Refused inputs create nothing. */
    unlink(out);
    hg_fastmri_data bad = d;
    bad.kspace = d.rss;
    CHECK_FAILS(hg_fastmri_write(out, &bad), HG_ERR_INVALID, "must be complex 3-d or 4-d");
    bad = d;
    bad.mask = d.kspace;
    CHECK_FAILS(hg_fastmri_write(out, &bad), HG_ERR_INVALID, "of length 24");
    CHECK(access(out, F_OK) != 0);
    CHECK_FAILS(hg_fastmri_write(hg_test_tmp("no/such/dir/x.h5"), &d), HG_ERR_IO,
                "temporary file");
    hg_tensor_free(kc);
}

static void check_malformed(void)
{
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_fixture("fastmri/bad_dtype.h5")),
                    "'kspace' has type complex128, expected complex64");
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_fixture("fastmri/bad_real.h5")),
                    "'kspace' has type float32, expected complex64");
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_fixture("fastmri/bad_names.h5")),
                    "'kspace' has type compound, expected complex64 (compound {r: float32");
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_fixture("fastmri/bad_missing.h5")),
                    "no 'kspace' dataset");
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_fixture("fastmri/bad_ndim.h5")),
                    "'kspace' has 2 dimensions, expected 3 to 4");
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_fixture("fastmri/bad_truncated.h5")), "truncated");
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_fixture("fastmri/bad_notfile.h5")),
                    "not an HDF5 file");
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_tmp("does_not_exist.h5")), "cannot open");
    CHECK_NULL_WITH(hg_fastmri_open(hg_test_fixture("fastmri/bad_extlink.h5")),
                    "'kspace' is a soft or external link");
}

/* The checking child: good files and cleanly refused ones pass the check (the parent's own
 * open gives the message); the inputs that crash libhdf5 1.10 (h5py never writes them) are
 * refused without harming this process. Without ASan their over-reads need not fault, so
 * there the refusal is only required of the sanitized build. */
static void check_untrusted(void)
{
    CHECK_OK(hg_fastmri_check(hg_test_fixture("fastmri/multicoil.h5"), 0));
    hg_fastmri_file *f = hg_fastmri_open_untrusted(hg_test_fixture("fastmri/multicoil.h5"));
    CHECK_MSG(f && hg_fastmri_get_info(f)->coils == 4, "%s", hg_error_message());
    hg_fastmri_close(f);
    CHECK_OK(hg_fastmri_check(hg_test_fixture("fastmri/bad_dtype.h5"), 0));
    CHECK_NULL_WITH(hg_fastmri_open_untrusted(hg_test_fixture("fastmri/bad_dtype.h5")),
                    "'kspace' has type complex128");
    CHECK_NULL_WITH(hg_fastmri_open_untrusted(hg_test_tmp("does_not_exist.h5")), "cannot open");
    static const char *const crash[2] = {"fastmri/libhdf5_crashes/h5hg_read_overflow.h5",
                                         "fastmri/libhdf5_crashes/h5mm_strdup_overflow.h5"};
    for (int i = 0; i < 2; i++) {
        hg_status s = hg_fastmri_check(hg_test_fixture(crash[i]), 20);
#if defined(__SANITIZE_ADDRESS__)
        CHECK_MSG(s == HG_ERR_FORMAT && strstr(hg_error_message(), "refused: libhdf5") &&
                      strstr(hg_error_message(), "separate process"),
                  "%s: %s", crash[i], s ? hg_error_message() : "accepted");
#else
        CHECK(s == HG_OK || strstr(hg_error_message(), "separate process"));
#endif
    }
    /* A NULL memcpy in H5F__accum_read (via H5Lexists): a crash in every build. This process
     * must survive it and name it. */
    CHECK_FAILS(hg_fastmri_check(hg_test_fixture("fastmri/libhdf5_crashes/h5f_accum_read_segv.h5"),
                                 20), HG_ERR_FORMAT, "separate process");
    CHECK_NULL_WITH(hg_fastmri_open_untrusted(
                        hg_test_fixture("fastmri/libhdf5_crashes/h5f_accum_read_segv.h5")),
                    "refused: libhdf5");
    /* A vlen attribute declaring 320 MiB over an 11-byte heap object: libhdf5 reads it fine
     * but allocates ~660 MB doing so; the child's memory use gives it away. */
    CHECK_FAILS(hg_fastmri_check(hg_test_fixture("fastmri/libhdf5_crashes/vlen_attr_320mb.h5"),
                                 30), HG_ERR_FORMAT, "needed more than 256 MiB beyond four times");
    /* A vlen string declaring 2.4 GB: libhdf5 would allocate (and fill) that much before
     * failing; the declared length is checked from the file first. */
    CHECK_NULL_WITH(hg_fastmri_open(
                        hg_test_fixture("fastmri/libhdf5_crashes/h5t_conv_vlen_2gb_malloc.h5")),
                    "'ismrmrd_header' declares a string of 2427074489 bytes");
}

/* hinge info / convert on the fixtures: the NIfTI written holds the h5py values. */
static void check_cli(const hg_params *fx)
{
    const char *in = hg_test_fixture("fastmri/multicoil.h5");
    const char *out = hg_test_tmp("fastmri_k1.nii.gz");
    CHECK(hg_test_run("%s info %s > /dev/null", HINGE_BINARY, in) == 0);
    CHECK(hg_test_run("%s info --json %s > /dev/null", HINGE_BINARY, in) == 0);
    CHECK(hg_test_run("%s info %s 2> /dev/null", HINGE_BINARY,
                      hg_test_fixture("fastmri/bad_dtype.h5")) != 0);
    CHECK(hg_test_run("%s convert %s %s --slice 1", HINGE_BINARY, in, out) == 0);
    hg_image img;
    hg_image_init(&img);
    CHECK_OK(hg_nifti_read(out, &img));
    const hg_tensor *k = hg_test_get(fx, "multi_kspace");
    int64_t half = hg_tensor_nfloats(k) / 2;
    CHECK(img.data && img.data->dtype == HG_C64 &&
          shape_is(img.data, 3, (int64_t[]){4, 32, 24}) &&
          same_floats(img.data, k->data + half, half));
    const char *ds = hg_image_meta_string(&img, "Dataset");
    CHECK(ds && strcmp(ds, "kspace") == 0);
    hg_image_free(&img);
    out = hg_test_tmp("fastmri_rss.nii");
    CHECK(hg_test_run("%s convert %s %s --dataset reconstruction_rss", HINGE_BINARY, in, out) == 0);
    CHECK_OK(hg_nifti_read(out, &img));
    const hg_tensor *rss = hg_test_get(fx, "multi_rss");
    CHECK(img.data && shape_is(img.data, 3, (int64_t[]){2, 16, 12}) &&
          same_floats(img.data, rss->data, rss->numel));
    hg_image_free(&img);
    CHECK(hg_test_run("%s convert %s %s --slice 2 2> /dev/null", HINGE_BINARY, in, out) == 1);
    CHECK(hg_test_run("%s convert %s %s --dataset mask 2> /dev/null", HINGE_BINARY, in, out) == 2);
}

int main(void)
{
    hg_params fx;
    hg_params_init(&fx);
    hg_test_load_fixture("fastmri/expected.safetensors", &fx);
    check_multicoil(hg_test_fixture("fastmri/multicoil.h5"), &fx, true);
    check_singlecoil(&fx);
    check_round_trip(&fx);
    check_malformed();
    check_untrusted();
    check_cli(&fx);
    hg_params_free(&fx);
    return hg_test_finish("test_fastmri");
}
