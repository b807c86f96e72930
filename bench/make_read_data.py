"""Data for bench/read_bench.sh (written under the given directory, not committed): a
512x512x300 CT series (explicit VR little endian, int16, rescale -1024, one file per slice,
written by pydicom) and a 181x217x181 int16 .nii.gz (the MNI152 1 mm grid) with smooth
content plus noise, so that it compresses like an MR volume rather than like zeros."""
import os
import sys

import numpy as np


def ct_series(d, nx=512, ny=512, nz=300):
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:ny, 0:nx]
    body = ((xx - nx / 2) ** 2 / (0.42 * nx) ** 2 + (yy - ny / 2) ** 2 / (0.35 * ny) ** 2) < 1
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for z in range(nz):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.StudyInstanceUID, ds.SeriesInstanceUID = "CT", study, series
        ds.FrameOfReferenceUID, ds.InstanceNumber = frame, z + 1
        ds.PatientName, ds.PatientID = "Bench^Read", "bench"
        ds.Rows, ds.Columns = ny, nx
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
        ds.ImagePositionPatient = [-179.2, -179.2, float(z)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        img = np.where(body, 1024 + 40, 0) + rng.normal(0, 20, (ny, nx))
        ds.PixelData = img.astype(np.int16).tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(os.path.join(d, "slice_%04d.dcm" % z), write_like_original=False)


def nifti_gz(path):
    import nibabel as nib
    rng = np.random.default_rng(1)
    z, y, x = np.mgrid[0:181, 0:217, 0:181].astype(np.float32)
    vol = 600 * np.exp(-((x - 90) ** 2 / 70 ** 2 + (y - 108) ** 2 / 85 ** 2 + (z - 90) ** 2 / 70 ** 2))
    vol += rng.normal(0, 15, vol.shape)
    aff = np.diag([-1.0, 1.0, 1.0, 1.0])
    aff[:3, 3] = [90, -126, -72]
    nib.save(nib.Nifti1Image(vol.transpose(2, 1, 0).astype(np.int16), aff), path)


if __name__ == "__main__":
    out = sys.argv[1]
    if not os.path.isdir(os.path.join(out, "ct")):
        ct_series(os.path.join(out, "ct"))
    if not os.path.exists(os.path.join(out, "mni.nii.gz")):
        nifti_gz(os.path.join(out, "mni.nii.gz"))
