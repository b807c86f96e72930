/* Images with geometry: NIfTI-1/-2 files, JSON sidecars, PNG figures.
 *
 * An hg_image is a data tensor + the geometry that places it in the world + an optional JSON
 * sidecar (BIDS-style: acquisition geometry such as CT angles or MRI coil counts travels in
 * `x.json` next to `x.nii.gz`). NIfTI reading fills it; DICOM reading is meant to fill the
 * same struct (format "dicom", datatype = the NIfTI code of the stored pixel type).
 *
 * Axis order (the one rule to remember)
 *   NIfTI stores dim[1] = x (fastest varying on disk), dim[2] = y, dim[3] = z, dim[4] = t,
 *   dim[5] = u. Our tensors are row-major with the last index fastest, so the tensor shape is
 *   the NIfTI dims reversed and the bytes are in the same order (no transpose on read/write):
 *       NIfTI (nx, ny)             <-> tensor [ny, nx]            (H = ny, W = nx)
 *       NIfTI (nx, ny, nz)         <-> tensor [nz, ny, nx]
 *       NIfTI (nx, ny, nz, nt)     <-> tensor [nt, nz, ny, nx]
 *       NIfTI (nx, ny, nz, nt, nu) <-> tensor [nu, nt, nz, ny, nx]
 *   Tensor element [.., k, j, i] is voxel (i, j, k) of the file; the affines below map
 *   (i, j, k, 1) to world coordinates. The tensor has exactly dim[0] axes, except that
 *   trailing size-1 axes beyond 5 are dropped (6-D/7-D files with nontrivial dims are refused).
 *   Geometry arrays (spacing) are in NIfTI order: spacing[0] is x, i.e. the LAST tensor axis.
 *
 * World coordinates are NIfTI's RAS+ (x grows to the Right, y to the Anterior, z to the
 * Superior), in xyz_units (normally mm). DICOM's LPS is RAS with x and y negated.
 */
#ifndef HINGE_IMAGE_H
#define HINGE_IMAGE_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON; /* <cjson/cJSON.h>; the sidecar is a plain cJSON object */

/* NIfTI xform codes (what the qform/sform world space means). */
enum {
    HG_XFORM_UNKNOWN = 0,
    HG_XFORM_SCANNER = 1, /* scanner-based anatomical coordinates */
    HG_XFORM_ALIGNED = 2, /* aligned to another file or an anatomical truth */
    HG_XFORM_TALAIRACH = 3,
    HG_XFORM_MNI152 = 4,
    HG_XFORM_TEMPLATE = 5
};

/* NIfTI datatype codes of the stored voxels (the `datatype` field; reading converts all of
 * them to float32, or to interleaved complex float32 for the complex ones). */
enum {
    HG_DT_UINT8 = 2, HG_DT_INT16 = 4, HG_DT_INT32 = 8, HG_DT_FLOAT32 = 16,
    HG_DT_COMPLEX64 = 32, HG_DT_FLOAT64 = 64, HG_DT_INT8 = 256, HG_DT_UINT16 = 512,
    HG_DT_UINT32 = 768, HG_DT_INT64 = 1024, HG_DT_UINT64 = 1280, HG_DT_COMPLEX128 = 1792
};

typedef struct hg_image {
    hg_tensor *data;             /* heap tensor (HG_F32, or HG_C64 for complex data), owned */
    double spacing[HG_MAX_DIMS]; /* NIfTI pixdim[1..]: x, y, z in xyz_units, t in time_units */
    double qform[4][4];          /* (i,j,k,1) -> world; as decoded from the quaternion */
    double sform[4][4];          /* (i,j,k,1) -> world; general affine */
    int32_t qform_code;          /* HG_XFORM_*; 0: the qform is not meaningful */
    int32_t sform_code;
    int32_t xyz_units;           /* NIfTI units code: 2 mm (default), 1 m, 3 micron */
    int32_t time_units;          /* 8 s, 16 ms, 24 us; 0 unknown */
    double toffset;              /* time of the first volume */
    double cal_min, cal_max;     /* display range hint (0, 0: none) */
    int32_t intent_code;         /* NIfTI intent (1002 = label map, ...) */
    char intent_name[16];
    char descrip[80];
    /* Provenance, filled by readers and ignored by writers. */
    char format[16];             /* "nifti1", "nifti2", "dicom" */
    int32_t datatype;            /* HG_DT_* code of the stored voxels */
    double scl_slope, scl_inter; /* the scaling that was applied (1, 0 when none) */
    struct cJSON *sidecar;       /* JSON object or NULL; owned (freed by hg_image_free) */
} hg_image;

/* An empty image: no data, spacing 1, identity qform/sform with codes 0, units mm and s. */
void hg_image_init(hg_image *img);
/* Frees the data tensor and the sidecar; leaves an initialized empty image. */
void hg_image_free(hg_image *img);
/* Sets spacing[0..n) (x first) and makes both transforms the diagonal scaling with origin 0
 * and code HG_XFORM_SCANNER. n in 1..5, spacings finite and > 0. */
hg_status hg_image_set_spacing(hg_image *img, int n, const double *spacing);
/* The affine to use, as nibabel's get_best_affine does except for the no-code fallback:
 * the sform when sform_code > 0, else the qform when qform_code > 0, else NIfTI's "method 1"
 * diag(dx, dy, dz) with origin 0. */
void hg_image_affine(const hg_image *img, double affine[4][4]);
/* Orientation code of the affine's voxel axes i, j, k: e.g. "RAS" (i points to the Right,
 * j to the Anterior, k to the Superior, nibabel's aff2axcodes convention) or "LPS". code
 * receives 3 letters and a NUL. Uses nifti_clib's nifti_dmat44_to_orientation. */
void hg_image_orientation(const hg_image *img, char code[4]);

/* ---- NIfTI ----------------------------------------------------------------------------- */

/* Reads a NIfTI-1 or NIfTI-2 file (.nii, .nii.gz, or a .hdr/.img pair) into img (which the
 * caller initialized; any previous content is freed on success). scl_slope/scl_inter are
 * applied when the slope is finite and nonzero (nibabel's rule). The sidecar next to it
 * (see hg_sidecar_path) is loaded when present. Hostile headers (dims <= 0, more voxels than
 * the file can hold, bad vox_offset or datatype) and truncated data are refused with
 * HG_ERR_FORMAT before any allocation sized by them. On failure img is unchanged. */
hg_status hg_nifti_read(const char *path, hg_image *img);

typedef struct hg_nifti_write_opts {
    int32_t version;        /* 1 (default when 0) or 2 */
    int32_t datatype;       /* HG_DT_* of the file; 0: float32 (complex64 for HG_C64 data).
                               Integer types need integral values within range (checked). */
    int32_t compress_level; /* gzip level 1..9 for .nii.gz; 0: 1 (fast, as nibabel) */
    bool skip_sidecar;      /* do not write img->sidecar */
} hg_nifti_write_opts;

/* Writes img as NIfTI (.nii or .nii.gz by the name; anything else is refused), atomically:
 * the bytes go to a temporary file in the same directory that is renamed over path only
 * after everything was written and fsynced. The header is built by nifti_clib
 * (quaternion of the qform, sform, units, codes); opts may be NULL. The sidecar, when
 * present, is written (atomically too) to hg_sidecar_path(path); when img has none, a stale
 * file there is removed (unless skip_sidecar), since it would describe another image. */
hg_status hg_nifti_write(const char *path, const hg_image *img, const hg_nifti_write_opts *opts);

/* ---- JSON sidecars --------------------------------------------------------------------- */

/* "dir/x.json" for "dir/x.nii.gz", "dir/x.nii", "dir/x.hdr"; a heap string (free()), or NULL
 * when the name has no NIfTI extension. */
char *hg_sidecar_path(const char *image_path);
/* Reads a JSON object (at most 16 MiB). *out is NULL and HG_OK when the file does not exist. */
hg_status hg_sidecar_read(const char *json_path, struct cJSON **out);
/* Writes a JSON object, pretty-printed, atomically. */
hg_status hg_sidecar_write(const char *json_path, const struct cJSON *json);
/* Typed access to img->sidecar (created on first set). Getters return false when the key is
 * absent or of another type. */
hg_status hg_image_meta_set_number(hg_image *img, const char *key, double value);
hg_status hg_image_meta_set_string(hg_image *img, const char *key, const char *value);
hg_status hg_image_meta_set_numbers(hg_image *img, const char *key, const double *v, int n);
bool hg_image_meta_number(const hg_image *img, const char *key, double *value);
const char *hg_image_meta_string(const hg_image *img, const char *key);

/* ---- PNG figures ----------------------------------------------------------------------- */

/* A display window: values center - width/2 .. center + width/2 map to black .. white. */
typedef struct hg_window {
    float center;
    float width;
} hg_window;

/* CT presets in HU (W/L): "brain" 80/40, "subdural" 200/75, "lung" 1500/-600,
 * "bone" 1800/400, "abdomen" 400/50. */
hg_status hg_window_preset(const char *name, hg_window *w);
/* Maps n values through the window to 0..255 (rounded, clipped; NaN -> 0). A NULL window
 * uses the data's min..max (a constant image maps to 0). */
hg_status hg_window_apply(const float *x, int64_t n, const hg_window *w, uint8_t *out);

/* Writes 8-bit grayscale (channels 1) or RGB (channels 3) pixels, row-major [h][w][c]. */
hg_status hg_png_write(const char *path, const uint8_t *pixels, int64_t height, int64_t width,
                       int channels);
/* Writes a 2-D float tensor [H, W] (or [1.., H, W] with leading ones) through a window. When
 * labels (same shape; values are integer labels, 0 = background) is given, the output is RGB
 * with each label blended in its own colour at opacity alpha (0..1). */
hg_status hg_png_write_image(const char *path, const hg_tensor *image, const hg_window *w,
                             const hg_tensor *labels, float alpha);
/* Side by side: n 2-D tensors of equal height into a new heap tensor [H, sum W + gap*(n-1)],
 * the gaps filled with gap_value (e.g. for "truth | classical | learned | error" figures). */
hg_tensor *hg_montage(const hg_tensor *const *images, int n, int64_t gap, float gap_value);

#ifdef __cplusplus
}
#endif
#endif
