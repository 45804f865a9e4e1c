// The modes cnilab knows: one line each. Everything else looks modes up here and reads their data.
import { UsageError } from '../errors.ts';
import { calicoBgp } from './calico-bgp.ts';
import { calicoIpipAlways, calicoIpipCrossSubnet } from './calico-ipip.ts';
import { calicoNodeBgp } from './calico-node-bgp.ts';
import { calicoNodeIpipAlways, calicoNodeIpipCrossSubnet } from './calico-node-ipip.ts';
import { calicoNodeVxlanAlways, calicoNodeVxlanCrossSubnet } from './calico-node-vxlan.ts';
import { calicoVxlanAlways, calicoVxlanCrossSubnet } from './calico-vxlan.ts';
import { flannelHostGw } from './flannel-host-gw.ts';
import { flannelVxlan, flannelVxlanDirectRouting } from './flannel-vxlan.ts';
import { flanneldHostGw } from './flanneld-host-gw.ts';
import { flanneldUdp } from './flanneld-udp.ts';
import { flanneldVxlan, flanneldVxlanDirectRouting } from './flanneld-vxlan.ts';
import { isRealDaemon, type ModeConfig, type ModeDef } from './mode.ts';

const MODES: readonly ModeDef[] = [
  flannelHostGw,
  flannelVxlan,
  flannelVxlanDirectRouting,
  calicoBgp,
  calicoIpipAlways,
  calicoIpipCrossSubnet,
  calicoVxlanAlways,
  calicoVxlanCrossSubnet,
  flanneldHostGw,
  flanneldVxlan,
  flanneldVxlanDirectRouting,
  flanneldUdp,
  calicoNodeBgp,
  calicoNodeVxlanAlways,
  calicoNodeVxlanCrossSubnet,
  calicoNodeIpipAlways,
  calicoNodeIpipCrossSubnet,
];

const registry = new Map<string, ModeDef>(MODES.map((m) => [m.name, m]));

/** Adds a mode from outside (a user's own mode in a library test); its name must be new. */
export function registerMode(m: ModeDef): void {
  if (registry.has(m.name)) throw new Error(`mode ${m.name} is already registered`);
  registry.set(m.name, m);
}

export function allModes(): ModeDef[] {
  return [...registry.values()];
}

export const findMode = (name: string): ModeDef | undefined => registry.get(name);

/** The modes that program this CNI setting, the real daemon's first, then cnilab's model of it. */
export function modesFor(c: ModeConfig): ModeDef[] {
  // Every setting the mode names must be asked for, with its value; a setting the mode does not
  // name (calico_backend for cnilab's Calico models) does not matter to it.
  const same = (m: ModeDef) => {
    const mc = m.config as Record<string, unknown> | undefined;
    const asked = c as Record<string, unknown>;
    return mc !== undefined && Object.entries(mc).every(([k, v]) => asked[k] === v);
  };
  const found = allModes().filter(same);
  return [...found.filter(isRealDaemon), ...found.filter((m) => !isRealDaemon(m))];
}

export function getMode(name: string): ModeDef {
  const m = registry.get(name);
  if (!m)
    throw new UsageError(
      `unknown mode "${name}"`,
      `use one of: ${allModes()
        .map((x) => x.name)
        .join(', ')}`,
    );
  return m;
}

/** Parses a comma-separated --modes value, reporting every unknown name at once. */
export function parseModeList(text: string): ModeDef[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = parts.filter((p) => !registry.has(p));
  if (parts.length === 0 || unknown.length > 0) {
    throw new UsageError(
      `--modes: unknown mode${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ') || '(empty)'}`,
      `use a comma-separated list of: ${allModes()
        .map((x) => x.name)
        .join(', ')}`,
    );
  }
  // Repeats are kept on purpose: `--modes a,b,a` visits a again, a live transition back.
  return parts.map(getMode);
}

/** The CLI's --modes: every mode once. A repeat would run twice and write over its own captures. */
export function parseModeSet(text: string): ModeDef[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.every((p) => p === ''))
    throw new UsageError(
      '--modes is empty',
      `leave it out for all modes, or list some of: ${allModes()
        .map((x) => x.name)
        .join(', ')}`,
    );
  const modes = parseModeList(text);
  const twice = [...new Set(modes.map((m) => m.name).filter((n, i, all) => all.indexOf(n) !== i))];
  if (twice.length) throw new UsageError(`--modes names ${twice.map((t) => `"${t}"`).join(', ')} more than once`, 'name each mode once');
  return modes;
}

/** Every UDP port any mode may carry VXLAN on with these settings, for the decoder. */
export function vxlanPortsOf(settings: Parameters<ModeDef['vxlanPorts']>[0]): number[] {
  return [...new Set(allModes().flatMap((m) => m.vxlanPorts(settings)))];
}
