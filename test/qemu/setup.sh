# Sourced by run.sh: host packages, the Debian kernel and the initramfs, all
# cached in $CACHE. Each step is idempotent; the caller holds $CACHE/setup.lock.
# Failures that are outside the project's control (apt, mirror, disk) call
# skip(); anything else is a bug and fails the run.

HOST_PKGS=(qemu-system-x86 busybox-static kmod xz-utils iproute2 iputils-ping tcpdump iperf3)

missing_pkgs() {
    local p
    for p in "${HOST_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done
}

ensure_packages() {
    local need
    need=$(missing_pkgs | tr '\n' ' ')
    [ -z "${need// /}" ] && return 0
    log "installing $need"
    apt-get update -qq >"$CACHE/apt.log" 2>&1 || skip "apt-get update failed (see $CACHE/apt.log)"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need \
        >>"$CACHE/apt.log" 2>&1 || skip "apt-get install $need failed (see $CACHE/apt.log)"
}

# The disk check only matters before the first download: ~0.5 GiB extracted.
ensure_space() {
    local avail
    avail=$(df -Pk "$CACHE" | awk 'NR == 2 { print $4 }')
    [ "${avail:-0}" -ge $((1024 * 1024)) ] ||
        skip "less than 1 GiB free in $CACHE ($((avail / 1024)) MiB) for the kernel package"
}

kernel_pkg_name() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# Debian's generic amd64 kernel, extracted (not installed). NOT the -cloud
# flavour: linux-image-cloud-amd64 has no 9p support.
ensure_kernel() {
    KDIR=$CACHE/kernel
    if ! ls "$KDIR"/boot/vmlinuz-* >/dev/null 2>&1; then
        ensure_space
        local pkg=${KERNEL_PKG:-$(kernel_pkg_name)}
        if [ -z "$pkg" ]; then
            apt-get update -qq >"$CACHE/apt.log" 2>&1 || skip "apt-get update failed (see $CACHE/apt.log)"
            pkg=$(kernel_pkg_name)
        fi
        [ -n "$pkg" ] || skip "apt knows no linux-image-amd64 (not a Debian amd64 host?)"
        log "fetching $pkg"
        rm -rf "$CACHE/debs" "$KDIR.tmp"; mkdir -p "$CACHE/debs"
        (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg") \
            >"$CACHE/apt.log" 2>&1 || skip "apt-get download $pkg failed (see $CACHE/apt.log)"
        dpkg-deb -x "$CACHE"/debs/"$pkg"_*.deb "$KDIR.tmp"
        local v; v=$(basename "$(ls -d "$KDIR.tmp"/lib/modules/*)")
        depmod -b "$KDIR.tmp" "$v"
        mv "$KDIR.tmp" "$KDIR"
        rm -rf "$CACHE/debs"
    fi
    VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -n1)
    KVER=${VMLINUZ##*/vmlinuz-}
    ensure_vmlinux
}

# Boot the uncompressed ELF vmlinux through its PVH entry when we can:
# decompressing the xz bzImage under TCG costs ~4 s per boot.
ensure_vmlinux() {
    KERNEL=$KDIR/vmlinux-$KVER
    [ -s "$KERNEL" ] && return 0
    local off
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$VMLINUZ" | head -n1 | cut -d: -f1)
    if [ -n "$off" ] && tail -c +$((off + 1)) "$VMLINUZ" > "$KERNEL.xz" &&
       xz -dcq --single-stream "$KERNEL.xz" > "$KERNEL.tmp" 2>/dev/null &&
       [ "$(od -An -tx1 -N4 "$KERNEL.tmp" | tr -d ' ')" = 7f454c46 ]; then
        mv "$KERNEL.tmp" "$KERNEL"
    else
        log "could not extract an ELF vmlinux, booting the bzImage (slower)"
        rm -f "$KERNEL.tmp"; KERNEL=$VMLINUZ
    fi
    rm -f "$KERNEL.xz"
}

# Static busybox, the modules for virtio-9p + overlay, and init.sh as /init.
# The file name carries a hash of init.sh, so an edited init rebuilds it.
ensure_initramfs() {
    local h d ko
    h=$(cat "$HERE/init.sh" /bin/busybox | sha256sum | cut -c1-12)
    INITRD=$CACHE/initramfs-$KVER-$h.cpio.gz
    [ -s "$INITRD" ] && return 0
    log "building $INITRD"
    d=$CACHE/initramfs.d
    rm -rf "$d"; mkdir -p "$d"/{bin,dev,proc,sys,lower,rw,newroot,mods}
    cp /bin/busybox "$d/bin/busybox"
    install -m 755 "$HERE/init.sh" "$d/init"
    modprobe -d "$KDIR" -S "$KVER" -a --show-depends virtio_pci 9pnet_virtio 9p overlay |
        awk '$1 == "insmod" && !seen[$2]++ { print $2 }' |
        while read -r ko; do cp "$ko" "$d/mods/"; echo "${ko##*/}" >> "$d/mods/order"; done
    (cd "$d" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    rm -rf "$d"
    find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${INITRD##*/}" -delete
}

# /dev/kvm may exist but be unusable (nested virtualisation refusing an MSR
# aborts qemu at vcpu reset): start a paused VM; alive after 1 s means usable.
kvm_usable() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    local rc
    rc=$( (timeout 1 qemu-system-x86_64 -accel kvm -cpu host -M pc -m 64 -nodefaults \
        -display none -monitor none -S >/dev/null 2>&1; echo $?) 2>/dev/null)
    [ "$rc" = 124 ]
}
