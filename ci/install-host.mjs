#!/usr/bin/env node
// Installs the Debian packages cnilab drives, when running as root with apt; otherwise says what
// is missing and how to get it. Safe to run again: only missing packages are installed.
import { readFileSync } from 'node:fs';
import { $, which } from 'zx';

$.verbose = false;

// command (or absolute path) -> Debian package: the one list, read by ensure.sh and doctor too.
const wanted = JSON.parse(readFileSync(new URL('./host-tools.json', import.meta.url), 'utf8'));

const present = async (cmd) =>
  cmd.startsWith('/') ? (await $`test -x ${cmd}`.nothrow()).exitCode === 0 : Boolean(await which(cmd, { nothrow: true }));

const missing = new Set();
for (const [cmd, pkg] of Object.entries(wanted)) if (!(await present(cmd))) missing.add(pkg);
if (missing.size === 0) process.exit(0);

const pkgs = [...missing];
const isRoot = process.getuid?.() === 0;
const hasApt = Boolean(await which('apt-get', { nothrow: true }));
if (!isRoot || !hasApt) {
  console.error(
    `cnilab: missing host packages: ${pkgs.join(' ')}\n    fix: as root on Debian/Ubuntu: apt-get install -y ${pkgs.join(' ')}`,
  );
  // Not fatal: doctor reports which modes cannot run, and those are skipped with that reason.
  process.exit(0);
}
console.error(`cnilab: installing ${pkgs.join(' ')} (apt-get)`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
// Only refresh the package lists when they are missing or older than a day.
const lists = await $`find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440`.nothrow();
if (!lists.stdout.trim()) await $({ env })`apt-get update -qq`;
await $({ env })`apt-get install -y -qq --no-install-recommends ${pkgs}`;
// bird2's package may start a system bird; the lab runs its own per node and wants none on the host.
await $`sh -c 'command -v systemctl >/dev/null && systemctl disable --now bird >/dev/null 2>&1 || true; pkill -x bird || true'`.nothrow();
