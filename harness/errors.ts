// The errors cnilab throws on purpose. One base class: each says what was wrong and what to do about
// it, in lines a terminal shows without a stack trace, and carries the exit code the CLI returns.

/** Cuts a value shown in a message: a 10 MB value is not echoed whole. */
export function clip(s: string, max = 120): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more characters)`;
}

export interface TopologyIssue {
  /** File the value came from, when it came from a file. */
  file?: string;
  line?: number;
  column?: number;
  /** Dotted path to the field, e.g. nodes[2].subnet. */
  path: string;
  message: string;
  fix: string;
}

export function formatIssue(i: TopologyIssue): string {
  const where = [i.file, i.line, i.column].filter((x) => x !== undefined).join(':');
  return `${where ? `${where}: ` : ''}${i.path}: ${i.message}\n    fix: ${i.fix}`;
}

/** Every error cnilab means to throw. `exitCode` is what the CLI exits with when it reaches the top. */
export abstract class CnilabError extends Error {
  abstract readonly exitCode: number;
}

/** The classes rebuilt as themselves on the host, by the name the guest sent (set in their constructors). */
const WIRE_CLASSES = new Map<string, abstract new (...a: never[]) => CnilabError>();

/** A class of errors that are one line and an exit code: `class LabError extends lineError('LabError', 1) {}`. */
function lineError(name: string, exitCode: number) {
  return class extends CnilabError {
    readonly exitCode = exitCode;
    constructor(message: string) {
      super(message);
      // Spelled out: a bundler may rename classes, and the name crosses a guest's boundary.
      this.name = name;
    }
  };
}

/** Invalid topology input. Carries every problem found, not just the first. */
export class TopologyError extends CnilabError {
  readonly exitCode = 2;
  constructor(readonly issues: readonly TopologyIssue[]) {
    super(`invalid topology (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'TopologyError';
  }
}

/** Bad command-line input: names the flag and the accepted values. */
export class UsageError extends CnilabError {
  readonly exitCode = 2;
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(fix ? `${message}\n    fix: ${fix}` : message);
    this.name = 'UsageError';
  }
}

export interface CommandDetail {
  op: string;
  /** Where it ran: a node executor's id (a namespace name, a guest, a container). */
  where?: string;
  command: string;
  exitCode?: number;
  stderr: string;
  line?: string;
}

/** A kernel or tool command that failed, with where it ran and what it said. */
export class KernelError extends CnilabError {
  readonly exitCode = 1;
  constructor(readonly detail: CommandDetail) {
    const where = detail.where ? ` in ${detail.where}` : '';
    const line = detail.line ? `\n    failing line: ${detail.line}` : '';
    super(
      `${detail.op}${where} failed (exit ${detail.exitCode ?? '?'}): ${detail.stderr.trim() || '(no output)'}${line}\n    command: ` +
        `${detail.command}`,
    );
    this.name = 'KernelError';
  }
}

/** A wait or a command that ran out of time: what it waited for, what it saw (stderr kept) and the limit. */
export class TimeoutError extends CnilabError {
  readonly exitCode = 1;
  constructor(
    readonly what: string,
    readonly seen: string,
    readonly limitMs: number,
  ) {
    super(`timed out after ${limitMs} ms waiting for ${what}; last seen: ${seen.trim() || '(nothing)'}`);
    this.name = 'TimeoutError';
  }
}

/**
 * Something the lab runs did not do what it must (a CNI plugin that returned no address, a daemon
 * that wrote no lease file, a tool that printed an error): said in one line, exit 1. Not a bug of
 * cnilab's (those stay plain Errors, shown as internal errors) and not the user's input.
 */
export class LabError extends lineError('LabError', 1) {}

/** The Kubernetes API answered a request with an error: what was asked, and the API server's words. */
export class ApiError extends lineError('ApiError', 1) {}

/** Daemons of a lab that exited on their own while cnilab waited for them: which, and their logs' last lines. */
export class DaemonExitedError extends CnilabError {
  readonly exitCode = 1;
  constructor(
    readonly daemons: readonly string[],
    /** Each daemon's last log lines, in the order of `daemons`. */
    readonly tails: readonly string[],
  ) {
    const last = (t: string) => clip(t.trim().split('\n').at(-1) ?? '', 160);
    super(
      `${daemons.join(', ')} exited on ${daemons.length === 1 ? 'its' : 'their'} own (${daemons[0]}: ${last(tails[0] ?? '') || 'no log'})` +
        `\n${daemons.map((d, i) => `  ${d}:\n    ${(tails[i] ?? '').trim().replace(/\n/g, '\n    ')}`).join('\n')}`,
    );
    this.name = 'DaemonExitedError';
  }
}

/** A one-shot program of a daemon (calico-node -startup) failed or did not finish: its log's last lines say why. */
export class DaemonFailedError extends CnilabError {
  readonly exitCode = 1;
  constructor(what: string, how: string, tail: string) {
    super(
      `${what} failed (${how}): ${clip(tail.trim().split('\n').at(-1) ?? '', 200) || 'no log'}` +
        `\n    ${tail.trim().replace(/\n/g, '\n    ')}`,
    );
    this.name = 'DaemonFailedError';
  }
}

/** Work stopped because the run was cancelled (Ctrl-C, SIGTERM, a failed sibling): not a failure of its own. */
export class CancelledError extends CnilabError {
  readonly exitCode = 130;
  constructor(what: string) {
    super(`${what}: cancelled`);
    this.name = 'CancelledError';
  }
}

/** A mode that this host cannot run, with the reason. Reported as skipped, never as passed. */
export class UnsupportedError extends CnilabError {
  readonly exitCode = 1;
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'UnsupportedError';
  }
}

/** A probe that did not run (tool error, no packet sent, missing namespace, timeout): an error, never a verdict. */
export class ProbeError extends lineError('ProbeError', 1) {}

/** A guest (uml, qemu) that failed to boot or to finish, with the one console line that explains it. */
export class GuestError extends CnilabError {
  readonly exitCode = 1;
  constructor(
    readonly kind: 'timeout' | 'aborted' | 'crashed' | 'setup',
    message: string,
    readonly consoleTail: readonly string[],
  ) {
    super(consoleTail.length ? `${message}\n--- last ${consoleTail.length} console line(s) ---\n${consoleTail.join('\n')}` : message);
    this.name = 'GuestError';
  }
}

/** A switch that failed and was undone: the lab is back in its previous mode, verified clean. */
export class SwitchRolledBack extends lineError('SwitchRolledBack', 1) {
  static of(target: string, previous: string | undefined, cause: unknown): SwitchRolledBack {
    return new SwitchRolledBack(
      `switch to ${target} failed and was rolled back to ${previous ?? 'no mode'} (verified: nothing stale): ` +
        `${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`,
    );
  }
}

crossesGuests('SwitchRolledBack', SwitchRolledBack);
crossesGuests('UsageError', UsageError);
crossesGuests('CancelledError', CancelledError);
crossesGuests('LabError', LabError);
crossesGuests('ProbeError', ProbeError);

/** An error as it crossed a guest's boundary: its class, its line and its exit code, as the guest had them. */
export interface WireError {
  name: string;
  message: string;
  exitCode?: number;
}

/** What an error sends across a guest's boundary. */
export const toWire = (e: unknown): WireError => {
  const err = e instanceof Error ? e : new Error(String(e));
  return { name: err.name, message: err.message, ...(e instanceof CnilabError ? { exitCode: e.exitCode } : {}) };
};

/** An error of the guest's that the host has no class of its own for: its line and exit code kept. */
export class GuestReported extends CnilabError {
  constructor(
    readonly wire: WireError,
    readonly exitCode: number,
  ) {
    super(wire.message);
    this.name = wire.name;
  }
}

/**
 * Makes an error class keep its class across a guest's boundary: the host catches it by class
 * (a rolled-back switch, a manifest the API server refused, bad input). Called beside the class.
 */
export function crossesGuests(name: string, c: abstract new (...a: never[]) => CnilabError): void {
  WIRE_CLASSES.set(name, c);
}

/** The error back on the host: as its own class when it crosses (crossesGuests), else its line and exit code kept. */
export function fromWire(w: WireError): Error {
  const c = WIRE_CLASSES.get(w.name);
  if (c) {
    // Its constructor took what made the line; the line is what crossed, so the instance is made whole from it.
    const e = Object.create(c.prototype) as CnilabError;
    return Object.assign(
      e,
      { name: w.name, message: w.message, stack: `${w.name}: ${w.message}\n    (in the guest)` },
      {
        exitCode: w.exitCode ?? 1,
      },
    );
  }
  if (w.exitCode !== undefined) return new GuestReported(w, w.exitCode);
  return Object.assign(new Error(w.message), { name: w.name });
}

/** The line a terminal shows for an error: its message for ours, a short internal-error line otherwise. */
export function errorLine(e: unknown): { text: string; exitCode: number } {
  // Whatever a message quotes, a terminal line stays readable: each line is cut (the reports keep all).
  const cut = (s: string) =>
    s
      .split('\n')
      .map((l) => clip(l, 400))
      .join('\n');
  if (e instanceof CnilabError) return { text: cut(e.message), exitCode: e.exitCode };
  const err = e instanceof Error ? e : new Error(String(e));
  const debug = process.env.CNILAB_DEBUG ? `\n${err.stack}` : ' (an internal error: set CNILAB_DEBUG=1 for the stack)';
  return { text: `${cut(err.message)}${debug}`, exitCode: 1 };
}
