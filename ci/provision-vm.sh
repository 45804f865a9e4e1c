#!/usr/bin/env bash
# Provisions the Vagrant VM: Node 20 (Debian bookworm ships 18), then cnilab's own installer, which
# brings the npm packages and the Debian tools (iproute2, tcpdump, bird2, CNI plugins, ...).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! node --version 2>/dev/null | grep -q '^v2[02]\.'; then
  apt-get update -qq
  apt-get install -y -qq nodejs npm
  # Debian's npm installs the `n` version manager, which brings Node 20 next to the system's 18.
  npm install -g n
  n 20
  hash -r
fi
cd /cnilab
bash ci/ensure.sh
# The kernel here has the modules the sandbox lacks; doctor shows every mode on netns.
node --import tsx harness/cli/main.ts doctor
