#!/usr/bin/env bash
# Installs moesim's build and test dependencies from Debian 12 packages (as root), only what is
# missing (clang and libclang-rt-14-dev build the fuzz targets with libFuzzer). The CUDA toolkit
# (calibration/) is optional and not installed here.
set -euo pipefail
packages=(cmake ninja-build g++ make pkg-config
  libboost-graph-dev libboost-program-options-dev libfmt-dev nlohmann-json3-dev catch2
  python3 python3-numpy python3-matplotlib python3-jsonschema flake8 clang-tidy
  clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: error: missing packages (${missing[*]}); run as root or install them with apt-get" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
