// Strict flag parsing: an unknown flag or a bad value names the flag and what it accepts.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.ts';

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, command: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    const known = Object.keys(options)
      .map((k) => `--${k}`)
      .join(', ');
    throw new UsageError(`${(e as Error).message.split('\n')[0]}`, `flags of "${command}": ${known || '(none)'}; see "cnilab help"`);
  }
}
