"""Peer timings for bench/read_bench.sh: pydicom (read every file of the series, sort by
position, stack, apply the rescale) and nibabel (load + get_fdata as float32), best of N."""
import glob
import json
import sys
import time

import numpy as np


def dicom_series(d):
    import pydicom
    ds = [pydicom.dcmread(f) for f in glob.glob(d + "/*.dcm")]
    ds.sort(key=lambda x: float(x.ImagePositionPatient[2]))
    vol = np.stack([x.pixel_array for x in ds]).astype(np.float32)
    return vol * float(ds[0].RescaleSlope) + float(ds[0].RescaleIntercept)


def nifti(path):
    import nibabel as nib
    return nib.load(path).get_fdata(dtype=np.float32)


def best(fn, arg, n):
    t, out = 1e30, None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn(arg)
        t = min(t, (time.perf_counter() - t0) * 1e3)
    return {"ms": round(t, 1), "checksum": float(out.sum(dtype=np.float64))}


if __name__ == "__main__":
    d, nii, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import nibabel
    import pydicom
    print(json.dumps({"dicom_series": best(dicom_series, d, n), "nifti_gz": best(nifti, nii, n),
                      "_peer": "pydicom %s, nibabel %s, numpy %s" % (
                          pydicom.__version__, nibabel.__version__, np.__version__)}))
