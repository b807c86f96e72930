#!/usr/bin/env bash
# Installs the Debian 12 packages hinge needs to build, test and run its demos.
# Usage: tools/install-deps.sh [--peers]   (--peers adds PyTorch, scikit-image etc. for tools/)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libfftw3-dev libnifti2-dev libcjson-dev
      zlib1g-dev libpng-dev libjpeg62-turbo-dev libopenjp2-7-dev libcharls-dev
      libprotobuf-c-dev libhdf5-dev libdnnl-dev dataset-fashion-mnist openmpi-bin libopenmpi-dev
      mricron-data)
if [ "${1:-}" = "--peers" ]; then
  pkgs+=(python3-torch python3-numpy python3-skimage python3-nibabel python3-pydicom python3-onnx python3-h5py python3-scipy python3-matplotlib protobuf-c-compiler bart)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
