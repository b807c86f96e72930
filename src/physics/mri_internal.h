/* Private to src/physics/mri_*.c: the centred orthonormal FFT building block shared by the
 * FFT and SENSE operators and by ESPIRiT. */
#ifndef HINGE_MRI_INTERNAL_H
#define HINGE_MRI_INTERNAL_H

#include "hinge/mri.h"

#include <fftw3.h>

/* One centred orthonormal DFT over an image of 2 or 3 dimensions.
 * centred_fft(x) = post . FFT(pre . x), with pre/post the diagonal phases that replace
 * ifftshift/fftshift (post includes 1/sqrt(npix)); the inverse is pre^H . IFFT(post^H . y).
 * Plans are in place and may run on any buffer with hg_malloc's 64-byte alignment whose
 * images start at multiples of hg_cfft.slot floats. */
typedef struct hg_cfft {
    int dims;
    int n[3];
    int64_t npix;  /* complex values per image */
    int64_t slot;  /* floats per image slot in scratch buffers (2 npix rounded up to 16) */
    fftwf_plan fwd, inv;
    float *pre, *post; /* complex [npix] */
} hg_cfft;

hg_status hg_cfft_init(hg_cfft *f, int dims, const int64_t *n, const char *who);
void hg_cfft_free(hg_cfft *f);
/* In place on an aligned image buffer: unnormalized FFTW transforms (no phases, no scale). */
void hg_cfft_raw_forward(const hg_cfft *f, float *buf);
void hg_cfft_raw_inverse(const hg_cfft *f, float *buf);
/* Centred orthonormal transforms of one image: in -> out via the aligned buffer buf (out may
 * be buf; in may equal out). */
void hg_cfft_forward(const hg_cfft *f, const float *in, float *buf, float *out);
void hg_cfft_inverse(const hg_cfft *f, const float *in, float *buf, float *out);

/* A message-friendly "[a, b, c]" of a shape. */
char *hg_mri_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* Hermitian eigen-decomposition of an n x n matrix held row-major (complex interleaved) via
 * LAPACK's cheevd from OpenBLAS: w gets ascending eigenvalues, vec row j the eigenvector j
 * (overwrites a). */
hg_status hg_mri_heev(int n, float *a, float *w, float *vec);

#endif
