#!/usr/bin/env bash
# Checks a Swarm node can do what the estate's Swarm target asks of it, before anything deploys.
#
#   bash scripts/swarm/preflight.sh esp    exit 0 when this kernel can encrypt overlay traffic
#                                          (swarm.encryptOverlays: true), 1 with the reason otherwise
#
# Run it on every node (it looks at the kernel it runs on). Needs root and iproute2.
#
# Why: an encrypted overlay (`docker network create --opt encrypted`) is IPsec ESP in transport
# mode with AES-GCM (rfc4106). Docker creates the network even when the kernel cannot do that,
# and cross-node traffic on it is then dropped without an error anywhere. This check asks the
# kernel for exactly that kind of security association, in a throwaway network namespace.
set -euo pipefail

fail() { printf 'preflight: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run as root (it creates a throwaway network namespace)"

esp() {
  local ns="webide-preflight-$$" out rc=0
  ip netns add "$ns"
  # A documentation-range pair; the state never carries a packet and goes with the namespace.
  out="$(ip -n "$ns" xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 reqid 1 mode transport \
    aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128 2>&1)" || rc=$?
  ip netns del "$ns"
  if [ $rc -ne 0 ]; then
    fail "$(uname -n): this kernel ($(uname -r)) cannot encrypt overlay traffic (IPsec ESP with AES-GCM: ${out:-exit $rc}); on it an encrypted overlay drops cross-node traffic silently. Use a kernel with the esp4 and gcm modules, or set swarm.encryptOverlays: false in the local profile only"
  fi
  echo "preflight: $(uname -n): ESP with AES-GCM available: encrypted overlays can carry cross-node traffic"
}

case "${1:-}" in
  esp) esp ;;
  *) echo "usage: $0 esp" >&2; exit 2 ;;
esac
