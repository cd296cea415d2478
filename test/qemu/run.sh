#!/bin/bash
# run.sh - the project's kernel tests on a real Debian kernel under qemu.
#
# Boots Debian's linux-image-amd64 kernel ONCE (TCG, or KVM when /dev/kvm is
# usable) over this machine's root filesystem (read-only 9p + tmpfs overlay),
# so the guest runs this machine's node, ip, tcpdump and this checkout, and
# has geneve, ESP and gcm(aes), which the host kernel lacks.
#
# Usage (as root, from anywhere):
#   test/qemu/run.sh [VITEST_ARG...]   guest suites (test/qemu/*.kernel.ts) with
#                                      test/qemu/vitest.config.ts; args go to vitest
#   test/qemu/run.sh --exec CMD [ARG...]  any command in the checkout inside the guest
#
# Exit status: 0 pass or SKIPPED (see policy), the guest command's status on
# failure, 100 when the guest never reported one (boot failure, panic, timeout).
#
# Skip policy: "SKIPPED: <why>" and exit 0 only when the cause is outside the
# project: not root, not an x86_64 Debian host, apt/mirror failure while
# installing packages or downloading the kernel, under 1 GiB free for the
# kernel cache. Everything after the kernel is in the cache (initramfs build,
# boot, the tests) fails the run. FREIGHT_QEMU_STRICT=1 turns skips into exit 3.
#
# Environment:
#   FREIGHT_QEMU_CACHE    kernel/initramfs cache and runs (default /var/cache/freight-qemu)
#   FREIGHT_QEMU_OUT      results dir of this run (default $CACHE/runs/<time>-<pid>;
#                         $CACHE/last points to the latest)
#   FREIGHT_QEMU_MEM      guest MiB (default 2048)     FREIGHT_QEMU_SMP  guest CPUs (default 2)
#   FREIGHT_QEMU_ACCEL    qemu -accel (default kvm if a paused VM starts, else tcg,tb-size=256)
#   FREIGHT_QEMU_TIMEOUT  seconds before qemu is killed (default 900)
#   FREIGHT_QEMU_PASS_ENV names of host env vars to pass into the guest
#   KERNEL_PKG            Debian kernel package (default: linux-image-amd64's dependency)
set -euo pipefail

HERE=$(dirname "$(readlink -f "$0")")
ROOT=$(readlink -f "$HERE/../..")
log() { echo "freight-qemu: $*" >&2; }
skip() {
    echo "freight-qemu: SKIPPED: $*"
    [ "${FREIGHT_QEMU_STRICT:-0}" = 1 ] && { echo "freight-qemu: FREIGHT_QEMU_STRICT=1, failing"; exit 3; }
    exit 0
}

MODE=vitest
if [ "${1:-}" = --exec ]; then MODE=exec; shift; [ $# -gt 0 ] || { log "--exec needs a command"; exit 2; }; fi

[ "$(id -u)" = 0 ] || skip "kernel tests need root (network namespaces, qemu's 9p export of /)"
[ "$(uname -m)" = x86_64 ] || skip "host is $(uname -m), the runner boots Debian's amd64 kernel"
command -v apt-get >/dev/null || skip "no apt-get: not a Debian host"

CACHE=${FREIGHT_QEMU_CACHE:-/var/cache/freight-qemu}
mkdir -p "$CACHE" || skip "cannot create $CACHE"
CACHE=$(readlink -f "$CACHE")
MEM=${FREIGHT_QEMU_MEM:-2048}
SMP=${FREIGHT_QEMU_SMP:-2}
TIMEOUT=${FREIGHT_QEMU_TIMEOUT:-900}

# shellcheck source=setup.sh
. "$HERE/setup.sh"
exec 9>"$CACHE/setup.lock"
flock 9
ensure_packages
ensure_kernel
ensure_initramfs
flock -u 9
ACCEL=${FREIGHT_QEMU_ACCEL:-}
if [ -z "$ACCEL" ]; then
    if kvm_usable; then ACCEL=kvm; else ACCEL=tcg,tb-size=256; fi   # tb-size: TCG code cache MiB
fi

# This run's results share: stage2 (guest PID 1), the command, then what the
# guest writes: console.log, rc, results.json.
if [ -n "${FREIGHT_QEMU_OUT:-}" ]; then
    OUT=$FREIGHT_QEMU_OUT; rm -rf "$OUT"; mkdir -p "$OUT"; OUT=$(readlink -f "$OUT")
else
    mkdir -p "$CACHE/runs"
    OUT=$CACHE/runs/$(date +%Y%m%d-%H%M%S)-$$; mkdir "$OUT"
    ln -sfn "$OUT" "$CACHE/last"
    # keep the last 5 runs
    ls -1d "$CACHE"/runs/* | sort | head -n -5 | xargs -r rm -rf
fi
install -m 755 "$HERE/stage2.sh" "$OUT/stage2.sh"
# the guest's dataplane drivers run from dist/ (tsx would compile the agent in
# the guest: ~50 s under TCG); tsc emits even when it reports type errors
(cd "$ROOT" && node_modules/.bin/tsc -p tsconfig.json) >"$OUT/build.log" 2>&1 ||
    log "tsc reported errors (see $OUT/build.log); dist/ emitted anyway"
[ "$MODE" = vitest ] && set -- /bin/bash "$HERE/guest.sh" "$@"
{
    printf 'export PATH=%q HOME=/root LANG=C.UTF-8 FREIGHT_IN_QEMU=1 FREIGHT_DATAPLANE_DIST=1 TMPDIR=/tmp\n' "$PATH"
    for v in ${FREIGHT_QEMU_PASS_ENV:-}; do
        [ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"
    done
    printf 'cd %q || exit 98\n' "$ROOT"
    printf 'exec'; printf ' %q' "$@"; printf '\n'
} > "$OUT/cmd.sh"

BIOS=(); [ -e /usr/share/qemu/qboot.rom ] && BIOS=(-bios /usr/share/qemu/qboot.rom)  # faster, no banner
boot() {
    local cpu=max; [ "${ACCEL%%,*}" = kvm ] && cpu=host
    log "booting $KVER (accel=$ACCEL, ${MEM}M, smp=$SMP), results in $OUT"
    set +e
    timeout -k 5 "$TIMEOUT" qemu-system-x86_64 \
        -accel "$ACCEL" -M pc -cpu "$cpu" -smp "$SMP" -m "$MEM" "${BIOS[@]}" \
        -nodefaults -no-user-config -nographic -serial stdio -monitor none -no-reboot \
        -kernel "$KERNEL" -initrd "$INITRD" \
        -append "console=ttyS0 quiet loglevel=4 panic=-1 fq.kdir=$KDIR" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$OUT,mount_tag=fqout,security_model=none" \
        </dev/null 2>&1 | watch_console
    qrc=${PIPESTATUS[0]}
    set -e
}
# Echoes the console. On "KVM internal error" the vCPU stops and qemu waits (paused) until the
# timeout: seen with Debian's 6.1.0-57 kernel on this nested KVM (emulation of a lock cmpxchg16b
# at boot). That boot is ended at once, so the retry on TCG below follows without the timeout.
watch_console() {
    local line
    while IFS= read -r line; do
        line=${line%$'\r'}
        printf '%s\n' "$line"
        if [[ $line == "KVM internal error"* ]]; then
            log "KVM internal error: ending this boot"
            pkill -TERM -f -- "path=$OUT,mount_tag=fqout" || true
        fi
    done
}
start=$SECONDS
boot
# nested KVM here passes the paused-VM probe yet sometimes aborts at the first vCPU run
# ("failed to set MSR"): a KVM boot that dies before the guest wrote anything is retried on TCG
if [ -z "${FREIGHT_QEMU_ACCEL:-}" ] && [ "${ACCEL%%,*}" = kvm ] && [ ! -s "$OUT/rc" ] && [ ! -s "$OUT/console.log" ] && [ "$qrc" != 124 ]; then
    log "KVM boot aborted (qemu exit $qrc); retrying on TCG"
    ACCEL=tcg,tb-size=256
    boot
fi
if [ -s "$OUT/rc" ]; then
    rc=$(cat "$OUT/rc")
else
    log "no result from the guest (qemu exit $qrc$([ "$qrc" = 124 ] && echo ', timed out after '"$TIMEOUT"'s'))"
    rc=100
fi
if [ "$MODE" = vitest ]; then
    if [ -s "$OUT/results.json" ]; then
        node "$HERE/summary.mjs" "$OUT/results.json" || true
    else
        log "no vitest results file ($OUT/results.json)"
        [ "$rc" = 0 ] && rc=101
    fi
fi
echo "freight-qemu: $([ "$rc" = 0 ] && echo PASS || echo "FAIL (exit $rc)") in $((SECONDS - start))s; results in $OUT"
exit "$rc"
