#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs (as root, with apt-get) whatever hvcore needs that is missing on
# a Debian 12 machine. Every dependency is a Debian package, found by CMake
# with find_package; nothing is downloaded at build time.
set -euo pipefail

# --cross: also the Arm64 cross toolchain, the arm64 multiarch -dev packages
# and qemu-user, for the arm64-cross preset.
# --oracles: also what the oracle tests (arch/<b>/tests/oracle) run hvcore's tables
# under - QEMU's system emulators, Bochs with its ROMs and terminal display,
# and clang + lld for the bare-metal stubs. Without them those tests are
# skipped, with the reason.
cross=0
oracles=0
for arg in "$@"; do
  case "$arg" in
    --cross) cross=1 ;;
    --oracles) oracles=1 ;;
    *) echo "install-deps: unknown option $arg (known: --cross, --oracles)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential   # g++ 12, make
  cmake             # 3.25: workflow presets
  ninja-build       # the presets' generator
  libfmt-dev        # fmt (find_package(fmt))
  libmsgsl-dev      # Microsoft GSL (find_package(Microsoft.GSL))
  doctest-dev       # doctest (find_package(doctest))
  libzydis-dev      # Zydis 4 (find_package(zydis))
  libbenchmark-dev  # Google Benchmark (find_package(benchmark))
  python3           # scripts/bench-compare.py (standard library only) and its tests bench/compare_*
  binutils          # nm, for the exported-symbol test
  doxygen           # the API reference (target docs) and its test docs/doxygen
  groff-base        # groff: the man-page test docs/man-render
  abigail-tools     # abidiff, abidw: the stable-ABI check (tests/abidiff) and scripts/abi-baseline.sh
  clang-14          # the clang and tsan presets (clang-14, clang++-14)
  libclang-rt-14-dev  # clang's sanitizer runtimes (-fsanitize=thread) and libFuzzer (-fsanitize=fuzzer, the fuzz preset); only recommended by clang-14
  llvm-14           # llvm-symbolizer: TSan reports with file:line
  libcli11-dev        # CLI11: the `hvcore` command line's option parser (find_package(CLI11))
  nlohmann-json3-dev  # nlohmann/json: `hvcore run --json` (find_package(nlohmann_json))
  libelf-dev          # libelf (elfutils): ELF guests for `hvcore run` (pkg-config libelf)
  pkgconf             # pkg-config, which finds libelf and the Xen headers
  libxen-dev          # Xen 4.17's headers and libraries: the drop-ins (xen/) compile against the headers; the Xen device-model test links the real libraries
)
if ((cross)); then
  packages+=(
    g++-aarch64-linux-gnu  # the cross compiler
    qemu-user              # runs the Arm64 test programs (qemu-aarch64)
    libfmt-dev:arm64       # fmt for the target (multiarch)
  )
fi

if ((oracles)); then
  packages+=(
    qemu-system-arm  # qemu-system-aarch64: the Arm64 stage-2 oracle (arch/arm64/tests/oracle)
    clang            # builds the bare-metal stubs (--target=aarch64-none-elf, x86_64)
    lld              # links them (ld.lld)
    bochs       # Bochs 2.7 with VMX level 2 (EPT): arch/x86_vmx/tests/oracle
    bochs-term  # its terminal display, the one that runs without a GUI
    bochsbios   # Bochs's ROM images (VGABIOS-lgpl-latest)
    vgabios     # the VGA ROM image Bochs loads
    qemu-system-x86  # QEMU 7.2 TCG with SVM + nested paging: arch/x86_svm/tests/oracle (Bochs 2.7, cpu ryzen, its second opinion)
    seabios          # QEMU's x86 BIOS
    # qemu-system-x86 also runs the KVM tests in a VM (scripts/kvm-in-qemu.sh, label
    # kvm-qemu); its guest kernel and busybox-static are Debian packages it fetches with
    # `apt-get download` at test time into the build tree (not installed here).
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
