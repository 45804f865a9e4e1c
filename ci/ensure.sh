#!/usr/bin/env bash
# Makes this checkout ready to run: npm packages, then host tools. Idempotent and quick (a few ms)
# when everything is there; the slow paths only run for what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Fast path: npm packages and host tools were checked for exactly these lists before (the stamp
# holds their checksum): skip both (~10 ms). A changed list, a fresh clone or `rm .cnilab/ensured`
# checks again.
lists="$(cat package-lock.json ci/host-tools.json | cksum)"
if [ "$(cat .cnilab/ensured 2>/dev/null || true)" != "$lists" ]; then
  stamp=node_modules/.cnilab-lock
  want=$(sha1sum package-lock.json | cut -c1-40)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "cnilab: installing npm packages (npm ci)" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
    echo "$want" > "$stamp"
  fi

  # Host tools: the zx installer decides what to install; skip it when every command is present.
  # ci/host-tools.json is the one list of what cnilab drives (command or path -> Debian package).
  need=0
  for c in $(sed -n 's/^ *"\([^"]*\)": .*/\1/p' ci/host-tools.json); do
    case "$c" in
      /*) [ -x "$c" ] || need=1 ;;
      *) command -v "$c" >/dev/null 2>&1 || need=1 ;;
    esac
  done
  if [ "$need" = 1 ]; then
    node ci/install-host.mjs >&2
  fi
  mkdir -p .cnilab && echo "$lists" > .cnilab/ensured
fi

# The qemu guest's kernel (IPIP where UML does not boot): Debian's own, fetched with apt-get
# download and unpacked into a cache keyed by its package version; later runs reuse it.
qcache="${CNILAB_QEMU_CACHE:-/var/cache/cnilab/qemu}"
if [ ! -f "$qcache/current.json" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  node --import tsx harness/backends/qemu/install.ts >&2
fi

# The real daemons, built from their Go modules once per version (ci/go-tools.json) into a cache
# that later runs and later checkouts reuse. Without Go the real-daemon modes are skipped, saying why.
gocache="${CNILAB_GO_CACHE:-/var/cache/cnilab/go}"
fv=$(sed -n '/"flanneld"/,/}/s/.*"version": "\([^"]*\)".*/\1/p' ci/go-tools.json)
if [ -z "${CNILAB_FLANNELD:-}" ] && [ ! -x "$gocache/flanneld-$fv/flanneld" ]; then
  if command -v go >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1; then
    echo "cnilab: building flanneld $fv from its Go module (once; cached in $gocache)" >&2
    mkdir -p "$gocache/flanneld-$fv"
    # cgo on: the udp backend's forwarder is C on amd64 (pkg/backend/udp/proxy_amd64.c).
    (cd ci/flanneld && CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-X github.com/flannel-io/flannel/pkg/version.Version=$fv" \
      -o "$gocache/flanneld-$fv/flanneld.tmp" github.com/flannel-io/flannel) >&2
    mv "$gocache/flanneld-$fv/flanneld.tmp" "$gocache/flanneld-$fv/flanneld"
  else
    echo "cnilab: no Go (or gcc) here: the flanneld-* modes will be skipped (or set CNILAB_FLANNELD)" >&2
  fi
fi

# The CLI as one prebuilt bundle (harness/host/bundle.ts), rebuilt when a source, the lock file or
# the tool lists (bundled in) changed since; a failed build leaves none, and bin/cnilab runs tsx.
bundle=.cnilab/cli/cnilab.mjs
if [ ! -f "$bundle" ] || [ -n "$(find harness package-lock.json ci/host-tools.json ci/go-tools.json -newer "$bundle" -print -quit)" ]; then
  node --import tsx harness/host/bundle.ts "$bundle" >&2 || rm -f "$bundle"
fi

# Everything above held when this was touched: bin/cnilab skips this script while it is newer than
# the lists and the bundle newer than every source.
touch .cnilab/ready
