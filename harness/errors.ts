// The errors cnilab throws on purpose. Each says what was wrong and what to do about it.

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

/** Invalid topology input. Carries every problem found, not just the first. */
export class TopologyError extends Error {
  constructor(readonly issues: readonly TopologyIssue[]) {
    super(`invalid topology (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'TopologyError';
  }
}

/** Bad command-line input: names the flag and the accepted values. */
export class UsageError extends Error {
  constructor(message: string, readonly fix?: string) {
    super(fix ? `${message}\n    fix: ${fix}` : message);
    this.name = 'UsageError';
  }
}

/** A kernel or tool command that failed, with where it ran and what it said. */
export class KernelError extends Error {
  constructor(
    readonly detail: { op: string; netns?: string; command: string; exitCode?: number; stderr: string; line?: string },
  ) {
    const where = detail.netns ? ` in netns ${detail.netns}` : '';
    const line = detail.line ? `\n    failing line: ${detail.line}` : '';
    super(`${detail.op}${where} failed (exit ${detail.exitCode ?? '?'}): ${detail.stderr.trim() || '(no output)'}${line}\n    command: ${detail.command}`);
    this.name = 'KernelError';
  }
}

/** A wait that ran out of time: says what it waited for, what it saw and the limit. */
export class TimeoutError extends Error {
  constructor(what: string, seen: string, limitMs: number) {
    super(`timed out after ${limitMs} ms waiting for ${what}; last seen: ${seen || '(nothing)'}`);
    this.name = 'TimeoutError';
  }
}

/** A mode that this host cannot run, with the reason. Reported as skipped, never as passed. */
export class UnsupportedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'UnsupportedError';
  }
}
