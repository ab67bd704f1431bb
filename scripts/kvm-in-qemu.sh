#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the KVM tests of a build tree (tests/kvm: ctest names kvm/...) on a
# real Linux KVM inside a QEMU TCG virtual machine whose CPU emulates AMD
# SVM with nested paging (-cpu max), for hosts without /dev/kvm.
#
#   scripts/kvm-in-qemu.sh BUILD_DIR
#   scripts/kvm-in-qemu.sh --bench BUILD_DIR   (or HVCORE_KVMQ_BENCH=1)
#
# With --bench, no test runs: the initramfs holds bench/bench_roundtrip and
# bench/bench_dm_proc of BUILD_DIR (configured with -DHVCORE_BUILD_BENCH=ON)
# and their libraries instead, /init runs bench_roundtrip with
# HVCORE_KVMQ_BENCH_ARGS (default --benchmark_repetitions=3) and prints its
# output, then its JSON between the lines `hvcore-kvmq: BENCH-JSON-BEGIN`
# and `hvcore-kvmq: BENCH-JSON-END`, which this script writes to
# BUILD_DIR/kvm-qemu/bench_roundtrip.json (the console part to
# bench_roundtrip.txt). It fails when the JSON is missing or the raw KVM
# loop was skipped inside. The timeout is then 900 s.
# HVCORE_KVMQ_BENCH_PROGRAM names another benchmark program of BUILD_DIR's
# bench/ to run so (bench_posted; default bench_roundtrip): its JSON and
# console output go to BUILD_DIR/kvm-qemu/<program>.json and .txt.
#
# The guest is Debian 12's own kernel (linux-image-amd64's current
# linux-image-6.1.0-*-amd64) and busybox-static, fetched as Debian packages
# with `apt-get download` into BUILD_DIR/kvm-qemu/cache (reused when
# present; nothing is installed on this machine) and unpacked with
# dpkg-deb. The initramfs holds busybox, kvm.ko + kvm-amd.ko and their
# dependencies, ctest and bash, and the build tree's KVM test programs, the
# programs and files they use (hvcore, irq_dm, dm_proc, libhvcore.so, the
# plug-ins and guests, tests/xen's xen_test_dm and hvcore's Xen drop-ins in
# xen/lib) at their paths on this machine, with every shared library ldd
# names. /init loads the modules, checks that /dev/kvm appears,
# then runs each test with ctest (its command, arguments, environment and
# working directory as on this machine) and prints its output and one line
# `hvcore-kvmq: RESULT pass|fail|skip SECONDS NAME`.
#
# Exits non-zero when the VM has no /dev/kvm, a test fails, a test is
# skipped inside the VM (there, a skip means the harness is broken) unless
# it is listed in HVCORE_KVMQ_EXPECTED_SKIP (an extended regex over test
# names; empty by default: no KVM test needs an Intel host), when a test
# gave no result, or when the VM does not finish in HVCORE_KVMQ_TIMEOUT
# seconds (default 300). A package that cannot be fetched (no network, no
# apt lists) is an error with the reason, never a pass.
#
# Other variables: HVCORE_KVMQ_TESTS (ctest -R regex, default '^kvm/'),
# HVCORE_KVMQ_EXCLUDE (ctest -E regex; default: the two demo tests on the
# model vCPUs, which use no KVM; set it empty to run them too),
# HVCORE_KVMQ_SMP (2), HVCORE_KVMQ_MEM (1G), HVCORE_KVMQ_CPU (QEMU's -cpu;
# max: every feature TCG emulates, SVM and NPT among them),
# HVCORE_KVMQ_TCG_THREAD (single: one host thread runs both vCPUs; with
# multi, one run of five on this machine hung, both guest CPUs in a soft
# lockup in the middle of the tests).
set -euo pipefail

die() { echo "kvm-in-qemu: $*" >&2; exit 1; }
bench=${HVCORE_KVMQ_BENCH:-0}
if [[ ${1:-} == --bench ]]; then bench=1; shift; fi
[[ $bench == 1 ]] || bench=0
(($# == 1)) || die "usage: $0 [--bench] BUILD_DIR"
build=$(cd "$1" && pwd) || die "no build directory $1"
src=$(cd "$(dirname "$0")/.." && pwd)
tests_re=${HVCORE_KVMQ_TESTS:-^kvm/}
# Not run inside by default: the two tests of the demo on the model vCPUs -
# they use no KVM (the host runs them as they are) and take ~110 s of the
# VM's time under TCG.
exclude_re=${HVCORE_KVMQ_EXCLUDE-^kvm/(cli_model_demo|cli_demo_without_kvm_says_so_and_runs_on_the_model_vcpus)\$}
expected_skip=${HVCORE_KVMQ_EXPECTED_SKIP:-}
vm_timeout=${HVCORE_KVMQ_TIMEOUT:-$((bench ? 900 : 300))}
bench_args=${HVCORE_KVMQ_BENCH_ARGS:---benchmark_repetitions=3}
bench_prog=${HVCORE_KVMQ_BENCH_PROGRAM:-bench_roundtrip}
smp=${HVCORE_KVMQ_SMP:-2}
mem=${HVCORE_KVMQ_MEM:-1G}
cpu=${HVCORE_KVMQ_CPU:-max}
tcg_thread=${HVCORE_KVMQ_TCG_THREAD:-single}
kvm_tests=$build/tests/kvm
if ((bench)); then
  for f in "$bench_prog" bench_dm_proc; do
    [[ -x $build/bench/$f ]] || die "$build/bench/$f is missing (configure $build with -DHVCORE_BUILD_BENCH=ON and build $bench_prog and bench_dm_proc)"
  done
else
[[ -f $kvm_tests/CTestTestfile.cmake ]] || die "$kvm_tests/CTestTestfile.cmake is missing (configure $build with BUILD_TESTING)"
fi
for tool in qemu-system-x86_64 apt-get dpkg-deb ldd ctest strip timeout; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh --oracles)"
done
t_start=$SECONDS

# --- The packages: Debian 12's kernel and busybox-static. ---
work=$build/kvm-qemu
cache=$work/cache
mkdir -p "$cache"
# fetch PACKAGE: PACKAGE's .deb in the cache, downloaded once.
fetch() {
  local pkg=$1 deb
  deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*_amd64.deb" | sort | tail -n 1)
  if [[ -z $deb ]]; then
    echo "kvm-in-qemu: apt-get download $pkg" >&2
    if ! (cd "$cache" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2); then
      die "cannot download the Debian package $pkg into $cache (no network or no apt lists: run apt-get update); the KVM tests in QEMU need it"
    fi
    deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*_amd64.deb" | sort | tail -n 1)
    [[ -n $deb ]] || die "apt-get download $pkg left no .deb in $cache"
  fi
  echo "$deb"
}
# The kernel package that linux-image-amd64 depends on now; offline, the one
# in the cache.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n 1) || true
if [[ -z $kpkg ]]; then
  kpkg=$(find "$cache" -maxdepth 1 -name 'linux-image-6.1.0-*-amd64_*.deb' -printf '%f\n' | sed 's/_.*//' | sort -V | tail -n 1)
  [[ -n $kpkg ]] || die "apt-cache knows no linux-image-amd64 (run apt-get update) and $cache holds no kernel package"
fi
kdeb=$(fetch "$kpkg")
# A kernel package of an older ABI (linux-image-amd64 moved on) goes.
find "$cache" -maxdepth 1 -name 'linux-image-*.deb' ! -name "$(basename "$kdeb")" -delete
bdeb=$(fetch busybox-static)
# unpack DEB DIR: dpkg-deb -x once per .deb.
unpack() {
  if [[ ! -f $2/.from || $(cat "$2/.from") != "$(basename "$1")" ]]; then
    rm -rf "$2" && mkdir -p "$2"
    dpkg-deb -x "$1" "$2"
    basename "$1" >"$2/.from"
  fi
}
unpack "$kdeb" "$cache/kernel"
unpack "$bdeb" "$cache/busybox"
kver=${kpkg#linux-image-}
vmlinuz=$cache/kernel/boot/vmlinuz-$kver
kmods=$cache/kernel/lib/modules/$kver/kernel
busybox=$cache/busybox/bin/busybox
[[ -f $vmlinuz && -x $busybox ]] || die "the unpacked packages lack $vmlinuz or $busybox"

# --- The tests to run: ctest's list for tests/kvm (this script's own test excluded). ---
names=()
if ((!bench)); then
ctest_filter=(-R "$tests_re" -LE '^kvm-qemu$')
[[ -z $exclude_re ]] || ctest_filter+=(-E "$exclude_re")
mapfile -t names < <(ctest --test-dir "$kvm_tests" -N "${ctest_filter[@]}" | sed -n 's/^ *Test *#[0-9]*: //p')
((${#names[@]} > 0)) || die "ctest lists no test matching '$tests_re' in $kvm_tests"
if [[ -n $exclude_re ]]; then
  ctest --test-dir "$kvm_tests" -N -R "$tests_re" -LE '^kvm-qemu$' | sed -n 's/^ *Test *#[0-9]*: //p' | grep -E "$exclude_re" \
    | sed 's/^/kvm-in-qemu: not run inside the VM (HVCORE_KVMQ_EXCLUDE): /' || true
fi
fi

# --- The initramfs. ---
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,kvmq,lib/kvm-modules}
cp "$busybox" "$root/bin/busybox"
# The modules in load order: kvm-amd depends on kvm and ccp, kvm on
# irqbypass (their .modinfo depends=); a missing one fails the run below.
modules=(virt/lib/irqbypass drivers/crypto/ccp/ccp arch/x86/kvm/kvm arch/x86/kvm/kvm-amd)
for m in "${modules[@]}"; do
  [[ -f $kmods/$m.ko ]] || die "$kmods/$m.ko is not in $kpkg"
  cp "$kmods/$m.ko" "$root/lib/kvm-modules/"
done
declare -A elves=()
# add FILE: FILE at its own path in the initramfs (ELF files without debug
# information, their libraries collected below).
add() {
  local f=$1 magic=""
  [[ -e $root$f ]] && return 0
  [[ -d $root${f%/*} ]] || mkdir -p "$root${f%/*}"
  LC_ALL=C read -r -N 4 magic <"$f" || true
  if [[ $magic == $'\x7fELF' ]]; then
    strip --strip-debug -o "$root$f" "$f" 2>/dev/null || cp "$f" "$root$f"
    elves[$f]=1
  else
    cp -p "$f" "$root$f"
  fi
}
# The build tree's parts the KVM tests use, at their paths: tests/kvm (the
# test programs, guests, irq_dm, CTestTestfile and doctest's lists),
# tests/ipc/dm_proc, tools (hvcore), examples/{dm,guests} (plug-ins,
# guests), libhvcore.so*, and tests/plugin's CTestTestfile (tests/kvm
# includes it; its tests do not run here).
files() { find "$@" -name CMakeFiles -prune -o -type f ! -name '*.o' ! -name '*.a' ! -name '*.log' -print0 2>/dev/null; }
if ((bench)); then
  # The benchmark, its device-model process (named by its path in the
  # build tree) and libhvcore.so* (bench_dm_proc links it).
  add "$build/bench/$bench_prog"
  add "$build/bench/bench_dm_proc"
  while IFS= read -r -d '' f; do add "$f"; done < <(find "$build/dm_api" -maxdepth 1 -type f -name 'libhvcore.so*' -print0)
else
while IFS= read -r -d '' f; do
  case $f in
    "$kvm_tests"/*) if [[ -x $f || $f == *.bin || $f == *.cmake ]]; then add "$f"; fi ;;
    *) add "$f" ;;
  esac
done < <(files "$kvm_tests" "$build/examples/dm" "$build/examples/guests" "$build/tests/plugin" -maxdepth 1
  find "$build/tools" "$build/tests/ipc" -maxdepth 1 -type f \( -name hvcore -o -name dm_proc \) -print0
  find "$build/dm_api" -maxdepth 1 -type f -name 'libhvcore.so*' -print0)
while IFS= read -r -d '' f; do
  mkdir -p "$root${f%/*}"
  cp -P "$f" "$root$f"
done < <(find "$build/dm_api" -maxdepth 1 -type l -name 'libhvcore.so*' -print0)
# hvcore knows it runs in a build tree (and finds the plug-ins in
# examples/dm) by the CMakeCache.txt next to tools/.
add "$build/CMakeCache.txt"
# tests/xen's xen_test_dm (kvm/a_xen_device_model_serves_a_kvm_guest_...):
# a Xen device model linked against Debian's Xen libraries (ldd adds
# them below), run with LD_LIBRARY_PATH at hvcore's drop-ins in xen/lib,
# which ldd cannot see from it: every file there, and its symbolic links
# (the sonames the dynamic linker looks for) as they are.
if [[ -x $build/tests/xen/xen_test_dm ]]; then
  add "$build/tests/xen/xen_test_dm"
  while IFS= read -r -d '' f; do add "$f"; done < <(find "$build/xen/lib" -maxdepth 1 -type f -print0)
  while IFS= read -r -d '' f; do
    mkdir -p "$root${f%/*}"
    cp -P "$f" "$root$f"
  done < <(find "$build/xen/lib" -maxdepth 1 -type l -print0)
fi
# Files of the source tree the tests name (scripts such as cli_sigint.sh).
while IFS= read -r f; do
  if [[ -f $f ]]; then add "$f"; fi
done < <(grep -oh "\"$src/[^\"]*\"" "$kvm_tests/CTestTestfile.cmake" | tr -d '"' | sort -u)
# ctest runs the tests as on this machine; bash runs their scripts.
add "$(command -v ctest)"
fi
add "$(command -v bash)"
ln -sf "$(command -v bash)" "$root/bin/bash" 2>/dev/null || true
# add_lib PATH: the library PATH names (a symbolic link, often) and PATH.
add_lib() {
  [[ -e $root$1 ]] && return 0
  local real
  real=$(readlink -f "$1")
  add "$real"
  if [[ ! -e $root$1 ]]; then mkdir -p "$root${1%/*}" && ln -s "$real" "$root$1"; fi
}
# Every shared library of every ELF file, and the dynamic loader.
for f in "${!elves[@]}"; do
  while IFS= read -r lib; do
    add_lib "$lib"
  done < <(ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
done
# ldd lists the libraries of the libraries too (it is transitive);
# the dynamic loader, named by its absolute path:
add_lib "$(ldd "$(command -v bash)" | sed -n 's/^[[:space:]]*\(\/[^ ]*ld-linux[^ ]*\) .*/\1/p')"

printf '%s\n' "${names[@]}" >"$root/kvmq-tests"
cat >"$root/init" <<EOF
#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# PID 1 of the KVM test VM (written by scripts/kvm-in-qemu.sh).
/bin/busybox --install -s
export PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/kvmq TMPDIR=/kvmq  # the VM's own scratch directory (initramfs)
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/shm /dev/pts; mount -t tmpfs shm /dev/shm; mount -t devpts pts /dev/pts
ln -sf /proc/self/fd /dev/fd
echo "hvcore-kvmq: BOOTED \$(cut -d' ' -f1 /proc/uptime)"
for m in irqbypass ccp kvm kvm-amd; do insmod /lib/kvm-modules/\$m.ko || echo "hvcore-kvmq: insmod \$m.ko failed"; done
if [ ! -c /dev/kvm ]; then
  echo "hvcore-kvmq: NO-KVM cpu flags of svm, npt, vmx: \$(grep -o -w -E 'svm|npt|vmx' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  dmesg | grep -i -E 'kvm|svm' | sed 's/^/hvcore-kvmq: dmesg /'
  poweroff -f
fi
echo "hvcore-kvmq: KVM \$(cut -d' ' -f1 /proc/uptime) \$(dmesg | grep -c 'Nested Paging enabled') npt"
EOF
if ((bench)); then
  cat >>"$root/init" <<EOF
cd /kvmq
echo "hvcore-kvmq: BENCH-BEGIN \$(cut -d' ' -f1 /proc/uptime) $build/bench/$bench_prog $bench_args"
$build/bench/$bench_prog $bench_args --benchmark_color=false --benchmark_out=/kvmq/bench.json --benchmark_out_format=json 2>&1
echo "hvcore-kvmq: BENCH-EXIT \$? \$(cut -d' ' -f1 /proc/uptime)"
echo "hvcore-kvmq: BENCH-JSON-BEGIN"
cat /kvmq/bench.json
echo "hvcore-kvmq: BENCH-JSON-END"
echo "hvcore-kvmq: DONE \$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
EOF
else
  cat >>"$root/init" <<EOF
cd $kvm_tests
while IFS= read -r name; do
  re=\$(printf '%s' "\$name" | sed 's/[][\\\\.*^\$+?(){}|]/\\\\&/g')
  t0=\$(cut -d' ' -f1 /proc/uptime)
  echo "hvcore-kvmq: BEGIN \$name"
  ctest --test-dir $kvm_tests -R "^\$re\\\$" -V --timeout 240 >/kvmq/out 2>&1
  t1=\$(cut -d' ' -f1 /proc/uptime)
  cat /kvmq/out
  n=\$(grep -c -E ' Test +#[0-9]+: ' /kvmq/out)
  st=\$(grep -E ' Test +#[0-9]+: ' /kvmq/out | tail -n 1)
  case "\$n:\$st" in
    1:*" Passed "*) r=pass ;;
    1:*Skipped*) r=skip ;;
    *) r=fail ;;
  esac
  echo "hvcore-kvmq: RESULT \$r \$(awk "BEGIN{printf \\"%.1f\\", \$t1-\$t0}") \$name"
  [ \$r = skip ] && echo "hvcore-kvmq: SKIP-REASON \$name: \$(grep -m1 -o 'SKIP.*' /kvmq/out)"
done </kvmq-tests
echo "hvcore-kvmq: DONE \$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
EOF
fi
chmod +x "$root/init"
initrd=$work/initrd.cpio
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc >"$initrd" 2>/dev/null)
echo "kvm-in-qemu: initramfs $((($(stat -c %s "$initrd") + 1048575) / 1048576)) MiB, $(((bench)) && echo "$bench_prog" || echo "${#names[@]} tests"), kernel $kpkg; prepared in $((SECONDS - t_start)) s" >&2

# --- The VM. ---
log=$work/console.log
t_vm=$SECONDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
set +e
timeout --kill-after=10 "$vm_timeout" qemu-system-x86_64 -machine q35 -accel "tcg,thread=$tcg_thread" -cpu "$cpu" -smp "$smp" -m "$mem" \
  -nographic -nic none -no-reboot -kernel "$vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 loglevel=5 panic=-1 mitigations=off" </dev/null 2>&1 | tr -d '\r' | tee "$log"
vm_rc=${PIPESTATUS[0]}
set -e
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
vm_s=$((SECONDS - t_vm))

# --- The verdict. ---
timed_out=0
if ((vm_rc == 124 || vm_rc == 137)); then
  timed_out=1
  echo "kvm-in-qemu: the VM did not finish in $vm_timeout s (HVCORE_KVMQ_TIMEOUT): killed" >&2
elif ((vm_rc != 0)); then
  echo "kvm-in-qemu: qemu-system-x86_64 exited with status $vm_rc" >&2
fi
if ! grep -q '^hvcore-kvmq: KVM ' "$log"; then
  ((timed_out == 0)) || die "the VM was killed before /dev/kvm appeared (see $log)"
  grep '^hvcore-kvmq: \(NO-KVM\|dmesg\|insmod\)' "$log" >&2 || true
  die "/dev/kvm did not appear in the VM (kvm-amd did not load: see the lines above and $log)"
fi
if ((bench)); then
  out=$build/kvm-qemu/$bench_prog.json
  sed -n '/^hvcore-kvmq: BENCH-JSON-BEGIN$/,/^hvcore-kvmq: BENCH-JSON-END$/p' "$log" | sed '1d;$d' >"$out"
  sed -n '/hvcore-kvmq: BENCH-BEGIN /,/hvcore-kvmq: BENCH-EXIT /p' "$log" >"${out%.json}.txt"
  st=$(sed -n 's/^.*hvcore-kvmq: BENCH-EXIT \([0-9]*\) .*/\1/p' "$log")
  [[ $st == 0 ]] || die "$bench_prog did not finish with status 0 inside the VM (status ${st:-none}; see $log)"
  grep -q '"name"' "$out" || die "no benchmark JSON between the markers (see $log)"
  if grep -q 'KVM loop skipped' "$out"; then die "the raw KVM loop was skipped inside the VM: $(grep -o 'KVM loop skipped[^"]*' "$out" | head -n 1)"; fi
  grep '^round trip, ' "$log" | sed 's/^/kvm-in-qemu: /' || true
  echo "kvm-in-qemu: this machine's load average before/after the VM: $load_before / $load_after" | tee -a "${out%.json}.txt"
  echo "kvm-in-qemu: $bench_prog measured on KVM inside QEMU TCG in ${vm_s} s: $out (console output ${out%.json}.txt)"
  exit 0
fi
declare -A result=() secs=()
while IFS= read -r l; do
  rest=${l#hvcore-kvmq: RESULT }
  st=${rest%% *}; rest=${rest#* }
  result[${rest#* }]=$st; secs[${rest#* }]=${rest%% *}
done < <(grep -E '^hvcore-kvmq: RESULT (pass|fail|skip) [0-9.]+ ' "$log")
bad=0
for name in "${names[@]}"; do
  case "${result[$name]:-}" in
    pass) echo "kvm-in-qemu: pass ${secs[$name]} s  $name" ;;
    skip)
      why=$(grep -F "hvcore-kvmq: SKIP-REASON $name: " "$log" | tail -n 1 | sed 's/^hvcore-kvmq: SKIP-REASON //')
      if [[ -n $expected_skip && $name =~ $expected_skip ]]; then
        echo "kvm-in-qemu: skipped (expected) $why"
      else
        echo "kvm-in-qemu: FAIL (skipped inside the VM, where KVM works: the harness is broken) $why" >&2; bad=1
      fi ;;
    fail) echo "kvm-in-qemu: FAIL ${secs[$name]} s  $name" >&2; bad=1 ;;
    *) echo "kvm-in-qemu: FAIL (no result: the VM stopped before it) $name" >&2; bad=1 ;;
  esac
done
grep -q '^hvcore-kvmq: DONE ' "$log" || { echo "kvm-in-qemu: the VM never reached the end of the tests" >&2; bad=1; }
booted=$(sed -n 's/.*hvcore-kvmq: BOOTED \([0-9.]*\).*/\1/p' "$log")
kvm_up=$(sed -n 's/^hvcore-kvmq: KVM \([0-9.]*\) .*/\1/p' "$log")
done_at=$(sed -n 's/^hvcore-kvmq: DONE \([0-9.]*\).*/\1/p' "$log")
echo "kvm-in-qemu: guest clock: /init at ${booted:-?} s, /dev/kvm at ${kvm_up:-?} s, tests done at ${done_at:-?} s;" \
  "QEMU ${vm_s} s, whole step $((SECONDS - t_start)) s; log $log"
((bad == 0)) || die "some KVM tests failed inside the VM"
echo "kvm-in-qemu: all ${#names[@]} KVM tests passed inside QEMU TCG (AMD SVM + NPT)"
