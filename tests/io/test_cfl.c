/* BART .cfl/.hdr: round trip, a file written by BART, malformed headers and data sizes. */
#include "hinge/cfl.h"
#include "test_util.h"

#include <string.h>

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

static void write_zeros(const char *path, long bytes)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    for (long i = 0; i < bytes; i++)
        fputc(0, f);
    fclose(f);
}

/* A header with the given sizes line and a matching (or not) data file. */
static hg_tensor *read_with(const char *hdr_text, long data_bytes)
{
    write_text(hg_test_tmp("bad.hdr"), hdr_text);
    write_zeros(hg_test_tmp("bad.cfl"), data_bytes);
    return hg_cfl_read(hg_test_tmp("bad"), NULL);
}

int main(void)
{
    /* Round trip of a complex tensor; the header lists reversed sizes. */
    hg_tensor *t = hg_new_complex(NULL, 3, 4, 5);
    hg_test_fill(t, 1, -2, 2);
    CHECK_OK(hg_cfl_write(hg_test_tmp("rt"), t));
    int64_t dims[HG_CFL_DIMS];
    CHECK_OK(hg_cfl_read_dims(hg_test_tmp("rt.hdr"), dims));
    CHECK(dims[0] == 5 && dims[1] == 4 && dims[2] == 3 && dims[3] == 1 && dims[15] == 1);
    hg_tensor *r = hg_cfl_read(hg_test_tmp("rt.cfl"), NULL);
    REQUIRE(r);
    CHECK(r->dtype == HG_C64 && hg_shape_equal(r, t));
    CHECK(memcmp(r->data, t->data, (size_t)hg_tensor_nfloats(t) * sizeof(float)) == 0);
    hg_tensor_free(r);
    /* A real tensor is written with zero imaginary parts. */
    hg_tensor *re = hg_new(NULL, 2, 3);
    hg_test_fill(re, 2, -1, 1);
    CHECK_OK(hg_cfl_write(hg_test_tmp("real"), re));
    r = hg_cfl_read(hg_test_tmp("real"), NULL);
    REQUIRE(r && r->dtype == HG_C64 && r->numel == 6);
    for (int i = 0; i < 6; i++)
        CHECK(r->data[2 * i] == re->data[i] && r->data[2 * i + 1] == 0.0f);
    hg_tensor_free(r), hg_tensor_free(re);
    hg_tensor_free(t);

    /* Written by BART: phantom -x 64 -s 8 -k has dims 64 64 1 8 -> tensor [8, 1, 64, 64]; the
     * header also holds "# Command", "# Files" and "# Creator" sections. Reading and writing
     * it back gives the same bytes as BART's file. */
    hg_tensor *k = hg_cfl_read(hg_test_fixture("mri/bart_ksp"), dims);
    REQUIRE(k);
    CHECK(k->ndim == 4 && k->shape[0] == 8 && k->shape[1] == 1 && k->shape[2] == 64 &&
          k->shape[3] == 64);
    CHECK(dims[0] == 64 && dims[1] == 64 && dims[2] == 1 && dims[3] == 8 && dims[4] == 1);
    double energy = 0;
    for (int64_t i = 0; i < hg_tensor_nfloats(k); i++)
        energy += (double)k->data[i] * k->data[i];
    CHECK(energy > 0 && isfinite(energy));
    CHECK_OK(hg_cfl_write(hg_test_tmp("copy"), k));
    unsigned char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK_OK(hg_read_file(hg_test_fixture("mri/bart_ksp.cfl"), 1 << 20, &a, &na));
    CHECK_OK(hg_read_file(hg_test_tmp("copy.cfl"), 1 << 20, &b, &nb));
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0);
    free(a), free(b);
    hg_tensor_free(k);

    /* Malformed headers: refused with the reason, before any data-sized allocation. */
    CHECK_NULL_WITH(read_with("# Size\n2 2\n", 32), "no '# Dimensions' line");
    CHECK_NULL_WITH(read_with("# Dimensions\n", 8), "no dimensions");
    CHECK_NULL_WITH(read_with("# Dimensions\n2 x 3\n", 48), "dimension 1 is not a positive");
    CHECK_NULL_WITH(read_with("# Dimensions\n2 -3\n", 48), "dimension 1 is not a positive");
    CHECK_NULL_WITH(read_with("# Dimensions\n2 0 3\n", 0), "dimension 1 is 0, expected >= 1");
    CHECK_NULL_WITH(read_with("# Dimensions\n2 3abc\n", 48), "dimension 1 is not a valid");
    CHECK_NULL_WITH(read_with("# Dimensions\n99999999999999999999999\n", 8), "not a valid");
    CHECK_NULL_WITH(read_with("# Dimensions\n4294967296 4294967296\n", 8), "overflows");
    CHECK_NULL_WITH(read_with("# Dimensions\n1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n", 8),
                    "more than 16 dimensions");
    CHECK_NULL_WITH(read_with("# Dimensions\n2 2 2 2 2 2\n", 512), "6 dimensions");
    CHECK_NULL_WITH(read_with("# Dimensions\n4 4\n", 100), "100 bytes, the header's 16");
    CHECK_NULL_WITH(read_with("# Dimensions\n1000000 1000000\n", 8), "8 bytes");
    write_text(hg_test_tmp("nul.hdr"), "# Dimensions\n2");
    FILE *f = fopen(hg_test_tmp("nul.hdr"), "ab");
    fputc(0, f), fputs(" 2\n", f), fclose(f);
    write_zeros(hg_test_tmp("nul.cfl"), 32);
    CHECK_NULL_WITH(hg_cfl_read(hg_test_tmp("nul"), NULL), "NUL byte");
    /* An oversized header is refused by size, not read. */
    write_zeros(hg_test_tmp("huge.hdr"), 70000);
    CHECK_NULL_WITH(hg_cfl_read(hg_test_tmp("huge"), NULL), "more than the limit");
    CHECK_NULL_WITH(hg_cfl_read(hg_test_tmp("missing"), NULL), "cannot open");
    /* Windows line ends and extra blanks are accepted. */
    hg_tensor *ok = read_with("# Dimensions\r\n 3\t2 \r\n", 48);
    CHECK(ok && ok->ndim == 2 && ok->shape[0] == 2 && ok->shape[1] == 3);
    hg_tensor_free(ok);
    /* Randomly mutated headers (bytes replaced by digits, blanks, signs, newlines or random
     * bytes): never a crash (ASan build), and a tensor only when its size matches the file. */
    {
        const char *base = "# Dimensions\n4 4 1 2 \n# Command\nphantom\n";
        const char alphabet[] = "0123456789  -\n#x\t";
        char hdr[64];
        hg_rng rng = hg_rng_new(77);
        int accepted = 0;
        for (int it = 0; it < 300; it++) {
            snprintf(hdr, sizeof hdr, "%s", base);
            size_t len = strlen(hdr);
            int edits = 1 + (int)hg_rng_below(&rng, 4);
            for (int e = 0; e < edits; e++) {
                size_t at = (size_t)hg_rng_below(&rng, len);
                char c = hg_rng_below(&rng, 8) == 0 ? (char)(1 + hg_rng_below(&rng, 255))
                                                    : alphabet[hg_rng_below(&rng, 18)];
                hdr[at] = c;
            }
            hg_tensor *got = read_with(hdr, 256);
            if (got) {
                CHECK(got->numel * 8 == 256);
                accepted++;
            } else {
                CHECK(hg_error_message()[0] != '\0');
            }
            hg_tensor_free(got);
        }
        printf("mutated headers: %d of 300 accepted (all of 256 bytes)\n", accepted);
    }
    /* A failed write leaves no file behind. */
    hg_tensor *small = hg_new_complex(NULL, 2);
    CHECK_FAILS(hg_cfl_write("/nonexistent-dir/x", small), HG_ERR_IO, "/nonexistent-dir/x.cfl");
    hg_tensor_free(small);
    return hg_test_finish("test_cfl");
}
