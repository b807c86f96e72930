/* DICOM: reading single files and whole series into hg_image, writing Secondary Capture.
 *
 * Reading (hg_dicom_file_open) parses a DICOM Part 10 file (128-byte preamble + "DICM", the
 * file meta group in explicit VR little endian, then the data set in its transfer syntax);
 * files without preamble/meta are accepted when the data set's encoding can be recognized.
 * Supported transfer syntaxes: implicit VR LE, explicit VR LE and BE, deflated explicit LE
 * (zlib), RLE lossless (hand-written decoder), JPEG baseline / extended 8-bit (libjpeg-turbo),
 * JPEG 2000 (OpenJPEG), JPEG-LS (CharLS). Anything else (JPEG lossless process 14, 12-bit
 * JPEG, MPEG, HTJ2K, ...) is refused with HG_ERR_UNSUPPORTED and the message
 * "unsupported transfer syntax <UID> (<name>)" (or the reason the codec refused).
 *
 * Robustness: every tag, VR and length is checked against the buffer; sequences and items
 * of undefined length are followed up to a nesting depth of 16; no allocation is sized by a
 * header field before it was checked against the file size (inflated data is capped).
 *
 * Geometry (hg_dicom_read)
 *   Slices of one SeriesInstanceUID are sorted along the slice normal n = r x c, where r and
 *   c are the two direction cosines of ImageOrientationPatient (r: the direction in which the
 *   column index grows along a row), by the projection n . ImagePositionPatient. The tensor
 *   is [nz, ny, nx] = [slices, Rows, Columns]: element [k, j, i] is column i, row j of the
 *   k-th slice (no flips). In DICOM's LPS patient coordinates the voxel (i, j, k) lies at
 *       P = IPP_0 + i * dx * r + j * dy * c + k * s
 *   with dx = PixelSpacing[1] (between columns), dy = PixelSpacing[0] (between rows) and
 *   s = (IPP_last - IPP_0) / (nz - 1) (the mean slice step; |s| is spacing[2]). The affine
 *   stored in qform and sform (codes HG_XFORM_SCANNER) is diag(-1, -1, 1, 1) times that LPS
 *   affine, i.e. NIfTI RAS+, as nibabel's nicom does. (dcm2niix additionally flips the row
 *   axis; its voxel order then differs from ours but every voxel has the same world position.)
 *   Slice positions whose steps differ from the mean by more than 1% (or 0.01 mm) are
 *   reported in the sidecar ("SliceSpacingIrregular": true, "SlicePositions") and by
 *   hg_dicom_series_info.irregular; the data is not resampled.
 *   A multi-frame file is one volume of NumberOfFrames slices placed by GridFrameOffsetVector
 *   (RT dose), by the per-frame ImagePositionPatient of its functional groups (enhanced
 *   CT/MR; frames sorted along the normal), or spaced by SpacingBetweenSlices/SliceThickness.
 *   Values are RescaleSlope * stored + RescaleIntercept (Hounsfield units for CT) as float32;
 *   MONOCHROME1 is kept as stored (its sidecar says so). Colour images (SamplesPerPixel 3)
 *   are refused by hg_dicom_read (decode them with hg_dicom_file_pixels).
 */
#ifndef HINGE_DICOM_H
#define HINGE_DICOM_H

#include "hinge/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_dicom_file hg_dicom_file; /* a parsed file (opaque) */

/* Parses a file (the whole data set; pixel data is not decoded yet). NULL on failure. */
hg_dicom_file *hg_dicom_file_open(const char *path);
/* Parses a file held in memory (copied). `name` is used in messages. */
hg_dicom_file *hg_dicom_file_parse(const void *bytes, size_t size, const char *name);
void hg_dicom_file_close(hg_dicom_file *f);

/* Transfer syntax UID of the data set ("1.2.840.10008.1.2" when the file has no meta). */
const char *hg_dicom_file_transfer_syntax(const hg_dicom_file *f);
/* A top-level string element (UI, CS, LO, DS, IS, ...) trimmed of padding, copied into out
 * (at most n bytes with the NUL); false when absent. tag = (group << 16) | element. */
bool hg_dicom_file_string(const hg_dicom_file *f, uint32_t tag, char *out, size_t n);
/* A top-level US/SS/UL/SL value (first one); false when absent or of an unexpected length. */
bool hg_dicom_file_int(const hg_dicom_file *f, uint32_t tag, int64_t *value);
/* Up to n backslash-separated DS/IS numbers; returns how many were read (0: absent/invalid). */
int hg_dicom_file_numbers(const hg_dicom_file *f, uint32_t tag, double *v, int n);

/* Decoded stored pixel values, laid out as pydicom's pixel_array: [frames][rows][cols]
 * [samples] (planar files are interleaved), host byte order, `bytes` per value (1, 2, 4),
 * signed when is_signed. No rescale, no colour conversion except what the codec does (JPEG
 * YCbCr -> RGB as libjpeg does by default). */
typedef struct hg_dicom_pixels {
    int64_t frames, rows, cols, samples;
    int32_t bits_allocated, bits_stored, bytes;
    bool is_signed;
    char photometric[17];
    double slope, intercept; /* RescaleSlope / RescaleIntercept (1, 0 when absent) */
    void *data;              /* frames*rows*cols*samples values; free with hg_dicom_pixels_free */
} hg_dicom_pixels;

hg_status hg_dicom_file_pixels(const hg_dicom_file *f, hg_dicom_pixels *out);
void hg_dicom_pixels_free(hg_dicom_pixels *p);

/* ---- series ---------------------------------------------------------------------------- */

typedef struct hg_dicom_series_info {
    char series_uid[65];
    char study_uid[65];
    char modality[17];
    char description[65];
    char transfer_syntax[65];
    char orientation[4]; /* "RAS"-style code of the voxel axes (hg_image_orientation) */
    int64_t rows, cols, slices; /* slices: files, or frames of a multi-frame file */
    int32_t nfiles;
    double spacing[3];   /* x (columns), y (rows), z (slices) in mm */
    bool irregular;      /* slice steps not uniform */
} hg_dicom_series_info;

/* Lists the series of a file or a directory (recursively; files that are not DICOM, or
 * have no pixel data, are skipped). *out is a malloc'ed array of *n entries (free()). */
hg_status hg_dicom_list(const char *path, hg_dicom_series_info **out, int *n);
/* Reads one series of a file or directory into img (initialized by the caller; replaced on
 * success). series_uid NULL: the directory must hold exactly one series (otherwise the
 * error lists them). The sidecar gets Modality, SeriesInstanceUID, StudyInstanceUID,
 * SeriesDescription, TransferSyntaxUID, Manufacturer, RescaleSlope/Intercept, ... */
hg_status hg_dicom_read(const char *path, const char *series_uid, hg_image *img);

/* ---- writing --------------------------------------------------------------------------- */

typedef struct hg_dicom_write_opts {
    const char *series_uid;        /* NULL: a new UID is made (2.25.<random>) */
    const char *study_uid;         /* NULL: new */
    const char *ref_series_uid;    /* source series (ReferencedSeriesSequence), may be NULL */
    const char *series_description;
    const char *modality;          /* NULL: "OT" */
    int32_t series_number;
} hg_dicom_write_opts;

/* Writes a 2-D or 3-D image ([nz,] ny, nx; integral values in int16 range, e.g. a label map
 * or HU) as a series of Secondary Capture files dir/slice_0000.dcm ... in explicit VR LE,
 * 16-bit signed, with ImagePositionPatient/ImageOrientationPatient/PixelSpacing from the
 * image's affine (RAS -> LPS), so that hg_dicom_read of the directory gives back the same
 * values and affine. The directory is created when missing. Each file is written
 * atomically. */
hg_status hg_dicom_write_series(const char *dir, const hg_image *img,
                                const hg_dicom_write_opts *opts);

/* DICOM Segmentation (SEG, 1.2.840.10008.5.1.4.1.1.66.4), BINARY type: one 1-bit frame per
 * segment and slice (all slices, so the grid is complete), shared functional groups with
 * PixelMeasures/PlaneOrientation, per-frame PlanePosition, SegmentIdentification,
 * FrameContent (dimension index: segment, slice) and a DerivationImageSequence naming the
 * source slice. `labels` ([nz, ny, nx] like the source, integer values 0..255, 0 =
 * background; segment s = voxels equal to s) segments `source`, an image read by
 * hg_dicom_read: its geometry, StudyInstanceUID, FrameOfReferenceUID, SeriesInstanceUID,
 * SOPClassUID and SOPInstanceUIDs (sidecar) are referenced. Patient identity is not in the
 * sidecar: pass it in opts to match the source's (empty otherwise). */
typedef struct hg_dicom_seg_opts {
    const char *const *segment_labels; /* segment_labels[s-1] for s = 1..nsegment_labels */
    int32_t nsegment_labels;           /* others: "segment <s>" */
    const char *series_description;    /* NULL: "hinge segmentation" */
    int32_t series_number;
    const char *patient_name, *patient_id;
} hg_dicom_seg_opts;

hg_status hg_dicom_write_seg(const char *path, const hg_tensor *labels, const hg_image *source,
                             const hg_dicom_seg_opts *opts);
/* Reads a BINARY SEG (as written above: per-frame PlanePosition and ReferencedSegmentNumber)
 * into a label map [nz, ny, nx] (value = segment number; overlapping segments: the highest
 * number wins) with the geometry of its frames (RAS affine as hg_dicom_read). */
hg_status hg_dicom_read_seg(const char *path, hg_image *labels);

#ifdef __cplusplus
}
#endif
#endif
