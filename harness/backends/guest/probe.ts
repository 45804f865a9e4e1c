// Does a guest kind boot on this host? Installed is not enough: UML 6.1 panics before its init on
// CPUs with a large XSAVE area (../shared/notes/guests.md). The probe boots it once with a trivial
// job and caches the answer per host: kernel release, CPU flags, the guest's install (binary and
// package versions), so a run does not pay for it twice and a changed host is probed again.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname } from 'node:path';
import { CancelledError, GuestError } from '../../errors.ts';
import type { Check } from '../../host/doctor.ts';
import { runInGuest, type GuestKind } from './runner.ts';

export const probeCacheFile = () => `${process.env.CNILAB_CACHE_DIR || '/var/cache/cnilab'}/guest-probe.json`;

function cpuFlags(): string {
  try {
    return /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    return '';
  }
}

export async function probeKey(kind: GuestKind): Promise<string> {
  const h = createHash('sha256').update(`${kind.name}|${release()}|${cpuFlags()}|${await kind.identity()}`);
  return `${kind.name}:${h.digest('hex').slice(0, 16)}`;
}

type Cache = Record<string, Check & { at: string }>;
const readCache = (): Cache => {
  try {
    return JSON.parse(readFileSync(probeCacheFile(), 'utf8')) as Cache;
  } catch {
    return {};
  }
};

function remember(key: string, c: Check): void {
  try {
    const all = { ...readCache(), [key]: { ...c, at: new Date().toISOString() } };
    mkdirSync(dirname(probeCacheFile()), { recursive: true });
    const tmp = `${probeCacheFile()}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify(all, null, 1));
    renameSync(tmp, probeCacheFile());
  } catch {
    /* a read-only cache only costs another probe next time */
  }
}

const inFlight = new Map<string, Promise<Check>>();

/** Boots `kind` with `true` (once per key; cached on disk). Says "boots" or "does not boot" with the one line that explains it. */
export function probeBoot(kind: GuestKind, opts: { timeoutMs?: number; fresh?: boolean } = {}): Promise<Check> {
  return (async () => {
    const key = await probeKey(kind);
    const cached = opts.fresh ? undefined : readCache()[key];
    if (cached) return { ok: cached.ok, detail: cached.detail };
    let p = inFlight.get(key);
    if (!p) {
      p = bootOnce(kind, opts.timeoutMs ?? 180_000).then((c) => {
        remember(key, c);
        return c;
      });
      inFlight.set(key, p);
      void p.finally(() => inFlight.delete(key));
    }
    return p;
  })();
}

/** Where a probe's whole console goes; its one-line reason names this file. */
export const probeLog = (kind: GuestKind) => `${dirname(probeCacheFile())}/probe-${kind.name}.log`;

async function bootOnce(kind: GuestKind, timeoutMs: number): Promise<Check> {
  const t0 = Date.now();
  const lines: string[] = [];
  const keep = () => {
    try {
      mkdirSync(dirname(probeLog(kind)), { recursive: true });
      writeFileSync(probeLog(kind), `${lines.join('\n')}\n`);
    } catch {
      /* the reason still says what failed */
    }
  };
  try {
    const r = await runInGuest(kind, {
      command: ['true'],
      cwd: '/',
      timeoutMs,
      name: `cnilab-probe-${kind.name}`,
      memMb: 256,
      onConsole: (l) => lines.push(l),
    });
    keep();
    if (r.exitCode !== 0) return { ok: false, detail: `does not boot: the trivial job exited ${r.exitCode}` };
    return { ok: true, detail: `boots (a trivial job in ${((Date.now() - t0) / 1000).toFixed(1)} s)` };
  } catch (e) {
    if (e instanceof CancelledError || (e instanceof GuestError && e.kind === 'aborted'))
      throw new CancelledError(`${kind.name} boot probe`);
    keep();
    const why = kind.explain?.(lines) ?? (e instanceof Error ? e.message.split('\n')[0] : String(e));
    return { ok: false, detail: `does not boot: ${why} (console: ${probeLog(kind)})` };
  }
}
