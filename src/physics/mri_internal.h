/* Private to src/physics/mri_*.c: the centred orthonormal FFT building block shared by the
 * FFT and SENSE operators and by ESPIRiT. */
#ifndef HINGE_MRI_INTERNAL_H
#define HINGE_MRI_INTERNAL_H

#include "hinge/mri.h"

#include <fftw3.h>

/* One pass of a multi-dimensional FFT: length-len transforms along a dimension with the
 * given stride, for `outer` blocks of len * stride values. The contiguous dimension (stride 1)
 * is one batched plan; a strided one gathers `block` columns at a time into a contiguous
 * area, transforms them and scatters them back (FFTW_ESTIMATE's own strided plans are ~10x
 * slower than that at 256^2). */
typedef struct hg_cfft_pass {
    int64_t len, stride, outer;
    int block, rem;                  /* columns per gather; stride % block */
    fftwf_plan plan[2], rem_plan[2]; /* [0] forward, [1] inverse */
} hg_cfft_pass;

/* One centred orthonormal DFT over an image of 2 or 3 dimensions.
 * centred_fft(x) = post . FFT(pre . x), with pre/post the diagonal phases that replace
 * ifftshift/fftshift (post includes 1/sqrt(npix)); the inverse is pre^H . IFFT(post^H . y).
 * Transforms run in place in a scratch slot of `slot` floats (64-byte aligned, as from
 * hg_malloc): the image in its first 2 npix floats, the gather area after it. */
typedef struct hg_cfft {
    int dims;
    int64_t n[3];
    int64_t npix;   /* complex values per image */
    int64_t slot;   /* floats per scratch slot */
    int64_t gather; /* offset of the gather area in a slot, in floats */
    hg_cfft_pass pass[3];
    float *pre, *post; /* complex [npix] */
} hg_cfft;

#define HG_CFFT_ALL 7u /* all dimensions, for hg_cfft_raw's dim mask */

hg_status hg_cfft_init(hg_cfft *f, int dims, const int64_t *n, const char *who);
void hg_cfft_free(hg_cfft *f);
/* In place on a slot: unnormalized FFTW transforms (no phases, no scale) along the
 * dimensions whose bit is set in dim_mask (bit d = image dimension d). */
void hg_cfft_raw(const hg_cfft *f, float *slot, bool inverse, unsigned dim_mask);
static inline void hg_cfft_raw_forward(const hg_cfft *f, float *slot)
{
    hg_cfft_raw(f, slot, false, HG_CFFT_ALL);
}
static inline void hg_cfft_raw_inverse(const hg_cfft *f, float *slot)
{
    hg_cfft_raw(f, slot, true, HG_CFFT_ALL);
}
/* Centred orthonormal transforms of one image: in -> out through a slot (out may be the
 * slot; in may equal out). */
void hg_cfft_forward(const hg_cfft *f, const float *in, float *slot, float *out);
void hg_cfft_inverse(const hg_cfft *f, const float *in, float *slot, float *out);

/* A message-friendly "[a, b, c]" of a shape. */
char *hg_mri_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* Hermitian eigen-decomposition of an n x n matrix held row-major (complex interleaved) via
 * LAPACK's cheevd from OpenBLAS: w gets ascending eigenvalues, vec row j the eigenvector j
 * (overwrites a). */
hg_status hg_mri_heev(int n, float *a, float *w, float *vec);

#endif
