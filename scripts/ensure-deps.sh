#!/usr/bin/env bash
# Installs what Freight's demo and tests need on a Debian machine, only when missing:
#   systemd-container  systemd-nspawn, the container runtime
#   busybox-static     the busybox image (udhcpc inside containers) and the qemu initramfs
#   iproute2 nftables  ip/bridge to read kernel state; nft for anti-spoofing rules
#   dnsutils isc-dhcp-client  dig/nslookup and dhclient: real DNS and DHCP clients in tests
#   iperf3 tcpdump iputils-ping strace  traffic, captures, netlink message comparison
#   ethtool            offload features of the harness's underlay veths (bench/overlay.ts --underlay-gro)
#   qemu-system-x86 kmod xz-utils  the real-kernel suite (Debian's kernel under qemu)
#   rpm createrepo-c gpg-agent gnupg  image RPMs: build, sign, publish, verify
#   debootstrap        a Debian tree booted with systemd inside a container (runtime test)
#   attr               getfattr: the agent finds overlayfs metacopy entries when an upgrade changes the layers
#   chromium           real headless Chromium for the web console's browser tests (test/browser/)
# and the npm packages (from package-lock.json) when node_modules is absent or stale.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(systemd-container busybox-static iproute2 nftables dnsutils isc-dhcp-client iperf3 tcpdump
      iputils-ping strace ethtool qemu-system-x86 kmod xz-utils rpm createrepo-c gpg-agent gnupg debootstrap
      attr chromium
      ${FREIGHT_EXTRA_PACKAGES:-})
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-deps: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  else
    echo "ensure-deps: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` with the committed lock file, not `npm ci`: vite (under vitest) names an
  # optional dependency the registry does not serve, which `npm ci` rejects as missing
  # from the lock while `npm install` skips it as optional and leaves the lock unchanged
  echo "ensure-deps: npm install (package-lock.json)" >&2
  npm install --no-audit --no-fund --loglevel=error
fi
