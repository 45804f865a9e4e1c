#!/usr/bin/env bash
# Makes this checkout ready to run: npm packages, then host tools. Idempotent and quick (a few ms)
# when everything is there; the slow paths only run for what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# What to build of the real daemons (ci/go-tools.json): by default what a plain `cnilab run` uses
# (flanneld and the flannel CNI plugin); `--all` everything (the tests and CI: kube-apiserver for
# --manifest, kind where Docker runs); `--only NAME` that one alone, nothing else checked (what
# `cnilab install NAME` and a first `run --manifest` call).
scope=default only=
case "${1:-}" in
  --all) scope=all ;;
  --only) scope=only only=${2:?--only needs a name from ci/go-tools.json} ;;
  "") ;;
  *) echo "ci/ensure.sh: unknown argument $1 (--all, or --only NAME)" >&2; exit 2 ;;
esac

# Fast path: npm packages and host tools were checked for exactly these lists before (the stamp
# holds their checksum): skip both (~10 ms). A changed list, a fresh clone or `rm .cnilab/ensured`
# checks again.
# Where the time of an install went, for the next slow first run to explain itself (`cnilab doctor`
# shows the last lines): "PHASE SECONDS DATE", one a phase that ran.
times="${CNILAB_CACHE:-/var/cache/cnilab}/install-times"
timed() {
  local phase=$1 t0 rc=0
  shift
  t0=$(date +%s)
  "$@" || rc=$?
  if mkdir -p "$(dirname "$times")" 2>/dev/null; then
    echo "$phase $(($(date +%s) - t0)) $(date -u +%FT%TZ)" >>"$times" 2>/dev/null || true
  fi
  return "$rc"
}
lists="$(cat package-lock.json ci/host-tools.json | cksum)"
if [ "$scope" != only ] && [ "$(cat .cnilab/ensured 2>/dev/null || true)" != "$lists" ]; then
  stamp=node_modules/.cnilab-lock
  want=$(sha1sum package-lock.json | cut -c1-40)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "cnilab: installing npm packages (npm ci)" >&2
    timed npm npm ci --no-audit --no-fund --loglevel=error >&2
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
    timed apt node ci/install-host.mjs >&2
  fi
  mkdir -p .cnilab && echo "$lists" > .cnilab/ensured
fi

# The qemu guest's kernel (IPIP where UML does not boot): Debian's own, fetched with apt-get
# download and unpacked into a cache keyed by its package version; later runs reuse it.
qcache="${CNILAB_QEMU_CACHE:-/var/cache/cnilab/qemu}"
if [ "$scope" != only ] && [ ! -f "$qcache/current.json" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  timed qemu-kernel node --import tsx harness/backends/qemu/install.ts >&2
fi

# The real daemons, built from their Go modules once per version (ci/go-tools.json) into a cache
# that later runs and later checkouts reuse. Without Go the real-daemon modes are skipped, saying why.
gocache="${CNILAB_GO_CACHE:-/var/cache/cnilab/go}"
version_of() { sed -n "/\"$1\"/,/}/s/.*\"version\": \"\([^\"]*\)\".*/\1/p" ci/go-tools.json; }
if [ "$scope" = only ] && [ -z "$(version_of "$only")" ]; then
  echo "ci/ensure.sh: --only $only: no such tool in ci/go-tools.json" >&2
  exit 2
fi
# build NAME ENV_VAR PACKAGE CGO LDFLAGS [TAGS [BINARY [WRAPPER]]]: once per version, in its wrapper
# module ci/WRAPPER (NAME by default; go.sum pins every module), into $gocache/NAME-VERSION/BINARY (NAME by default); a
# half-done build leaves no binary. Go's own output goes to a log; the terminal gets one line that
# says the time so far against the time expected (this machine's last build of NAME, else the
# first-build figure in ci/go-tools.json), so a long build is never mistaken for a hang, and how
# long it took goes into $gocache/NAME.seconds for next time (and `cnilab doctor`).
build() {
  local name=$1 envvar=$2 pkg=$3 cgo=$4 ldflags=$5 tags=${6:-} bin=${7:-$1} wrapper=${8:-$1} v
  v=$(version_of "$name")
  if [ -n "${!envvar:-}" ] || [ -x "$gocache/$name-$v/$bin" ]; then return 0; fi
  if ! command -v go >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
    echo "cnilab: no Go (or gcc) here: what needs $name will be skipped (or set $envvar)" >&2
    return 0
  fi
  mkdir -p "$gocache/$name-$v"
  local log="$gocache/$name-$v/build.log" expect start rc=0 pid
  expect=$(cat "$gocache/$name.seconds" 2>/dev/null || sed -n "/\"$name\"/,/}/s/.*\"firstBuildSeconds\": \([0-9]*\).*/\1/p" ci/go-tools.json)
  start=$(date +%s)
  (cd "ci/$wrapper" && CGO_ENABLED=$cgo GOFLAGS=-mod=mod go build -trimpath -tags "$tags" -ldflags "$ldflags" \
    -o "$gocache/$name-$v/$bin.tmp" "$pkg") >"$log" 2>&1 &
  pid=$!
  echo "cnilab: building $name $v from its Go module, once (Go's output: $log)" >&2
  while kill -0 "$pid" 2>/dev/null; do
    printf '\r  %s: %ss of ~%ss ' "$name" "$(($(date +%s) - start))" "${expect:-?}" >&2
    sleep 2
  done
  wait "$pid" || rc=$?
  printf '\r  %s: %ss of ~%ss\n' "$name" "$(($(date +%s) - start))" "${expect:-?}" >&2
  if [ "$rc" != 0 ]; then
    rm -f "$gocache/$name-$v/$bin.tmp"
    echo "cnilab: building $name $v failed at go build (exit $rc); its log: $log; last lines:" >&2
    tail -n 5 "$log" | sed 's/^/  /' >&2
    return "$rc"
  fi
  mv "$gocache/$name-$v/$bin.tmp" "$gocache/$name-$v/$bin"
  echo "$(($(date +%s) - start))" >"$gocache/$name.seconds"
  if mkdir -p "$(dirname "$times")" 2>/dev/null; then
    echo "build-$name $(($(date +%s) - start)) $(date -u +%FT%TZ)" >>"$times" 2>/dev/null || true
  fi
}
# not_built MESSAGE: a build that a plain run can do without failed: said, and the install goes on;
# asked for by name (--only, `cnilab install`), it fails the install.
not_built() {
  [ "$scope" = only ] && return 1
  echo "cnilab: $1" >&2
}
# wanted NAME: whether this call builds NAME.
wanted() { case "$scope" in all) return 0 ;; only) [ "$only" = "$1" ] ;; default) [ "$2" = default ] ;; esac; }
# Modules the Go module proxy here refuses (github.com/flannel-io/cni-plugin, Calico's api) come
# from ../shared/goproxy, a file-based proxy beside the checkout, where that folder exists; a
# user's machine gets them from the public proxy. Never GOPRIVATE: it would bypass every proxy.
shared_proxy="$(cd .. && pwd)/shared/goproxy"
if [ -d "$shared_proxy" ] && command -v go >/dev/null 2>&1; then
  GOPROXY="file://$shared_proxy,$(go env GOPROXY)"
  export GOPROXY
fi
# cgo on: flanneld's udp backend forwarder is C on amd64 (pkg/backend/udp/proxy_amd64.c).
fv=$(version_of flanneld)
wanted flanneld default && build flanneld CNILAB_FLANNELD github.com/flannel-io/flannel 1 "-X github.com/flannel-io/flannel/pkg/version.Version=$fv"
# kube-apiserver through a wrapper module (k8s.io/kubernetes replaces its staging modules with
# ./staging paths, which go install refuses); the version stamped as the release's own build does.
kv=$(version_of kube-apiserver)
km=${kv#v}; km=${km%%.*}; kn=${kv#v*.}; kn=${kn%%.*}
# Only --manifest uses it: built by `--all`, `cnilab install`, or the first `run --manifest`.
wanted kube-apiserver lazy && build kube-apiserver CNILAB_KUBE_APISERVER k8s.io/kubernetes/cmd/kube-apiserver 0 \
  "-s -w -X k8s.io/component-base/version.gitVersion=$kv -X k8s.io/component-base/version.gitMajor=$km -X k8s.io/component-base/version.gitMinor=$kn"
# The flannel CNI plugin, static as upstream builds it (its Makefile: netgo osusergo no_stage
# static_build, -X main.Program/Version/Commit); the flanneld modes' pods attach through it.
cv=$(version_of flannel-cni)
# Where its module cannot be had, the pods' delegation is reproduced and the results say so.
if wanted flannel-cni default; then
  build flannel-cni CNILAB_FLANNEL_CNI github.com/flannel-io/cni-plugin 0 \
    "-s -w -X main.Program=flannel -X main.Version=$cv -X main.Commit=$cv" "netgo osusergo no_stage static_build" flannel ||
    not_built "the flannel CNI plugin did not build (above): the flanneld modes reproduce its delegation, and say so"
fi
# Calico's calico-node and CNI plugin (release-v3.28, the one Calico module the proxy serves; its api
# module from ../shared/goproxy): for the real-Calico modes, built with --all or when first asked.
# Without cgo, as ../shared/notes/calico.md measured: no BPF data plane, iptables is fine. Stamped
# as node/Makefile does (LDFLAGS: startup.VERSION, buildinfo.GitVersion/GitRevision).
# Calico parses its own version as semver (libcalico-go migrator: a second -startup refuses "v3.28-..."):
# the commit after v3.28.5 on release-v3.28, named in semver build metadata.
calico_git=v3.28.5+a0db560f0520
# A calico-node cached under the same module version but stamped otherwise (before v3.28.5+...,
# which a second -startup refuses) is built again: the cache key is the module, the stamp matters too.
for t in calico-node:calico-node calico-cni:calico; do
  b="$gocache/${t%%:*}-$(version_of "${t%%:*}")/${t##*:}"
  if [ -x "$b" ] && [ "$("$b" -v 2>/dev/null | head -n1)" != "$calico_git" ]; then rm -f "$b"; fi
done
if wanted calico-node lazy; then
  build calico-node CNILAB_CALICO_NODE github.com/projectcalico/calico/node/cmd/calico-node 0 \
    "-s -w -X github.com/projectcalico/calico/node/pkg/lifecycle/startup.VERSION=$calico_git \
    -X github.com/projectcalico/calico/node/buildinfo.GitVersion=$calico_git -X github.com/projectcalico/calico/node/buildinfo.GitRevision=a0db560f0520" \
    "" calico-node calico ||
    not_built "calico-node did not build (above): the calico-node modes will be skipped, saying so"
fi
if wanted calico-cni lazy; then
  build calico-cni CNILAB_CALICO_CNI github.com/projectcalico/calico/cni-plugin/cmd/calico 0 \
    "-s -w -X main.VERSION=$calico_git" "" calico calico ||
    not_built "the Calico CNI plugin did not build (above): the calico-node modes will be skipped, saying so"
  # One binary, calico or calico-ipam by the name it is called by (cni-plugin/cmd/calico/calico.go).
  d="$gocache/calico-cni-$(version_of calico-cni)"
  if [ -x "$d/calico" ] && [ ! -e "$d/calico-ipam" ]; then ln -s calico "$d/calico-ipam"; fi
fi
# What calico-node's confd drives, for the real-Calico BGP modes (only where calico-node is wanted):
# - Debian's BIRD 1.6: confd's templates are BIRD 1.x syntax (BIRD 2 refuses them: "Channel not
#   specified"), and the `bird` package conflicts with bird2 (the model's BGP modes), so it is
#   unpacked into the cache by its package version, never installed.
# - confd's templates and conf.d from the calico module (read from the Go module cache, copied into
#   the cache by version, never into the repo), with one declaration added (below).
calico_parts() {
  local bv bdir mdir cdir tmp
  bv=$(apt-cache show --no-all-versions bird 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
  bdir="${CNILAB_CACHE:-/var/cache/cnilab}/bird1-$bv"
  if [ -n "$bv" ] && [ ! -x "$bdir/usr/sbin/bird" ]; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get download -q "bird=$bv" >/dev/null 2>&1 && dpkg -x bird_*.deb root); then
      rm -rf "$bdir" && mkdir -p "$(dirname "$bdir")" && mv "$tmp/root" "$bdir"
      echo "cnilab: unpacked Debian's BIRD $bv into $bdir (for calico-node's confd)" >&2
    else
      not_built "could not fetch Debian's bird $bv (apt-get download bird): the real-Calico BGP mode will be skipped"
    fi
    rm -rf "$tmp"
  fi
  cdir="$gocache/calico-confd-$(version_of calico-node)"
  if [ ! -f "$cdir/templates/bird_ipam.cfg.template" ]; then
    mdir=$(cd ci/calico && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/projectcalico/calico 2>/dev/null) || mdir=
    if [ -z "$mdir" ] || [ ! -d "$mdir/confd/etc/calico/confd/templates" ]; then
      not_built "calico's confd templates are not in the Go module cache: the real-Calico BGP mode will be skipped"
      return 0
    fi
    rm -rf "$cdir.tmp" && mkdir -p "$cdir.tmp"
    cp -r "$mdir/confd/etc/calico/confd/templates" "$mdir/confd/etc/calico/confd/conf.d" "$cdir.tmp/"
    chmod -R u+w "$cdir.tmp"
    # The one change stock BIRD needs: the templates set `krt_tunnel`, an attribute only Calico's
    # BIRD fork has (it makes BIRD write IPIP routes through tunl0). Stock BIRD 1.6 refuses the
    # config ("You may set only variables"); declared as the filter's local variable it parses, and
    # the setting does nothing: BIRD writes the route plain, which is why IPIP cannot be real here.
    sed -i 's/^filter calico_kernel_programming {$/filter calico_kernel_programming string krt_tunnel; {/' \
      "$cdir.tmp/templates/bird_ipam.cfg.template"
    if ! grep -q 'filter calico_kernel_programming string krt_tunnel; {' "$cdir.tmp/templates/bird_ipam.cfg.template"; then
      rm -rf "$cdir.tmp"
      not_built "calico's bird_ipam.cfg.template changed shape: the krt_tunnel declaration could not be added"
      return 0
    fi
    rm -rf "$cdir" && mv "$cdir.tmp" "$cdir"
  fi
}
if wanted calico-node lazy && command -v go >/dev/null 2>&1; then calico_parts; fi
# kind, for the kind backend: only where a Docker engine answers and no kind is on PATH.
if wanted kind lazy && ! command -v kind >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  build kind CNILAB_KIND sigs.k8s.io/kind 0 "-s -w"
fi
[ "$scope" = only ] && exit 0

# The CLI as one prebuilt bundle (harness/host/bundle.ts), rebuilt when a source, the lock file or
# the tool lists (bundled in) changed since; a failed build leaves none, and bin/cnilab runs tsx.
bundle=.cnilab/cli/cnilab.mjs
if [ ! -f "$bundle" ] || [ -n "$(find harness package-lock.json ci/host-tools.json ci/go-tools.json -newer "$bundle" -print -quit)" ]; then
  node --import tsx harness/host/bundle.ts "$bundle" >&2 || rm -f "$bundle"
  # Bash completion, where bash-completion looks for it (zsh: source <(cnilab completion zsh)).
  comp=/usr/share/bash-completion/completions
  if [ -f "$bundle" ] && [ -d "$comp" ] && [ -w "$comp" ]; then node "$bundle" completion bash >"$comp/cnilab" || true; fi
fi

# Everything above held when this was touched: bin/cnilab skips this script while it is newer than
# the lists and the bundle newer than every source.
touch .cnilab/ready
