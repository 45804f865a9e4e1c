// What the modes run by the real flanneld share: how they are described, and the one builder that
// turns a backend into a mode. The daemon programs the kernel; these files only say what it must
// show on the wire and which cnilab model it is checked against.
import type { ModeSettings } from '../topology/types.ts';
import type { FlanneldProgram, ModeDef } from './mode.ts';

export const FLANNELD_NEEDS = ['cni-plugins', 'flanneld', 'etcd'] as const;

/** A real-flanneld mode. Wire expectations are the model's when there is one: the model is the claim under test. */
export function flanneldMode(
  def: Omit<ModeDef, 'family' | 'program' | 'expect' | 'podMtu' | 'needs'> &
    Partial<Pick<ModeDef, 'expect' | 'podMtu'>> & {
      kernel: ModeDef['needs']['kernel'];
      flanneld: FlanneldProgram;
    },
): ModeDef {
  const model = def.flanneld.model;
  const expect = def.expect ?? model?.expect;
  const podMtu = def.podMtu ?? model?.podMtu;
  if (!expect || !podMtu) throw new Error(`mode ${def.name}: without a model it must say what it expects and its pod MTU`);
  return {
    name: def.name,
    family: 'flanneld',
    summary: def.summary,
    programs: def.programs,
    needs: { kernel: def.kernel, tools: FLANNELD_NEEDS },
    podMtu,
    expect,
    vxlanPorts: def.vxlanPorts,
    owns: def.owns,
    cited: def.cited,
    ...(def.config ? { config: def.config } : {}),
    program: { flanneld: def.flanneld },
  };
}

/** A Backend key as flanneld's encoding/json finds it: case-insensitively. */
const key = (b: Readonly<Record<string, unknown>>, k: string) => b[Object.keys(b).find((x) => x.toLowerCase() === k.toLowerCase()) ?? ''];

/**
 * net-conf.json's Backend for flanneld: the user's own as written (conform's proof), when it is this
 * mode's (its Type, which flanneld lower-cases in pkg/backend/manager.go GetBackend, and its
 * DirectRouting); else cnilab's, from the settings. So what the daemon programs comes from the
 * user's words, not cnilab's reading; a switch to another mode gets that mode's own.
 */
export function backendFor(s: ModeSettings, own: Record<string, unknown>): Record<string, unknown> {
  const given = s.flannel.given;
  const same = (k: string, norm: (v: unknown) => unknown) => given && norm(key(given, k)) === norm(key(own, k));
  return given && same('Type', (v) => String(v).toLowerCase()) && same('DirectRouting', (v) => v === true) ? { ...given } : own;
}
