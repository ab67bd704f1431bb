#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/install: hvcore as a user gets it. A plain configure of this source
# tree (no preset, no build type: BUILD_TESTING and the benchmarks off),
# `cmake --build` of the default target and `cmake --install --prefix` into
# a temporary prefix; then, with that build tree moved away and a clean
# environment, against the prefix alone:
#   - the layout (GNUInstallDirs, multiarch libdir on Debian), the
#     components, hvcore.pc, and no build-tree path compiled in;
#   - the installed `hvcore` runs the console guest with its bundled
#     plug-in and guest, found relative to itself, and names the
#     directories it searched when a plug-in is missing;
#   - examples/standalone-dm built with its Makefile (pkg-config) and with
#     its CMakeLists.txt (find_package), each run with
#     `hvcore run console --on model --dm <the .so>`;
#   - a program linked to libhvcore.so (pkg-config, and hvcore::hvcore).
# usage: install_consumer.sh SOURCE_DIR WORK_DIR VERSION GENERATOR [C_LAUNCHER] [CXX_LAUNCHER]
#        install_consumer.sh --from-build BUILD_DIR SOURCE_DIR WORK_DIR
# The second form takes a tree already built - the one the README's first
# command (scripts/demo.sh) leaves in build/release - instead of building
# one: scripts/test.sh runs it right after scripts/demo.sh, so CI checks
# "the first command, then cmake --install, then a device model built
# against the prefix" as a user does it.
set -euo pipefail
fail() { echo "install test: FAILED: $*" >&2; exit 1; }
step() { echo "== $* ($(date +%T))"; }
cache_value() {  # cache_value BUILD NAME: a variable of BUILD's CMakeCache.txt
  sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt" | head -1
}

if [[ ${1:-} == --from-build ]]; then
  build=$(realpath "$2") src=$(realpath "$3") work=$4
  [[ -f $build/CMakeCache.txt ]] || fail "$build is not a CMake build tree (run scripts/demo.sh first)"
  version=$(cache_value "$build" CMAKE_PROJECT_VERSION)
  generator=$(cache_value "$build" CMAKE_GENERATOR)
  rm -rf "$work"
  mkdir -p "$work"
  work=$(realpath "$work")
  prefix=$work/prefix
  step "the tree scripts/demo.sh built: $build (hvcore $version)"
else
  src=$1 work=$2 version=$3 generator=$4 c_launcher=${5:-} cxx_launcher=${6:-}
  rm -rf "$work"
  mkdir -p "$work"
  prefix=$work/prefix
  build=$work/build

  step "configure (plain; CMAKE_INSTALL_PREFIX=/usr, installed into $prefix)"
  launchers=()
  [[ -n $c_launcher ]] && launchers+=("-DCMAKE_C_COMPILER_LAUNCHER=$c_launcher")
  [[ -n $cxx_launcher ]] && launchers+=("-DCMAKE_CXX_COMPILER_LAUNCHER=$cxx_launcher")
  # /usr, as a distribution configures it: GNUInstallDirs then picks Debian's
  # multiarch libdir; --prefix at install time relocates the whole tree.
  cmake -S "$src" -B "$build" -G "$generator" -DCMAKE_INSTALL_PREFIX=/usr "${launchers[@]}" >"$work/configure.log" \
    || { cat "$work/configure.log"; fail "configure"; }
  step "build (default target)"
  cmake --build "$build" >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; fail "build"; }
fi
# What a plain configure gives: an optimised build of what ships.
[[ $(cache_value "$build" CMAKE_BUILD_TYPE) == RelWithDebInfo ]] || fail "the build type is not RelWithDebInfo (the default)"
[[ $(cache_value "$build" BUILD_TESTING) == OFF ]] || fail "BUILD_TESTING is not OFF (the default)"
[[ $(cache_value "$build" HVCORE_WARNINGS_AS_ERRORS) == OFF ]] || fail "warnings are errors (not the default)"
for t in tests/unit/test_core tests/kvm/test_kvm examples/hvcore-demo bench/bench_p2m; do
  [[ ! -e $build/$t ]] || fail "the plain build built $t (test or bench only)"
done

step "install"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "install"; }
libdir=$(cache_value "$build" CMAKE_INSTALL_LIBDIR)
if [[ $(cache_value "$build" CMAKE_INSTALL_PREFIX) == /usr && -f /etc/debian_version ]] \
    && multiarch=$(gcc -print-multiarch 2>/dev/null) && [[ -n $multiarch ]]; then
  # GNUInstallDirs: Debian's multiarch libdir for the /usr prefix.
  [[ $libdir == lib/$multiarch ]] || fail "CMAKE_INSTALL_LIBDIR is $libdir, not Debian's lib/$multiarch"
fi
for f in bin/hvcore "$libdir/libhvcore.so.1" "$libdir/libhvcore.so.$version" "$libdir/libhvcore.so" \
    "$libdir/hvcore/dm/hvdm-uart.so" "$libdir/hvcore/dm/hvdm-shadow.so" share/hvcore/guests/console.bin \
    share/hvcore/guests/pagetable.bin include/hvcore/hv.h include/hvcore/hvdm.h include/hvcore/hvdm_plugin.h \
    include/hvcore/hv_version.h "$libdir/pkgconfig/hvcore.pc" "$libdir/cmake/hvcore/hvcoreConfig.cmake" \
    "$libdir/cmake/hvcore/hvcoreConfigVersion.cmake" "$libdir/cmake/hvcore/hvcoreTargets.cmake" \
    share/doc/hvcore/LICENSE share/doc/hvcore/README.md share/doc/hvcore/CHANGELOG.md \
    share/doc/hvcore/writing-a-device-model.md share/doc/hvcore/json-schema.md; do
  [[ -e $prefix/$f ]] || fail "not installed: $f"
done
cmp -s "$src/LICENSE" "$prefix/share/doc/hvcore/LICENSE" || fail "share/doc/hvcore/LICENSE is not the source tree's LICENSE"
[[ -L $prefix/$libdir/libhvcore.so ]] || fail "$libdir/libhvcore.so is not the development symlink"

# Components: runtime alone has no headers, development alone no program.
cmake --install "$build" --prefix "$work/runtime" --component runtime >/dev/null
cmake --install "$build" --prefix "$work/development" --component development >/dev/null
[[ -x $work/runtime/bin/hvcore && -e $work/runtime/$libdir/libhvcore.so.1 && ! -e $work/runtime/include \
   && -e $work/runtime/share/doc/hvcore/LICENSE ]] || fail "component runtime (the licence travels with it)"
[[ -e $work/development/include/hvcore/hv.h && -e $work/development/$libdir/pkgconfig/hvcore.pc \
   && ! -e $work/development/bin ]] || fail "component development"
if [[ -n $(cache_value "$build" HVCORE_XEN_LIBDIR) ]]; then
  [[ -e $work/runtime/$libdir/hvcore/xen/libxenforeignmemory.so.1 && ! -e $work/development/$libdir/hvcore/xen ]] \
    || fail "component runtime has the Xen drop-ins, development not"
fi
rm -rf "$work/runtime" "$work/development"

# The Xen drop-ins (built when Debian's libxen-dev is there, HVCORE_XEN=AUTO):
# the four libraries in <libdir>/hvcore/xen by their sonames and file
# names, no development symlink (nothing links against them: they stand in
# for Debian's at run time), RUNPATH $ORIGIN (libhvcore-xen.so.1 beside
# them) and $ORIGIN/../.. (libhvcore.so.1 in <libdir>).
xendir=$libdir/hvcore/xen
xen_built=""
if [[ -n $(cache_value "$build" HVCORE_XEN_LIBDIR) ]]; then
  xen_built=1
  for f in libxendevicemodel.so.1 libxendevicemodel.so.1.4 libxenevtchn.so.1 libxenevtchn.so.1.2 \
      libxenforeignmemory.so.1 libxenforeignmemory.so.1.4 libhvcore-xen.so.1 libhvcore-xen.so.1.0; do
    [[ -e $prefix/$xendir/$f ]] || fail "not installed: $xendir/$f"
  done
  for f in libxendevicemodel libxenevtchn libxenforeignmemory libhvcore-xen; do
    [[ ! -e $prefix/$xendir/$f.so ]] || fail "$xendir/$f.so: a development symlink is installed"
    runpath=$(readelf -d "$prefix/$xendir/$f.so.1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
    [[ $runpath == '$ORIGIN:$ORIGIN/../..' || $runpath == '$ORIGIN:$ORIGIN/../../' ]] \
      || fail "$xendir/$f.so.1: RUNPATH is '$runpath', not \$ORIGIN:\$ORIGIN/../.."
  done
elif pkg-config --exists xenforeignmemory 2>/dev/null; then
  fail "libxen-dev is installed but the plain build has no Xen drop-ins (HVCORE_XEN=AUTO)"
fi

# No path of the build tree is compiled in (read-only data of the program,
# the library and the plug-ins; debug info may name it, and is not used).
for f in "$prefix/bin/hvcore" "$prefix/$libdir/libhvcore.so.1" "$prefix/$libdir"/hvcore/dm/*.so \
    ${xen_built:+"$prefix/$xendir"/*.so.1}; do
  objcopy -O binary --only-section=.rodata "$f" "$work/rodata.bin"
  ! grep -qaF "$build" "$work/rodata.bin" || fail "$f has the build tree's path $build compiled in"
done
rm -f "$work/rodata.bin"

# From here on nothing may come from the build tree: move it away.
mv "$build" "$work/build.moved"
trap 'mv "$work/build.moved" "$build" 2>/dev/null || true' EXIT
clean_env=(env -i PATH=/usr/bin:/bin HOME="$work" LANG=C.UTF-8)
pc=("${clean_env[@]}" PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config)

step "hvcore.pc"
[[ $("${pc[@]}" --modversion hvcore) == "$version" ]] || fail "pkg-config --modversion hvcore is not $version"
[[ $("${pc[@]}" --variable=plugindir hvcore) == "$prefix/$libdir/hvcore/dm" ]] || fail "plugindir"
[[ $("${pc[@]}" --variable=guestdir hvcore) == "$prefix/share/hvcore/guests" ]] || fail "guestdir"
[[ $("${pc[@]}" --variable=hvcore hvcore) == "$prefix/bin/hvcore" ]] || fail "variable hvcore"
[[ $("${pc[@]}" --libs hvcore) == *-lhvcore* ]] || fail "pkg-config --libs"

hvcore=$prefix/bin/hvcore
expect_run() {  # expect_run LOG PATTERN ARGS...: exit 0 and PATTERN on stdout
  local log=$1 pattern=$2; shift 2
  "${clean_env[@]}" "$hvcore" "$@" >"$log" 2>&1 || { cat "$log"; fail "hvcore $* exited $?"; }
  grep -qF -- "$pattern" "$log" || { cat "$log"; fail "hvcore $*: no line '$pattern'"; }
}
line1="hello from a guest: x86-64 long mode, 4-level paging, 16550 at 0x3f8"

step "the installed hvcore with its bundled plug-in and guest"
expect_run "$work/bundled.log" "guest| $line1" run console --on model
set +e
"${clean_env[@]}" "$hvcore" run console --on model --dm no-such-model >"$work/missing.log" 2>&1
rc=$?
set -e
((rc != 0)) || fail "hvcore ran with a missing plug-in"
grep -qF "$prefix/$libdir/hvcore/dm" "$work/missing.log" || { cat "$work/missing.log"; fail "the message names no searched directory"; }

step "the installed demo: its device models as processes (hvcore dm, plug-ins from the prefix)"
expect_run "$work/demo.log" "hvcore demo: PASS" --on model
grep -qE "device model process 'exec \"\\\$HVCORE\" dm uart': pid [0-9]+, exited with status 0" "$work/demo.log" \
  || { cat "$work/demo.log"; fail "the demo's uart did not run as a process"; }
grep -qE "device model process 'exec \"\\\$HVCORE\" dm shadow': pid [0-9]+, exited with status 0" "$work/demo.log" \
  || { cat "$work/demo.log"; fail "the demo's shadow did not run as a process"; }
grep -qF "shadow: PASS" "$work/demo.log" || { cat "$work/demo.log"; fail "the demo's shadow process did not pass"; }

if [[ -n $xen_built ]]; then
  step "hvcore xen-exec: a program linked against Debian's Xen libraries gets the prefix's"
  "${clean_env[@]}" cc -o "$work/xen-linked" "$src/tests/cli/xen_linked.c" -Wl,--no-as-needed \
    $(pkg-config --cflags --libs xendevicemodel xenevtchn xenforeignmemory) || fail "cc xen_linked.c against Debian's"
  "${clean_env[@]}" "$work/xen-linked" >"$work/xen-debian.log" || fail "xen-linked without xen-exec"
  grep -q "/libxenforeignmemory\.so\.1" "$work/xen-debian.log" && ! grep -qF "$prefix" "$work/xen-debian.log" \
    || { cat "$work/xen-debian.log"; fail "without xen-exec the program did not load Debian's libraries"; }
  "${clean_env[@]}" "$hvcore" xen-exec "$work/xen-linked" >"$work/xen-exec.log" 2>&1 \
    || { cat "$work/xen-exec.log"; fail "hvcore xen-exec xen-linked"; }
  for f in "$xendir/libxendevicemodel.so.1" "$xendir/libxenevtchn.so.1" "$xendir/libxenforeignmemory.so.1" \
      "$libdir/libhvcore.so.1"; do
    grep -q "^$prefix/$f" "$work/xen-exec.log" || { cat "$work/xen-exec.log"; fail "under xen-exec $f was not loaded"; }
  done
  "${clean_env[@]}" "$hvcore" xen-exec --socket /run/x.sock sh -c 'echo "$LD_LIBRARY_PATH $HVCORE_DM_SOCKET"' \
    | grep -qx "$prefix/$xendir /run/x.sock" || fail "hvcore xen-exec: LD_LIBRARY_PATH or HVCORE_DM_SOCKET"
fi

step "examples/standalone-dm with its Makefile (pkg-config)"
cp -r "$src/examples/standalone-dm" "$work/dm-make"
# As its comment says: PKG_CONFIG_PATH on make's command line.
"${clean_env[@]}" make -C "$work/dm-make" PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" \
  CFLAGS="-O2 -Wall -Wextra -Werror -pedantic" >"$work/dm-make.log" 2>&1 \
  || { cat "$work/dm-make.log"; fail "make PKG_CONFIG_PATH=..."; }
expect_run "$work/run-make.log" "standalone-uart| $line1" run console --on model --dm "$work/dm-make/hvdm-standalone-uart.so"
# `make clean` needs no hvcore; then PKG_CONFIG_PATH from the environment.
"${clean_env[@]}" make -C "$work/dm-make" clean >>"$work/dm-make.log" 2>&1 \
  || { cat "$work/dm-make.log"; fail "make clean without PKG_CONFIG_PATH"; }
[[ ! -e $work/dm-make/hvdm-standalone-uart.so ]] || fail "make clean left the plug-in"
"${clean_env[@]}" PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" make -C "$work/dm-make" \
  CFLAGS="-O2 -Wall -Wextra -Werror -pedantic" >>"$work/dm-make.log" 2>&1 \
  || { cat "$work/dm-make.log"; fail "PKG_CONFIG_PATH=... make"; }
[[ -e $work/dm-make/hvdm-standalone-uart.so ]] || fail "PKG_CONFIG_PATH=... make built no plug-in"

step "examples/standalone-dm with its CMakeLists.txt (find_package)"
cmake_consumer() {  # cmake_consumer SOURCE BUILD: configure and build against the prefix alone
  "${clean_env[@]}" cmake -S "$1" -B "$2" -G "$generator" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$2.log" 2>&1 \
    && "${clean_env[@]}" cmake --build "$2" >>"$2.log" 2>&1 || { cat "$2.log"; fail "cmake consumer $1"; }
  grep -qx "hvcore_DIR:PATH=$prefix/$libdir/cmake/hvcore" "$2/CMakeCache.txt" || fail "find_package(hvcore) found no copy in $prefix"
}
cmake_consumer "$src/examples/standalone-dm" "$work/dm-cmake"
expect_run "$work/run-cmake.log" "standalone-uart| $line1" run console --on model --dm "$work/dm-cmake/hvdm-standalone-uart.so"

step "a program linked to libhvcore.so"
"${clean_env[@]}" cc -o "$work/version-pc" "$src/tests/install/consumer/version.c" \
  $("${pc[@]}" --cflags --libs hvcore) || fail "cc with pkg-config --cflags --libs hvcore"
"${clean_env[@]}" LD_LIBRARY_PATH="$prefix/$libdir" "$work/version-pc" | grep -qx "header $version, library $version" \
  || fail "version-pc"
cmake_consumer "$src/tests/install/consumer" "$work/version-cmake"
"${clean_env[@]}" "$work/version-cmake/hvcore-version" | grep -qx "header $version, library $version" \
  || fail "hvcore::hvcore consumer"

step "PASS"
find "$prefix" | sort | sed "s|^$prefix|<prefix>|"
echo "install test: PASS"
