#!/usr/bin/env bash
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
