#!/bin/sh
# Installs the environment file and systemd unit of one Freight service:
#   sh deploy/install.sh controller|agent [DESTDIR]
# The env files hold secrets (the node token, a DATABASE_URL password, the admin token):
# /etc/freight is 0700 and the env file 0600, root-owned. An existing env file is kept
# (it holds your settings) but its mode is tightened; the unit is always replaced.
set -eu
service=${1:?usage: install.sh controller|agent [DESTDIR]}
dest=${2:-}
case "$service" in controller|agent) ;; *) echo "install.sh: unknown service $service" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
umask 077
install -d -m 0700 "$dest/etc/freight"
chmod 0700 "$dest/etc/freight"
env="$dest/etc/freight/$service.env"
if [ -e "$env" ]; then
  chmod 0600 "$env"
else
  install -m 0600 "$here/$service.env" "$env"
fi
install -d -m 0755 "$dest/etc/systemd/system"
install -m 0644 "$here/systemd/freight-$service.service" "$dest/etc/systemd/system/freight-$service.service"
echo "installed $env (0600) and freight-$service.service; edit the env file, then: systemctl daemon-reload && systemctl enable --now freight-$service"
