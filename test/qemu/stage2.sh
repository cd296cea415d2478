#!/bin/bash
# PID 1 of the kernel-test guest after switch_root: minimal system setup, then
# the run's command (/freight-out/cmd.sh, written by run.sh). Its exit status
# goes to /freight-out/rc; the host reads it after qemu exits.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/netns /dev/pts /dev/shm
mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
# systemd-nspawn (the agents' containers) needs the unified cgroup hierarchy; PID 1 here is not systemd
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup || echo "freight-qemu: cannot mount cgroup2"
# /tmp stays the host's (read-only lower, writable tmpfs overlay on top): a checkout
# under /tmp — CI clones anywhere — must stay visible in the guest
hostname freight-qemu; ip link set lo up
echo "freight-qemu: guest $(uname -r) up after $(cut -d' ' -f1 /proc/uptime)s"
# through a pipe, so that the command's stdout is not a tty (as in CI: no colours)
/bin/bash /freight-out/cmd.sh </dev/null 2>&1 | tee /freight-out/console.log
rc=${PIPESTATUS[0]}
echo "$rc" > /freight-out/rc
echo "FREIGHT_QEMU_RC=$rc (guest uptime $(cut -d' ' -f1 /proc/uptime)s)"
sync
busybox poweroff -f || echo o > /proc/sysrq-trigger
sleep 30
