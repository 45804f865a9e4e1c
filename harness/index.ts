// The public API. Anything not exported here is internal and may change.
export { loadTopology, parseTopology } from './topology/load.ts';
export type { Topology, ResolvedNode, PathKind } from './topology/types.ts';
export { Lab, type LabOptions, type StatusJson } from './lab/lab.ts';
export { checkMode, type CheckOptions } from './lab/check.ts';
export { gc } from './lab/gc.ts';
export { allModes, getMode, parseModeList } from './modes/registry.ts';
export { MODE_NAMES, DEFAULT_SETTINGS, type ModeName, type ModeDef, type ModeSettings } from './modes/mode.ts';
export { doctor, type HostReport } from './host/doctor.ts';
export type * from './results/schema.ts';
export { TopologyError, UsageError, KernelError, TimeoutError, UnsupportedError } from './errors.ts';
