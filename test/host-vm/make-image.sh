#!/bin/bash
# make-image.sh - builds (once; cached by a stamp) the Debian 12 amd64 host image that `npm run
# test:host` boots under qemu: its own kernel, systemd as PID 1, sshd, tor, nftables, AppArmor, and
# this machine's Node.js. Needs root, debootstrap and mkfs.ext4 (deploy/dev-deps.sh), and only the
# Debian mirror this machine's apt already uses; the guest itself never reaches it (see boot.ts).
#
#   test/host-vm/make-image.sh            # build when missing or stale (~2 min), else say it is cached
#   FORCE=1 test/host-vm/make-image.sh    # rebuild
#
# Output in $ONIONFLEET_VM_DIR (default ~/.cache/onionfleet-host-vm; it survives between runs on one
# machine, a clean CI machine builds it afresh): base.img (raw ext4, only ever read: every suite
# boots a copy-on-write overlay of it), vmlinuz, initrd.img, id_ed25519{,.pub} (root's login key),
# host-key (the image's sshd ed25519 key as `SHA256:…`, for pinning), stamp (what the image was built from: this script's hash, the mirror, the packages, node's version).
set -euo pipefail

VMDIR=${ONIONFLEET_VM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/onionfleet-host-vm}
SUITE=bookworm
MIRROR=${MIRROR:-$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-$(awk '/^deb / && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
[ -n "$MIRROR" ] || { echo "make-image: no Debian mirror in apt's sources; set MIRROR" >&2; exit 1; }
SIZE=4G
# What a Pi has (sshd, tor, nftables, AppArmor, systemd) and what the tests use in the guest: openssl
# (the SimpleX doubles make their certificates with it), python3 (small socket probes), sudo.
PKGS="systemd-sysv,udev,dbus,openssh-server,tor,nftables,apparmor,linux-image-amd64,initramfs-tools,iproute2,procps,sudo,kmod,python3,openssl,ca-certificates"
NODE=$(command -v node)
KEY="$(sha256sum "$0" | cut -c1-16) $SUITE $MIRROR $SIZE $PKGS node=$("$NODE" --version)"

mkdir -p "$VMDIR/cache"
cd "$VMDIR"
if [ -z "${FORCE:-}" ] && [ -f base.img ] && [ -f stamp ] && [ "$(cat stamp)" = "$KEY" ]; then
  echo "make-image: cached image is up to date: $VMDIR/base.img"
  exit 0
fi
command -v debootstrap >/dev/null && command -v mkfs.ext4 >/dev/null || {
  echo "make-image: needs debootstrap and e2fsprogs (bash deploy/dev-deps.sh)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "make-image: run as root (debootstrap)" >&2; exit 1; }

t0=$(date +%s)
[ -f id_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -C onionfleet-host-vm -f id_ed25519
R="$VMDIR/rootfs"
rm -rf "$R" base.img.tmp stamp host-key
echo "make-image: debootstrap $SUITE (packages cached in $VMDIR/cache; log in $VMDIR/debootstrap.log)"
debootstrap --variant=minbase --cache-dir="$VMDIR/cache" --include="$PKGS" "$SUITE" "$R" "$MIRROR" >debootstrap.log 2>&1 \
  || { tail -30 debootstrap.log >&2; exit 1; }

echo "make-image: configuring"
echo pihost >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tpihost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
echo '/dev/vda / ext4 errors=remount-ro 0 1' >"$R/etc/fstab"
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$R/etc/apt/sources.list"
# systemd-networkd: DHCPv4 and IPv6 router advertisements from qemu's user-mode network.
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\nIPv6AcceptRA=yes\n' >"$R/etc/systemd/network/10-dhcp.network"
chroot "$R" systemctl enable systemd-networkd.service >/dev/null 2>&1
# A stock tor would try the public Tor network: it starts only once the test has configured it.
chroot "$R" systemctl disable tor.service >/dev/null 2>&1 || true
rm -f "$R/etc/resolv.conf"
echo 'nameserver 10.0.2.3' >"$R/etc/resolv.conf"
install -d -m 700 "$R/root/.ssh"
install -m 600 id_ed25519.pub "$R/root/.ssh/authorized_keys"
# The journal goes to the serial console too (a file on the host, test/host-vm/host-vm.ts): the one
# way to see inside a guest whose firewall drops everything from the network.
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=yes\nTTYPath=/dev/ttyS0\nMaxLevelConsole=info\n' >"$R/etc/systemd/journald.conf.d/onionfleet-console.conf"
# A fresh machine-id on the first boot of every overlay.
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
# Node.js 20: this machine's own build runs unchanged on bookworm amd64 (Debian 12 ships 18).
install -m 755 "$NODE" "$R/usr/local/bin/node"
ssh-keygen -lf "$R/etc/ssh/ssh_host_ed25519_key.pub" | awk '{print $2}' >host-key
rm -f "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*_Packages 2>/dev/null || true

# A small initramfs: only what mounting /dev/vda needs.
printf 'MODULES=list\nCOMPRESS=gzip\n' >"$R/etc/initramfs-tools/conf.d/vm.conf"
printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n' >>"$R/etc/initramfs-tools/modules"
chroot "$R" update-initramfs -u -k all >/dev/null 2>&1
KVER=$(ls "$R/lib/modules" | sort -V | tail -1)
cp "$R/boot/vmlinuz-$KVER" vmlinuz
cp "$R/boot/initrd.img-$KVER" initrd.img

echo "make-image: mkfs.ext4 -d ($SIZE, sparse)"
truncate -s "$SIZE" base.img.tmp
mkfs.ext4 -q -F -L pihost -d "$R" base.img.tmp
mv base.img.tmp base.img
rm -rf "$R"
echo "$KEY" >stamp
echo "make-image: built in $(($(date +%s) - t0)) s: $VMDIR/base.img (kernel $KVER)"
