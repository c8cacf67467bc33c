#!/usr/bin/env bash
# Installs the Debian packages onionfleet's development, tests and demo need, and only those missing.
# Idempotent; silent when everything is present; runs as root without prompting (uses sudo otherwise).
set -euo pipefail

# package            what we use from it
packages=(
  nats-server        # the control-plane bus (JetStream KV)
  tor                # tor and tor-gencert: onion services and the private test network
  openssh-server     # sshd: SSH over Tor, enrollment tests, `sshd -t` validation
  openssh-client     # ssh-keygen -Y verify: members check bundle signatures with it (interop tests)
  age                # interop tests: members decrypt bundles with the age CLI
  openssl            # the SimpleX server doubles make their certificates with it
  nftables           # `nft -c -f` validates the rendered firewall
  systemd            # `systemd-analyze verify` validates the rendered units
  microsocks         # a plain SOCKS5 server for download-through-proxy tests
  chromium           # headless: the member's printable page is drawn and its QR codes scanned
  qemu-system-x86    # test:host: a real Debian host (systemd, AppArmor, nftables) under qemu
  qemu-utils         # test:host: qemu-img (a copy-on-write overlay per suite)
  debootstrap        # test:host: builds the host image once (cached)
)

# Node.js 20+ comes from the machine (Debian 12's own nodejs is 18): say so instead of failing later.
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "dev-deps: onionfleet needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
echo "dev-deps: installing ${missing[*]}" >&2
# A fresh machine may have no package lists yet; refresh only when an install is needed.
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/onionfleet-dev-deps.log 2>&1; then
  "${sudo[@]}" apt-get update -qq >>/tmp/onionfleet-dev-deps.log 2>&1
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/onionfleet-dev-deps.log 2>&1 \
    || { echo "dev-deps: apt-get install failed; see /tmp/onionfleet-dev-deps.log" >&2; exit 1; }
fi
