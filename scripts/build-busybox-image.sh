#!/usr/bin/env bash
# Builds the `busybox` rootfs from Debian's busybox-static into OUTDIR:
# /bin/busybox with every applet as a symlink, a udhcpc default script that
# configures eth0 (address, router, MTU from option 26, resolv.conf with search
# and nameserver), and the few files under /etc that a container expects.
# Usage: scripts/build-busybox-image.sh OUTDIR   (then: freight-agent image import busybox OUTDIR)
set -euo pipefail

out=${1:?usage: build-busybox-image.sh OUTDIR}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "build-busybox-image: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
# a dynamically linked busybox would need the host's libc inside the image
if ! "$bb" --list >/dev/null 2>&1; then echo "build-busybox-image: $bb does not run" >&2; exit 1; fi

mkdir -p "$out"
cd "$out"
mkdir -p bin sbin usr/bin usr/sbin usr/share/udhcpc etc root tmp proc sys dev run var/run var/tmp usr/lib
chmod 1777 tmp var/tmp
install -m 0755 "$bb" bin/busybox

# Applet symlinks at the path busybox itself declares (/bin, /sbin, /usr/bin, /usr/sbin).
"$bb" --list-full | while read -r path; do
  [ "$path" = bin/busybox ] && continue
  ln -sf /bin/busybox "$path"
done

cat > usr/share/udhcpc/default.script <<'EOF'
#!/bin/sh
# udhcpc event script: configures $interface from the lease.
# Variables from udhcpc: ip subnet mask router mtu dns domain search
[ -n "$1" ] || exit 1
RESOLV=/etc/resolv.conf
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    ip link set "$interface" up
    if [ -n "$router" ]; then
      ip route del default dev "$interface" 2>/dev/null
      for r in $router; do ip route add default via "$r" dev "$interface" && break; done
    fi
    {
      s="$search"; [ -z "$s" ] && s="$domain"
      [ -n "$s" ] && echo "search $s"
      for d in $dns; do echo "nameserver $d"; done
    } > "$RESOLV.tmp" && mv "$RESOLV.tmp" "$RESOLV"
    ;;
esac
exit 0
EOF
chmod 0755 usr/share/udhcpc/default.script
# Debian builds busybox with /etc/udhcpc/default.script as udhcpc's default: plain `udhcpc -i eth0` finds it there
mkdir -p etc/udhcpc
ln -sf /usr/share/udhcpc/default.script etc/udhcpc/default.script

cat > etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > etc/group <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat > etc/shadow <<'EOF'
root:*:19000:0:99999:7:::
EOF
chmod 0640 etc/shadow
cat > etc/hosts <<'EOF'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
EOF
: > etc/resolv.conf
echo busybox > etc/hostname
cat > etc/nsswitch.conf <<'EOF'
hosts: files dns
EOF
# nspawn refuses a tree without os-release
cat > usr/lib/os-release <<'EOF'
NAME="Freight busybox"
ID=freight-busybox
PRETTY_NAME="Freight busybox image"
EOF
ln -sf ../usr/lib/os-release etc/os-release
echo "built busybox image in $out"
