#!/usr/bin/env bash
# Builds libhinge with clang + ASan/UBSan into build-fuzz/, links every libFuzzer harness
# tools/fuzz/fuzz_<name>.c, and lays out seed corpora build-fuzz/corpus_<name>/ from the test
# fixtures. Usage: tools/fuzz/build.sh   then, e.g.
#   build-fuzz/fuzz_dicom build-fuzz/corpus_dicom -max_total_time=600
# Crashes (crash-*) go to tests/fixtures/<format>/fuzz/ as regression inputs.
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DHINGE_SANITIZE=ON -DHINGE_WERROR=OFF -DHINGE_MPI=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
cmake --build build-fuzz -j2 --target hinge_static >/dev/null
libs="$(pkg-config --libs openblas fftw3f libcjson zlib libpng libprotobuf-c libjpeg libopenjp2 charls hdf5-serial)"
for h in tools/fuzz/fuzz_*.c; do
  n=$(basename "$h" .c)
  clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc "$h" build-fuzz/libhinge.a \
    $libs -lnifti2 -lznz -fopenmp -lm -o "build-fuzz/$n"
  mkdir -p "build-fuzz/corpus_${n#fuzz_}"
done
seed() { # seed <corpus> <files...>: copy the small ones
  local dir=build-fuzz/corpus_$1; shift
  for f in "$@"; do [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 262144 ] && cp "$f" "$dir/"; done
  return 0
}
[ -d build-fuzz/corpus_dicom ] && seed dicom tests/fixtures/dicom/*.dcm \
  /usr/lib/python3/dist-packages/pydicom/data/test_files/*.dcm
[ -d build-fuzz/corpus_onnx ] && seed onnx tests/fixtures/onnx/*.onnx tests/fixtures/onnx/bad/*
[ -d build-fuzz/corpus_safetensors ] && seed safetensors tests/fixtures/*/*.safetensors
[ -d build-fuzz/corpus_nifti ] && for f in tests/fixtures/nifti/*.nii tests/fixtures/nifti/*.nii.gz; do
  [ -f "$f" ] || continue
  case "$f" in *.gz) flag='\x01' ;; *) flag='\x00' ;; esac
  { printf "$flag"; cat "$f"; } > "build-fuzz/corpus_nifti/$(basename "$f")"
done
[ -d build-fuzz/corpus_hdf5 ] && seed hdf5 tests/fixtures/fastmri/*.h5
[ -d build-fuzz/corpus_cfl ] && for f in tests/fixtures/mri/*.hdr; do
  [ -f "$f" ] && { cat "$f"; printf '\x00'; head -c 4096 "${f%.hdr}.cfl"; } > "build-fuzz/corpus_cfl/$(basename "$f")"
done
if [ -d build-fuzz/corpus_idx ]; then
  { printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02'; head -c 8 /dev/urandom; printf 'SPLT';
    printf '\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02'; } > build-fuzz/corpus_idx/tiny
fi
echo "built: $(ls build-fuzz/fuzz_*)"
