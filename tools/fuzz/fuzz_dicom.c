/* libFuzzer harness for the DICOM parser and pixel decoders (tools/fuzz/build.sh).
 * Every input must give a clean error or a clean decode: ASan/UBSan catch the rest. */
#include "hinge/dicom.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hg_dicom_file *f = hg_dicom_file_parse(data, size, "fuzz.dcm");
    if (!f)
        return 0;
    char s[80];
    int64_t v;
    double d[6];
    hg_dicom_file_string(f, 0x0020000E, s, sizeof s);
    hg_dicom_file_int(f, 0x00280010, &v);
    hg_dicom_file_numbers(f, 0x00200037, d, 6);
    hg_dicom_pixels p;
    if (hg_dicom_file_pixels(f, &p) == HG_OK)
        hg_dicom_pixels_free(&p);
    hg_dicom_file_close(f);
    return 0;
}
