/* File reading timings: hg_dicom_read of a series directory and hg_nifti_read of a .nii.gz,
 * best of N wall-clock runs (ms), as JSON. Built and run by bench/read_bench.sh, which also
 * makes the data and times pydicom/nibabel on the same files (bench/read_peer.py). */
#include "hinge/dicom.h"
#include "hinge/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: read_bench <dicom dir> <file.nii.gz> <repeats>\n");
        return 2;
    }
    int repeats = atoi(argv[3]);
    const char *what[2] = {"dicom_series", "nifti_gz"};
    printf("{");
    for (int w = 0; w < 2; w++) {
        double best = 1e30;
        double checksum = 0;
        for (int r = 0; r < repeats; r++) {
            hg_image img;
            hg_image_init(&img);
            double t0 = now_ms();
            hg_status s = w == 0 ? hg_dicom_read(argv[1], NULL, &img) : hg_nifti_read(argv[2], &img);
            double t = now_ms() - t0;
            if (s) {
                fprintf(stderr, "%s: %s\n", what[w], hg_error_message());
                return 1;
            }
            checksum = 0;
            for (int64_t i = 0; i < img.data->numel; i++)
                checksum += img.data->data[i];
            best = t < best ? t : best;
            hg_image_free(&img);
        }
        printf("%s\"%s\": {\"ms\": %.1f, \"checksum\": %.17g}", w ? ", " : "", what[w], best,
               checksum);
    }
    printf("}\n");
    return 0;
}
