#!/bin/busybox sh
# /init of the kernel-test initramfs (busybox). Loads virtio-9p + overlay,
# mounts the host's root read-only over 9p with a tmpfs overlay on top (all
# guest writes are thrown away), mounts the run's results share writable at
# /freight-out and switch_roots into /freight-out/stage2.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
die() { echo "freight-qemu initramfs: $*"; echo "FREIGHT_QEMU_RC=100"; sleep 1; poweroff -f; }
for m in $(cat /mods/order); do insmod "/mods/$m" || die "insmod $m failed"; done
for kv in $(cat /proc/cmdline); do
    case $kv in fq.kdir=*) KDIR=${kv#fq.kdir=} ;; esac
done
[ -n "$KDIR" ] || die "no fq.kdir= on the kernel command line"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower ||
    die "cannot mount the host root (9p)"
mount -t tmpfs -o mode=755 tmpfs /rw; mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
    die "cannot mount overlay"
# the guest kernel's modules at /lib/modules/<ver>: modprobe and module
# auto-loading (crypto algorithms, tunnel kinds) work as on an installed system
mkdir -p /newroot/lib/modules /newroot/freight-out
mount --bind "/newroot$KDIR/lib/modules" /newroot/lib/modules || die "no modules dir"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 fqout /newroot/freight-out ||
    die "cannot mount the results share"
for f in proc sys dev; do mount --move /$f /newroot/$f; done
exec switch_root /newroot /bin/bash /freight-out/stage2.sh
