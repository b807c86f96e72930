/* The transfer syntax table: what each UID means for parsing and pixel decoding. */
#include "dicom_internal.h"

#include <string.h>

static const dcm_ts table[] = {
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", false, false, false, DCM_NATIVE},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", true, false, false, DCM_NATIVE},
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", true, false, true,
     DCM_NATIVE},
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian", true, true, false, DCM_NATIVE},
    {"1.2.840.10008.1.2.5", "RLE Lossless", true, false, false, DCM_RLE},
    {"1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", true, false, false, DCM_JPEG},
    {"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", true, false, false, DCM_JPEG},
    /* Process 14 lossless is not in libjpeg-turbo 2.1 (it arrived in 3.0). */
    {"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", true, false,
     false, DCM_JPEG_LOSSLESS},
    {"1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction "
     "(Process 14, Selection Value 1)", true, false, false, DCM_JPEG_LOSSLESS},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", true, false, false, DCM_JLS},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless", true, false, false, DCM_JLS},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless", true, false, false, DCM_J2K},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000", true, false, false, DCM_J2K},
    {"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Lossless", true, false,
     false, DCM_NONE},
    {"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component", true, false, false,
     DCM_NONE},
    {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", true, false, false,
     DCM_NONE},
    {"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", true, false, false,
     DCM_NONE},
    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile", true, false, false, DCM_NONE},
    {"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile", true, false,
     false, DCM_NONE},
    {"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile", true, false, false, DCM_NONE},
    {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless", true, false, false,
     DCM_NONE},
    {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 RPCL Lossless", true, false, false,
     DCM_NONE},
    {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", true, false, false, DCM_NONE},
};

const dcm_ts *dcm_ts_find(const char *uid)
{
    static const dcm_ts unknown = {"", "unknown", true, false, false, DCM_NONE};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strcmp(table[i].uid, uid))
            return &table[i];
    return &unknown;
}
