// How a host drives the cnilab agent inside a guest: JSON requests and responses as files in a
// shared folder (the guest mounts it read-write). Each file is written to a temp name and renamed,
// so the reader never sees half of one. Requests are numbered; the agent answers them in order.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabManifest, WireCheck } from '../backend.ts';
import type { ModeSettings } from '../../modes/mode.ts';
import type { FaultResult, RunResult } from '../../results/schema.ts';
import type { PerfOptions, PerfSamples } from '../../results/samples.ts';
import type { Topology } from '../../topology/types.ts';
import type { WireError } from '../../errors.ts';

/** The agent's lines on the guest console, one per step (run/agent.ts): a terminal shows these, not the kernel's. */
export const AGENT_LINE = /^\[ *[\d.]+s in the guest\] /;

export type AgentRequest =
  | { op: 'up'; lab: string; topology: Topology; settings?: ModeSettings; mode: string; manifest?: LabManifest }
  | { op: 'program'; mode: string }
  | { op: 'stale' }
  | { op: 'check'; mode: string; outDir: string; check: WireCheck }
  | { op: 'faults'; mode: string; baseline: RunResult }
  | { op: 'measure'; modes: string[]; perf: Omit<PerfOptions, 'progress'> }
  | { op: 'down' }
  | { op: 'exit' };

export interface AgentReplies {
  up: null;
  program: null;
  stale: string[];
  check: RunResult;
  faults: FaultResult[];
  measure: PerfSamples;
  down: null;
  exit: null;
}

export type AgentResponse = { ok: true; value: unknown } | { ok: false; error: WireError };

const reqFile = (dir: string, seq: number) => join(dir, `req-${seq}.json`);
const resFile = (dir: string, seq: number) => join(dir, `res-${seq}.json`);

function writeAtomic(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value));
  renameSync(`${path}.tmp`, path);
}

export const writeRequest = (dir: string, seq: number, req: AgentRequest) => writeAtomic(reqFile(dir, seq), req);
export const writeResponse = (dir: string, seq: number, res: AgentResponse) => writeAtomic(resFile(dir, seq), res);

function readIfThere<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export const readRequest = (dir: string, seq: number) => readIfThere<AgentRequest>(reqFile(dir, seq));
export const readResponse = (dir: string, seq: number) => readIfThere<AgentResponse>(resFile(dir, seq));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
