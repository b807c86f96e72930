#!/usr/bin/env bash
<<<<<<< HEAD
# Builds the DICOM fuzzer with clang (libFuzzer + ASan + UBSan) and prepares a seed corpus.
# Usage: tools/fuzz/build.sh [out_dir]      then: out_dir/fuzz_dicom out_dir/corpus -max_total_time=180
# Crashes found (crash-*) belong in tests/fixtures/dicom/fuzz/ as regression inputs
# (tests/io/test_dicom_fuzz_regress.c runs every file there).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-fuzz}
mkdir -p "$out/corpus"
srcs=$(ls "$root"/src/io/dicom/*.c "$root"/src/core/*.c "$root"/src/io/atomic.c "$root"/src/io/sidecar.c \
          "$root"/src/io/image.c)
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -D_POSIX_C_SOURCE=200809L -std=c11 -I"$root/include" -I"$root/src" -I/usr/include/nifti \
  $(pkg-config --cflags libopenjp2 charls libjpeg libcjson) \
  "$root/tools/fuzz/fuzz_dicom.c" $srcs -o "$out/fuzz_dicom" \
  $(pkg-config --libs libopenjp2 charls libjpeg libcjson zlib openblas) -lnifti2 -lznz -lm -fopenmp
cp "$root"/tests/fixtures/dicom/*.dcm "$out/corpus/"
pyd=/usr/lib/python3/dist-packages/pydicom/data/test_files
if [ -d "$pyd" ]; then
  for f in "$pyd"/*.dcm; do
    [ "$(stat -c %s "$f")" -lt 65536 ] && cp "$f" "$out/corpus/"
  done
fi
echo "built $out/fuzz_dicom; corpus $(ls "$out/corpus" | wc -l) files"
=======
# Builds libhinge with clang + ASan/UBSan into build-fuzz/ and links the libFuzzer harnesses.
# Usage: tools/fuzz/build.sh   then   build-fuzz/fuzz_onnx -max_total_time=180 -jobs=1 CORPUS
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DHINGE_SANITIZE=ON -DHINGE_WERROR=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
cmake --build build-fuzz -j2 --target hinge_static >/dev/null
for h in tools/fuzz/fuzz_*.c; do
  n=$(basename "$h" .c)
  clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc "$h" build-fuzz/libhinge.a \
    $(pkg-config --libs openblas fftw3f libcjson zlib libpng libprotobuf-c) -lnifti2 -lznz -fopenmp -lm \
    -o "build-fuzz/$n"
done
echo "built: $(ls build-fuzz/fuzz_*)"
>>>>>>> onnx
