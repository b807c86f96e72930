/* End-to-end CLI runs of the physics chain on small data: phantom -> simulate -> recon -> eval,
 * for CT (parallel and fan) and MRI, plus bad inputs (exit codes, messages, no output). */
#include "test_util.h"

#include <string.h>
#include <unistd.h>

static double psnr_of(const char *ref, const char *img)
{
    hg_image a, b;
    hg_image_init(&a);
    hg_image_init(&b);
    double p = -1;
    if (hg_nifti_read(ref, &a) == HG_OK && hg_nifti_read(img, &b) == HG_OK &&
        hg_psnr(b.data, a.data, 0, &p) != HG_OK)
        p = -1;
    hg_image_free(&a);
    hg_image_free(&b);
    return p;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

int main(void)
{
    const char *bin = HINGE_BINARY;
    const char *sl = hg_test_tmp("cli_sl.nii.gz"), *fine = hg_test_tmp("cli_sl_fine.nii.gz");
    const char *sino = hg_test_tmp("cli_sino.nii.gz"), *fbp = hg_test_tmp("cli_fbp.nii.gz");
    CHECK(hg_test_run("%s phantom shepp-logan --size 64 -o %s", bin, sl) == 0);
    CHECK(hg_test_run("%s phantom shepp-logan --size 128 --pixel 0.5 -o %s", bin, fine) == 0);

    /* Parallel beam, simulated on a 2x finer grid (no inverse crime), FBP on 64^2. */
    CHECK(hg_test_run("%s simulate ct --angles 90 --detectors 91 --det-spacing 1 "
                      "--recon-size 64 %s -o %s", bin, fine, sino) == 0);
    CHECK(hg_test_run("%s recon --method fbp %s -o %s", bin, sino, fbp) == 0);
    double p = psnr_of(sl, fbp);
    CHECK_MSG(p > 22.0, "parallel FBP PSNR %.2f dB", p);
    /* TV with non-negativity beats FBP on 20 noisy views. */
    const char *few = hg_test_tmp("cli_few.nii.gz"), *tv = hg_test_tmp("cli_tv.nii.gz");
    const char *fbp_few = hg_test_tmp("cli_fbp_few.nii.gz");
    CHECK(hg_test_run("%s simulate ct --angles 20 --detectors 91 --det-spacing 1 --recon-size 64 "
                      "--noise gaussian:0.02 --seed 3 %s -o %s", bin, fine, few) == 0);
    CHECK(hg_test_run("%s recon --method fbp %s -o %s", bin, few, fbp_few) == 0);
    CHECK(hg_test_run("%s recon --method tv --lambda 0.3 --iters 200 --nonneg %s -o %s", bin, few,
                      tv) == 0);
    double p_fbp = psnr_of(sl, fbp_few), p_tv = psnr_of(sl, tv);
    CHECK_MSG(p_tv > p_fbp + 3, "TV %.2f dB vs FBP %.2f dB on 20 views", p_tv, p_fbp);
    /* Fan beam (equiangular detector). */
    const char *fan = hg_test_tmp("cli_fan.nii.gz"), *fanr = hg_test_tmp("cli_fanr.nii.gz");
    CHECK(hg_test_run("%s simulate ct --geometry fan-arc --angles 180 --recon-size 64 %s -o %s",
                      bin, fine, fan) == 0);
    CHECK(hg_test_run("%s recon --method fbp %s -o %s", bin, fan, fanr) == 0);
    p = psnr_of(sl, fanr);
    CHECK_MSG(p > 20.0, "fan FBP PSNR %.2f dB", p);

    /* MRI: fully sampled k-space with the true maps reconstructs the phantom (up to float). */
    const char *k = hg_test_tmp("cli_k.nii.gz"), *sens = hg_test_tmp("cli_sens.nii.gz");
    const char *cg = hg_test_tmp("cli_cg.nii.gz"), *k4 = hg_test_tmp("cli_k4.nii.gz");
    const char *rss = hg_test_tmp("cli_rss.nii.gz"), *cg4 = hg_test_tmp("cli_cg4.nii.gz");
    CHECK(hg_test_run("%s simulate mri --coils 4 --accel 1 --center 1 --sens-out %s %s -o %s",
                      bin, sens, sl, k) == 0);
    CHECK(hg_test_run("%s recon --method cg-sense --sens %s --iters 10 %s -o %s", bin, sens, k,
                      cg) == 0);
    p = psnr_of(sl, cg);
    CHECK_MSG(p > 60.0, "fully sampled CG-SENSE PSNR %.2f dB", p);
    /* 3x undersampled: CG-SENSE beats zero-filled RSS, with the true maps (100 iterations)
     * and with ESPIRiT maps (early stopping: unregularized CG with estimated maps diverges). */
    CHECK(hg_test_run("%s simulate mri --coils 8 --accel 3 --center 0.16 --seed 2 --sens-out %s "
                      "%s -o %s", bin, sens, sl, k4) == 0);
    CHECK(hg_test_run("%s recon --method rss %s -o %s", bin, k4, rss) == 0);
    CHECK(hg_test_run("%s recon --method cg-sense --sens %s --iters 100 %s -o %s", bin, sens, k4,
                      cg4) == 0);
    double p_rss = psnr_of(sl, rss), p_cg = psnr_of(sl, cg4);
    CHECK_MSG(p_cg > p_rss + 3, "CG-SENSE (true maps) %.2f dB vs RSS %.2f dB", p_cg, p_rss);
    CHECK(hg_test_run("%s recon --method cg-sense --iters 5 %s -o %s", bin, k4, cg4) == 0);
    p_cg = psnr_of(sl, cg4);
    CHECK_MSG(p_cg > p_rss + 1, "CG-SENSE (ESPIRiT) %.2f dB vs RSS %.2f dB", p_cg, p_rss);

    /* PNG export of a reconstruction through a window: a real PNG; a bad window writes none. */
    const char *png = hg_test_tmp("cli_fbp.png");
    unlink(png);
    CHECK(hg_test_run("%s convert --window 0.2:0.4 %s %s", bin, fbp, png) == 0);
    unsigned char *pb;
    size_t pn;
    CHECK(hg_read_file(png, 1 << 20, &pb, &pn) == HG_OK && pn > 8 &&
          memcmp(pb, "\x89PNG\r\n\x1a\n", 8) == 0);
    free(pb);
    unlink(png);
    CHECK(hg_test_run("%s convert --window 0.2:-1 %s %s 2>/dev/null", bin, fbp, png) == 1);
    CHECK(!exists(png));

    /* Bad input: exit codes and no output files. */
    const char *none = hg_test_tmp("cli_none.nii.gz");
    unlink(none);
    CHECK(hg_test_run("%s recon --method fbp %s -o %s 2>/dev/null", bin, sl, none) == 1);
    CHECK(!exists(none)); /* an image without a CT sidecar is not a sinogram */
    CHECK(hg_test_run("%s recon --method nope %s -o %s 2>/dev/null", bin, sino, none) == 2);
    CHECK(hg_test_run("%s simulate ct --geometry fan-flat --sod 10 --sdd 40 %s -o %s 2>/dev/null",
                      bin, sl, none) == 1); /* source inside the image */
    CHECK(!exists(none));
    CHECK(hg_test_run("%s simulate ct --angles 0 %s -o %s 2>/dev/null", bin, sl, none) == 2);
    CHECK(hg_test_run("%s phantom shepp-logan --size 64 2>/dev/null", bin) == 2); /* no -o */
    CHECK(hg_test_run("%s recon --method fbp --filter wiener %s -o %s 2>/dev/null", bin, sino,
                      none) == 2);
    /* A sinogram whose sidecar does not match its data. */
    const char *bad = hg_test_tmp("cli_badsino.nii.gz");
    CHECK(hg_test_run("%s simulate ct --angles 30 %s -o %s", bin, sl, bad) == 0);
    CHECK(hg_test_run("cp %s %s", sino, bad) == 0); /* 90-view data, 30-view sidecar */
    CHECK(hg_test_run("%s recon --method fbp %s -o %s 2>%s", bin, bad, none,
                      hg_test_tmp("cli_err.txt")) == 1);
    unsigned char *msg;
    size_t n;
    REQUIRE(hg_read_file(hg_test_tmp("cli_err.txt"), 1 << 16, &msg, &n) == HG_OK);
    msg[n - 1] = 0;
    CHECK_MSG(strstr((char *)msg, "expected [30, ") != NULL, "message: %s", msg);
    free(msg);
    CHECK(!exists(none));
    return hg_test_finish("test_cli_physics");
}
