#!/usr/bin/env bash
# The test command (npm test): unit tests everywhere, then the tests that build real labs (root).
# `npm run test:unit` (ci/test.sh unit): the pure tests only, no root, no lab, no install step.
set -euo pipefail
cd "$(dirname "$0")/.."
only_unit=0
[ "${1:-}" = unit ] && only_unit=1
[ "$only_unit" = 1 ] || bash ci/ensure.sh --all
# Style first (formatter, linter, import cycles): quick, and a red lint is a red CI.
npx --no-install biome check
tsx=(node --import tsx)
unit=$(find harness assertions -name '*.test.ts' | sort)
root=$(find test -name '*.test.ts' 2>/dev/null | sort)
# Node 20 does not expand globs for --test: the shell lists the files.
# Unit tests are pure (no lab, no root): one file per core at once (npm run test:unit ~19 s on 2 cores).
rc=0
"${tsx[@]}" --test --test-concurrency="$(nproc)" --test-reporter=spec $unit || rc=$?
if [ "$only_unit" = 0 ] && [ "$(id -u)" = 0 ] && [ -n "$root" ]; then
  # Root tests build labs and capture on shared CPUs: CNILAB_TEST_JOBS at once (default one).
  # Labs are isolated by name, but on 2 cores a qemu guest's emulated CPU starves beside another
  # lab (its CNI calls ran past their limit), so more is for machines with the cores.
  "${tsx[@]}" --test --test-concurrency="${CNILAB_TEST_JOBS:-1}" --test-reporter=spec $root || rc=$?
else
  [ "$only_unit" = 1 ] || echo "note: not root: tests that build labs in network namespaces are skipped" >&2
fi
exit $rc
