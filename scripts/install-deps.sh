#!/usr/bin/env bash
# Installs (as root, with apt-get) whatever hvcore needs that is missing on
# a Debian 12 machine. Every dependency is a Debian package, found by CMake
# with find_package; nothing is downloaded at build time.
set -euo pipefail

# --cross: also the Arm64 cross toolchain, the arm64 multiarch -dev packages
# and qemu-user, for the arm64-cross preset.
cross=0
[[ "${1:-}" == "--cross" ]] && cross=1

packages=(
  build-essential   # g++ 12, make
  cmake             # 3.25: workflow presets
  ninja-build       # the presets' generator
  libfmt-dev        # fmt (find_package(fmt))
  libmsgsl-dev      # Microsoft GSL (find_package(Microsoft.GSL))
  doctest-dev       # doctest (find_package(doctest))
  libzydis-dev      # Zydis 4 (find_package(zydis))
  libbenchmark-dev  # Google Benchmark (find_package(benchmark))
  binutils          # nm, for the exported-symbol test
  clang-14          # the clang and tsan presets (clang-14, clang++-14)
  libclang-rt-14-dev  # clang's sanitizer runtimes (-fsanitize=thread); only recommended by clang-14
  llvm-14           # llvm-symbolizer: TSan reports with file:line
)
if ((cross)); then
  packages+=(
    g++-aarch64-linux-gnu  # the cross compiler
    qemu-user              # runs the Arm64 test programs (qemu-aarch64)
    libfmt-dev:arm64       # fmt for the target (multiarch)
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing ${missing[*]}; run as root (or with sudo) to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ((cross)) && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
