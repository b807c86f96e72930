#!/usr/bin/env bash
# Builds libhinge with clang + ASan/UBSan into build-fuzz/, links every libFuzzer harness
# tools/fuzz/fuzz_<name>.c, and lays out seed corpora build-fuzz/corpus_<name>/ from the test
# fixtures. Usage: tools/fuzz/build.sh   then, e.g.
#   build-fuzz/fuzz_dicom build-fuzz/corpus_dicom -max_total_time=600
# Crashes (crash-*) go to tests/fixtures/<format>/fuzz/ as regression inputs.
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DHINGE_SANITIZE=ON -DHINGE_WERROR=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
cmake --build build-fuzz -j2 --target hinge_static >/dev/null
libs="$(pkg-config --libs openblas fftw3f libcjson zlib libpng libprotobuf-c libjpeg libopenjp2 charls)"
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
echo "built: $(ls build-fuzz/fuzz_*)"
