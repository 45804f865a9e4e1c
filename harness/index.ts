// The public API. Anything not exported here is internal and may change.
export { loadTopology, parseTopology } from './topology/load.ts';
export type { Topology, ResolvedNode, PathKind } from './topology/types.ts';
// Running modes the way `cnilab run` does: placement (auto: this kernel, else a guest), every backend.
export { runModes, placeModes, type RunModesOptions, type RunModesResult } from './run/run-modes.ts';
export type { Backend, BackendSession, LabView, Checker, CheckRequest, CapturePoint } from './backends/backend.ts';
export { BACKENDS, getBackend, parseBackend, type BackendChoice } from './backends/registry.ts';
export type { Placement } from './backends/placement.ts';
export type { NodeExecutor } from './node/executor.ts';
// A netns lab driven by hand: up, switch, check, down.
export { Lab, type LabOptions, type StatusJson } from './backends/netns/lab.ts';
export { checkMode, localChecker } from './check/index.ts';
export { gc } from './backends/gc.ts';
export { shutdown } from './kernel/lifecycle.ts';
export { allModes, getMode, findMode, parseModeList, registerMode } from './modes/registry.ts';
export { DEFAULT_SETTINGS, type ModeName, type ModeDef, type ModeSettings } from './modes/mode.ts';
export { doctor, type HostReport } from './host/doctor.ts';
export type * from './results/schema.ts';
export {
  CnilabError,
  TopologyError,
  UsageError,
  KernelError,
  TimeoutError,
  CancelledError,
  UnsupportedError,
  ProbeError,
  GuestError,
} from './errors.ts';
