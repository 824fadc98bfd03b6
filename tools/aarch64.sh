#!/usr/bin/env bash
# make check-aarch64: librmap built for AArch64 Linux, then tested on an
# AArch64 Linux kernel: a Debian arm64 system booted in qemu-system-aarch64
# (full-system emulation: the mapping calls reach a real AArch64 kernel, so
# the differential suites compare librmap with that kernel, as on x86-64).
#
#   tools/aarch64.sh check     set up (once), build, boot, run everything
#   tools/aarch64.sh shell     a shell in the build chroot, the tree at /src
#
# Made from Debian's packages, kept in target/aarch64 (about 2 GB, set up
# once in a few minutes, again when a package list below changes):
# - root/: a Debian trixie amd64 chroot (debootstrap) that builds: rustc and
#   cargo from trixie-backports (Rust 1.98, with the AArch64 standard
#   library, libstd-rust-dev:arm64), the cross C compiler, qemu;
# - vm/ and vm.img: a Debian trixie arm64 system (debootstrap --arch=arm64,
#   its second stage run by qemu-aarch64 through binfmt_misc), with Debian's
#   arm64 kernel; the tree is shared into it at /src (9p).
# Needs root (debootstrap, chroot, mount, binfmt_misc): without it, says so
# and stops with status 0, running nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$PWD
root=$tree/target/aarch64/root
vm=$tree/target/aarch64/vm
triple=aarch64-unknown-linux-gnu
mirror=http://deb.debian.org/debian
build_backports="rustc cargo libstd-rust-dev:arm64"
build_packages="gcc-aarch64-linux-gnu libc6-dev-arm64-cross libpython3.13-dev:arm64 qemu-user qemu-system-arm e2fsprogs make gcc libc6-dev ca-certificates"
vm_packages="linux-image-arm64,bash,make,procps,util-linux,kmod,file,binutils,python3,python3-pytest,python3-numpy,libpython3.13-testsuite"
out=target/aarch64/$triple

if [ "$(id -u)" -ne 0 ]; then
    echo "skip aarch64: needs root (debootstrap, chroot, mount, binfmt_misc); nothing was run"
    exit 0
fi

log() { printf '== aarch64: %s\n' "$*"; }

# attempts COMMAND...: the package downloads, up to three times (a mirror's
# hiccup should not fail CI), the folder made again before each.
attempts() {
    local n
    for n in 1 2 3; do
        "$@" && return 0
        [ $n = 3 ] || { echo "     (attempt $n failed; again in 10 s)"; sleep 10; }
    done
    return 1
}

# Every mount below (the tree bound into the chroot, /dev, debootstrap's own)
# is made in a mount namespace of this script's own: when it ends, however
# it ends, they are gone, and nothing of the host's is left bound under
# target/ (where `rm -rf target` would reach through it).
if [ -z "${RMAP_AARCH64_NAMESPACE:-}" ] && [ "${1:-check}" != list ] && [ "${1:-check}" != in-vm ]; then
    RMAP_AARCH64_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi

# debootstrap cannot make a system in a folder whose path holds a space (its
# scripts split the path: chroot then finds no /bin/true): a tree there is
# bound, in this namespace, at a path without one, and used from there.
if [ -n "${RMAP_AARCH64_NAMESPACE:-}" ] && [[ "$tree" =~ [[:space:]] ]]; then
    spaceless=/run/rmap-aarch64-$$
    mkdir -p "$spaceless" && mount --bind "$tree" "$spaceless"
    cd "$spaceless"
    tree=$spaceless
    root=$tree/target/aarch64/root
    vm=$tree/target/aarch64/vm
fi

install_debootstrap() {
    command -v debootstrap >/dev/null && return
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >target/aarch64/apt-host.log 2>&1 ||
        { cat target/aarch64/apt-host.log; echo "FAIL aarch64: cannot install debootstrap"; exit 1; }
}

# AArch64 programs run through qemu-aarch64 (the chroot's static one; F: it
# is opened now, so it works inside the chroot too), as rmap-aarch64.
register_binfmt() {
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e /proc/sys/fs/binfmt_misc/rmap-aarch64 ] && echo -1 >/proc/sys/fs/binfmt_misc/rmap-aarch64
    printf '%s' ":rmap-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:$root/usr/bin/qemu-aarch64:F" \
        >/proc/sys/fs/binfmt_misc/register
}

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    mounted=()
    if [ -e /proc/sys/fs/binfmt_misc/rmap-aarch64 ]; then echo -1 >/proc/sys/fs/binfmt_misc/rmap-aarch64; fi
    if [ -n "${spaceless:-}" ]; then
        cd /
        umount -l "$spaceless" 2>/dev/null || true
        rmdir "$spaceless" 2>/dev/null || true
    fi
}

setup_chroot() {
    local stamp="$build_backports | $build_packages"
    [ -f "$root/.rmap-ready" ] && [ "$(cat "$root/.rmap-ready")" = "$stamp" ] && return
    log "the build chroot, Debian trixie amd64, in target/aarch64/root (once)"
    install_debootstrap
    attempts bash -c 'rm -rf "$1" && mkdir -p "$1" &&
        debootstrap --variant=minbase trixie "$1" "$2" >target/aarch64/debootstrap.log 2>&1' _ "$root" "$mirror" ||
        { tail -n 20 target/aarch64/debootstrap.log; echo "FAIL aarch64: debootstrap"; exit 1; }
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    echo "deb $mirror trixie-backports main" >"$root/etc/apt/sources.list.d/backports.list"
    attempts chroot "$root" sh -c "dpkg --add-architecture arm64 && apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t trixie-backports \
            $build_backports &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $build_packages" \
        >target/aarch64/apt.log 2>&1 ||
        { tail -n 20 target/aarch64/apt.log; echo "FAIL aarch64: the chroot's packages"; exit 1; }
    echo "$stamp" >"$root/.rmap-ready"
}

# The system the tests run on: its init mounts the tree and runs
# `tools/aarch64.sh in-vm`, then powers off.
setup_vm() {
    local stamp="$vm_packages"
    [ -f "$vm/.rmap-ready" ] && [ "$(cat "$vm/.rmap-ready")" = "$stamp" ] && [ -f target/aarch64/vm.img ] && return
    log "the test system, Debian trixie arm64, in target/aarch64/vm (once: a few minutes)"
    rm -f target/aarch64/vm.img
    if [ "$(cat "$vm/.rmap-debootstrapped" 2>/dev/null)" != "$stamp" ]; then
        install_debootstrap
        register_binfmt
        attempts bash -c 'rm -rf "$1" && mkdir -p "$1" &&
            debootstrap --arch=arm64 --variant=minbase --include="$3" trixie "$1" "$2" \
            >target/aarch64/debootstrap-vm.log 2>&1' _ "$vm" "$mirror" "$vm_packages" ||
            { tail -n 20 target/aarch64/debootstrap-vm.log; echo "FAIL aarch64: debootstrap of the arm64 system"; exit 1; }
        echo "$stamp" >"$vm/.rmap-debootstrapped"
    fi
    cat >"$vm/rmap-init" <<'EOF'
#!/bin/bash
# The test system's init (tools/aarch64.sh): the tree at /src, the tests, off.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
hostname aarch64
ip link set lo up 2>/dev/null
modprobe 9pnet_virtio && modprobe 9p && mkdir -p /src &&
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 src /src &&
    cd /src && HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 bash tools/aarch64.sh in-vm
echo "rmap-aarch64-status: $?"
sync
echo o >/proc/sysrq-trigger
sleep 10
EOF
    chmod +x "$vm/rmap-init"
    (cd "$vm/boot" && ln -sf vmlinuz-* vmlinuz && ln -sf initrd.img-* initrd.img)
    # An image of it, booted read-only-ish (qemu's snapshot mode: the
    # system's writes are dropped at the end).
    truncate -s 3G target/aarch64/vm.img
    chroot "$root" mkfs.ext4 -q -F -L rmap-vm -d /src/target/aarch64/vm /src/target/aarch64/vm.img ||
        { echo "FAIL aarch64: the system's image"; exit 1; }
    echo "$stamp" >"$vm/.rmap-ready"
}

enter() {
    # The chroot's root a mount point of its own, the tree at /src, and the
    # kernel's file systems.
    mount --bind "$root" "$root" && mounted+=("$root")
    mkdir -p "$root/src"
    mount --bind "$tree" "$root/src" && mounted+=("$root/src")
    mount -t proc proc "$root/proc" && mounted+=("$root/proc")
    mount --rbind /dev "$root/dev" && mounted+=("$root/dev")
    mount -t tmpfs tmpfs "$root/tmp" && mounted+=("$root/tmp")
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # This machine's trusted certificates (its network may have an authority
    # of its own), for cargo's downloads.
    cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$root/etc/ssl/certs/ca-certificates.crt"
}

# In the chroot: cargo's output and the C programs in target/aarch64, the
# crates cargo fetches in target/aarch64/cargo-home.
in_chroot() {
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        CARGO_HOME=/src/target/aarch64/cargo-home CARGO_TARGET_DIR=/src/target/aarch64 \
        CARGO_BUILD_TARGET=$triple CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar "$@"
}

make_vars=(RELEASE=$out/release CBIN=$out/c CHECKER_DIR=target/aarch64/checker CC=aarch64-linux-gnu-gcc)
# The Makefile's lists of C programs (written at the build, read on the system).
list() { make -s --no-print-directory --eval='print-%: ; @echo $($*)' "print-$1"; }

build() {
    log "build: $(in_chroot rustc --version)"
    # Each test program with its package's folder (cargo runs it there).
    in_chroot bash -c "cd /src && cargo test --locked --workspace --no-run --message-format=json 2>target/aarch64/cargo-build.log |
        sed -n 's|.*\"manifest_path\":\"\\([^\"]*\\)/Cargo.toml\".*\"test\":true}.*\"executable\":\"\\([^\"]*\\)\".*|\\1 \\2|p' \
        >target/aarch64/test-programs" ||
        { tail -n 30 target/aarch64/cargo-build.log; echo "FAIL aarch64: cargo test --no-run"; exit 1; }
    in_chroot bash -c "cd /src && { echo \"\$(tools/aarch64.sh list EXAMPLES)\"; echo \"\$(tools/aarch64.sh list SUITES)\"; } \
        >target/aarch64/c-programs"
    local programs
    programs="$(for p in $(tr '\n' ' ' <target/aarch64/c-programs); do printf '%s ' "$out/c/$p"; done)"
    in_chroot bash -c "cd /src && make --no-print-directory ${make_vars[*]} lib checker $out/c/rmap-check/misuse $programs" \
        >target/aarch64/make.log 2>&1 ||
        { tail -n 30 target/aarch64/make.log; echo "FAIL aarch64: make"; exit 1; }
    # The Python package for Debian's arm64 CPython 3.13: the extension
    # compiled as setup.py compiles it (its flags, the library beside it,
    # found through $ORIGIN), by the cross compiler (setup.py would need an
    # arm64 interpreter here).
    local package=$out/python/librmap python=python3.13
    mkdir -p "$package"
    cp bindings/python/librmap/*.py "$package/"
    cp "$out/release/librmap.so" "$package/librmap.so.0"
    in_chroot bash -c "cd /src && aarch64-linux-gnu-gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -fno-plt -O2 -g -fPIC -shared \
        -I/usr/include/$python -I/usr/include/aarch64-linux-gnu/$python -Iinclude bindings/python/librmap/_rmap.c \
        -o $package/_rmap.cpython-313-aarch64-linux-gnu.so -L$package -l:librmap.so.0 -Wl,-rpath,'\$ORIGIN'" \
        >>target/aarch64/make.log 2>&1 ||
        { tail -n 30 target/aarch64/make.log; echo "FAIL aarch64: the Python extension"; exit 1; }
}

boot() {
    log "boot: $(in_chroot qemu-system-aarch64 --version | head -n 1), Debian's arm64 kernel, 2 processors"
    rm -f target/aarch64/vm.log
    # At most an hour: a system that hangs fails the run.
    in_chroot timeout 3600 qemu-system-aarch64 -M virt -cpu max -smp 2 -m 4096 -nographic -no-reboot -nic none \
        -kernel /src/target/aarch64/vm/boot/vmlinuz -initrd /src/target/aarch64/vm/boot/initrd.img \
        -append "console=ttyAMA0 root=/dev/vda rw init=/rmap-init quiet" \
        -drive file=/src/target/aarch64/vm.img,format=raw,if=virtio,snapshot=on \
        -virtfs local,path=/src,mount_tag=src,security_model=none \
        </dev/null | sed -u 's/\r$//' | tee target/aarch64/vm.log | sed -u -n '/^== aarch64 system/,$p' |
        grep --line-buffered -v '^rmap-aarch64-status\|^\[ *[0-9.]*\] '
    local status
    status=$(sed -n 's/^rmap-aarch64-status: //p' target/aarch64/vm.log | tail -n 1)
    [ "$status" = 0 ] || { echo "FAIL aarch64: the run on the AArch64 system (status ${status:-none}; target/aarch64/vm.log)"; exit 1; }
}

case "${1:-check}" in
list)
    list "$2"
    ;;
shell)
    trap cleanup EXIT
    setup_chroot
    enter
    in_chroot bash -c 'cd /src && exec bash'
    ;;
check)
    trap cleanup EXIT
    mkdir -p target/aarch64
    setup_chroot
    enter
    setup_vm
    build
    boot
    ;;
in-vm)
    # On the AArch64 system: cargo's tests, the C suites and seed programs,
    # a misusing program under rmap-check, the Python package's tests (with
    # CPython's own test_mmap). Each part says N passed, N failed.
    set +e # every status is looked at below
    echo "== aarch64 system: $(uname -srm), $(nproc) processors, page size $(getconf PAGESIZE)"
    parts_passed=0 parts_failed=0
    part() { if [ "$1" = 0 ]; then parts_passed=$((parts_passed + 1)); else parts_failed=$((parts_failed + 1)); fi; }
    tests=0 failures=0 programs=0 status=0
    while read -r dir exe; do
        name=${exe##*/}
        (cd "$dir" && CARGO_HOME=/src/target/aarch64/cargo-home "$exe" -q --test-threads=2 >"/tmp/$name.log" 2>&1) || status=1
        programs=$((programs + 1))
        tests=$((tests + $(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed.*/\1/p' "/tmp/$name.log" | awk '{n += $1} END {print n + 0}')))
        failures=$((failures + $(sed -n 's/^test result: .* \([0-9]*\) failed.*/\1/p' "/tmp/$name.log" | awk '{n += $1} END {print n + 0}')))
        grep -q '^test result: ok' "/tmp/$name.log" && ! grep -q '^test result: FAILED' "/tmp/$name.log" || {
            grep -E '^test result|FAILED|panicked' "/tmp/$name.log" | head -n 20 | sed 's/^/     | /'
            echo "FAIL cargo test program $name"
            status=1
        }
    done <target/aarch64/test-programs
    [ $status = 0 ] && echo "ok   cargo test: $tests passed, $failures failed (in $programs test programs)" ||
        echo "FAIL cargo test: $tests passed, $failures failed (in $programs test programs)"
    part $status
    { read -r examples; read -r suites; } <target/aarch64/c-programs
    bash c_examples/run.sh check "$out/c" $examples >/tmp/examples.log 2>&1 & examples_pid=$!
    bash tests/c/run.sh "$out/c" $suites
    part $?
    wait $examples_pid
    part $?
    cat /tmp/examples.log
    if "$out/release/rmap-check" "$out/c/rmap-check/misuse" >/tmp/misuse.out 2>/tmp/misuse.err &&
        [ "$(grep -c '^rmap: double-unmap:' /tmp/misuse.err)" = 1 ] && [ "$(grep -c '^rmap: leak:' /tmp/misuse.err)" = 1 ] &&
        [ "$(grep -c '^rmap: write-exec:' /tmp/misuse.err)" = 1 ]; then
        echo "ok   rmap-check: an AArch64 program's double unmap, leak and write+exec mapping, reported once each"
        part 0
    else
        sed 's/^/     | /' /tmp/misuse.err
        echo "FAIL rmap-check of tests/rmap-check/misuse.c"
        part 1
    fi
    echo "== aarch64 system: Python $(python3 -c 'import sys; print(sys.version.split()[0])'): pytest of bindings/python/tests"
    if (cd /tmp && PYTHONPATH=/src/$out/python python3 -m pytest -q -rsP -p no:cacheprovider /src/bindings/python/tests \
        >/tmp/pytest.log 2>&1); then
        grep -h "^test.test_mmap against\|^CPython.s SharedMemory tests" /tmp/pytest.log | sed 's/^/ok   /'
        echo "ok   Python: $(tail -n 1 /tmp/pytest.log | tr -d =)"
        part 0
    else
        tail -n 40 /tmp/pytest.log | sed 's/^/     | /'
        echo "FAIL Python: $(tail -n 1 /tmp/pytest.log | tr -d =)"
        part 1
    fi
    echo "aarch64: $parts_passed passed, $parts_failed failed (cargo test, C suites, seed programs, rmap-check, Python)"
    [ $parts_failed = 0 ]
    ;;
*)
    echo "usage: tools/aarch64.sh [check|shell]" >&2
    exit 2
    ;;
esac
