// Runs one command inside a guest with its own kernel, whatever the kind (uml now, qemu next): a
// temp dir for the generated init, the supervisor, console streaming, the exit marker, a timeout,
// cancellation through the one process runner, and cleanup of every process and file. A guest kind
// only says how to find its kernel and how to start it (`GuestKind`).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestError } from '../../errors.ts';
import { onCancel, spawn } from '../../kernel/exec.ts';
import { isMarkerLine, LineSplitter, parseExitMarker, parseSetupFailure, sanitizeName, TAIL_LINES } from './console.ts';
import { recordGuest, SUPERVISOR, sweep } from './supervisor.ts';

export const DEFAULT_GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunInGuestOptions {
  command: string[];
  cwd: string;
  env?: Record<string, string>;
  /** Read-write host folders the guest mounts, e.g. the results dir. */
  share?: { hostPath: string; guestPath: string }[];
  /** Guest RAM in MiB; the writable overlay lives in it too. */
  memMb?: number;
  /** For the whole run, boot included. */
  timeoutMs: number;
  /** Loaded before the command, e.g. ['ipip', 'netem']. Others autoload on first use. */
  modules?: string[];
  /** Every console line as it arrives: kernel messages and the command's stdout+stderr. */
  onConsole?: (line: string) => void;
  /** Used in the guest's tag and the temp dir name, e.g. cnilab-<lab>. */
  name: string;
  signal?: AbortSignal;
}

export interface GuestRunResult {
  exitCode: number;
  /** Everything the guest console printed (kernel messages and the command's stdout+stderr), marker removed. */
  console: string;
  durationMs: number;
}

/** What the generated init needs, whatever the kind. */
export interface GuestJob {
  nonce: string;
  /** Host dir holding the generated files; the guest sees it at the same path. */
  dir: string;
  command: string[];
  cwd: string;
  env: Record<string, string>;
  share: { hostPath: string; guestPath: string }[];
  modules: string[];
  memMb: number;
  /** Unique per run: the tag the guest's host processes carry, and the temp dir's middle part. */
  id: string;
}

export interface GuestKind {
  readonly name: string;
  /** Prefix of its temp dirs in the host's tmpdir. */
  readonly tempPrefix: string;
  /** The argv element that marks this guest's host processes. */
  tagOf(id: string): string;
  /** Where its kernel is, or what to install. */
  find(): Promise<{ ok: true } | { missing: string }>;
  /** What identifies this install (binary, package versions): part of the boot probe's cache key. */
  identity(): Promise<string>;
  /** Writes what the guest needs into job.dir and returns the command line to start it. */
  prepare(job: GuestJob): Promise<string[]>;
  /** The one console line that says why a guest died, when a known failure shows in its console. */
  explain?(lines: readonly string[]): string | undefined;
}

export async function writeExec(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o755 });
  await chmod(path, 0o755);
}

async function validate(opts: RunInGuestOptions): Promise<void> {
  if (!opts.command.length) throw new Error('runInGuest: empty command');
  if (!opts.cwd.startsWith('/')) throw new Error(`runInGuest: cwd must be absolute: ${opts.cwd}`);
  if (opts.memMb !== undefined && !(Number.isInteger(opts.memMb) && opts.memMb >= 64))
    throw new Error(`runInGuest: memMb must be an integer >= 64, got ${opts.memMb}`);
  for (const k of Object.keys(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`runInGuest: bad environment variable name ${JSON.stringify(k)}`);
  }
  for (const s of opts.share ?? []) {
    if (!s.guestPath.startsWith('/') || !s.hostPath.startsWith('/'))
      throw new Error(`runInGuest: share paths must be absolute: ${s.hostPath} -> ${s.guestPath}`);
    const dir = await stat(s.hostPath).then(
      (x) => x.isDirectory(),
      () => false,
    );
    if (!dir) throw new Error(`runInGuest: share ${s.hostPath} is not a directory`);
  }
}

/**
 * Starts the guest under its supervisor and hears its console until it ends: stopped at the
 * timeout or on abort (why), or ended 15 s after its exit marker if it does not power off.
 */
async function supervise(
  argv: string[],
  {
    dir,
    nonce,
    id,
    kind,
    opts,
    control,
  }: { dir: string; nonce: string; id: string; kind: GuestKind; opts: RunInGuestOptions; control: AbortController },
): Promise<{ lines: string[]; why: 'timeout' | 'aborted' | undefined }> {
  const lines: string[] = [];
  // Its own process group: a terminal's Ctrl-C goes to us; the supervisor dies with us (PDEATHSIG).
  const sup = spawn(['perl', '-e', SUPERVISOR, ...argv], {
    detached: true,
    cleanEnv: true,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir },
  });
  let exitSeenAt: number | undefined;
  const onLine = (line: string) => {
    lines.push(line);
    if (isMarkerLine(line, nonce)) {
      // Either marker ends the job: the guest powers off next (or is ended 15 s later).
      exitSeenAt ??= Date.now();
      return;
    }
    try {
      opts.onConsole?.(line);
    } catch {
      /* a failing console callback must not break the run */
    }
  };
  // The guest console is the kernel's stdout; stderr carries only host-side complaints.
  const outLines = new LineSplitter(onLine);
  const errLines = new LineSplitter(onLine);
  sup.stdout?.setEncoding('utf8').on('data', (c: string) => outLines.push(c));
  sup.stderr?.setEncoding('utf8').on('data', (c: string) => errLines.push(c));
  // From here on gc finds this guest by its record if we die (the console is heard meanwhile: a
  // guest that panics at once prints its reason in the first milliseconds).
  // A record that cannot be written fails the run (its finally sweeps the guest): gc could not find it.
  if (sup.pid !== undefined) await recordGuest(dir, { kind: kind.name, id, name: opts.name }, sup.pid);

  let why: 'timeout' | 'aborted' | undefined;
  const stop = (w: 'timeout' | 'aborted') => {
    if (why) return;
    why = w;
    sup.kill('SIGTERM');
  };
  const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
  const onStop = () => stop('aborted');
  control.signal.addEventListener('abort', onStop, { once: true });
  // After the marker the guest powers off by itself; if it does not within 15 s, end it (result kept).
  const grace = setInterval(() => {
    if (exitSeenAt !== undefined && Date.now() - exitSeenAt > 15_000) sup.kill('SIGTERM');
  }, 500);
  try {
    await sup.wait();
  } finally {
    clearTimeout(timer);
    clearInterval(grace);
    control.signal.removeEventListener('abort', onStop);
    outLines.flush();
    errLines.flush();
  }
  return { lines, why };
}

/** What the console says happened: the exit code, or a GuestError naming the failure with the console's tail. */
function outcome(
  lines: string[],
  why: 'timeout' | 'aborted' | undefined,
  left: number[],
  { nonce, label, kind, opts, t0 }: { nonce: string; label: string; kind: GuestKind; opts: RunInGuestOptions; t0: number },
): GuestRunResult {
  const text = lines.join('\n');
  const shown = lines.filter((l) => !isMarkerLine(l, nonce));
  const tail = shown.slice(-TAIL_LINES);
  if (left.length) throw new GuestError('crashed', `${label}: host processes ${left.join(', ')} would not die`, tail);
  // A failed setup wins over an exit marker: a command that ran after it (the guest's root gone
  // mid power-off, so its shell went on) says nothing about the command.
  const setup = parseSetupFailure(text, nonce);
  if (setup !== undefined) throw new GuestError('setup', `${label}: setup failed: ${setup}`, tail);
  const code = parseExitMarker(text, nonce);
  if (code !== undefined) return { exitCode: code, console: shown.join('\n'), durationMs: Date.now() - t0 };
  if (why === 'timeout')
    throw new GuestError('timeout', `${label} timed out after ${opts.timeoutMs} ms running ${opts.command.join(' ')}; killed it`, tail);
  if (why === 'aborted') throw new GuestError('aborted', `${label} aborted; killed it`, tail);
  const reason = kind.explain?.(shown);
  throw new GuestError('crashed', `${label} ended without an exit marker (${reason ?? 'crash or kernel panic'})`, tail);
}

export async function runInGuest(kind: GuestKind, opts: RunInGuestOptions): Promise<GuestRunResult> {
  const t0 = Date.now();
  await validate(opts);
  const found = await kind.find();
  if ('missing' in found) throw new GuestError('setup', `${kind.name} is not available: ${found.missing}`, []);

  const nonce = randomBytes(8).toString('hex');
  const id = `${sanitizeName(opts.name)}-${nonce.slice(0, 6)}`;
  const tag = kind.tagOf(id);
  // /tmp: the guest sees the host's /tmp through its read-only root, so the scripts are visible there.
  const dir = await mkdtemp(join(tmpdir(), `${kind.tempPrefix}${id}-`));
  const control = new AbortController();
  const unhook = onCancel(() => control.abort());
  const onAbort = () => control.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) control.abort();

  const label = `${kind.name} guest ${id}`;
  try {
    const argv = await kind.prepare({
      nonce,
      dir,
      id,
      command: opts.command,
      cwd: opts.cwd,
      env: { PATH: DEFAULT_GUEST_PATH, HOME: '/root', USER: 'root', LOGNAME: 'root', TERM: 'dumb', ...opts.env },
      share: opts.share ?? [],
      modules: opts.modules ?? [],
      memMb: opts.memMb ?? 512,
    });
    if (control.signal.aborted) throw new GuestError('aborted', `${label} aborted before boot`, []);

    const { lines, why } = await supervise(argv, { dir, nonce, id, kind, opts, control });
    const left = await sweep(tag);
    return outcome(lines, why, left, { nonce, label, kind, opts, t0 });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    unhook();
    // Processes first (a guest's control sockets are in here), then the files.
    await sweep(tag).catch(() => []);
    await rm(dir, { recursive: true, force: true });
  }
}
