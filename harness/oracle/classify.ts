// From decoded underlay packets to what each probe showed on the wire.
import type { DecodedPacket } from '../capture/decode.ts';
import { MARKER_LEN, runPrefix } from '../probe/marker.ts';
import type { EncapKind } from '../results/schema.ts';

export interface WireSeen {
  packets: number;
  /** Every distinct encapsulation seen for this probe's echo requests. */
  encaps: { kind: EncapKind; vni?: number; port?: number; outerSrc?: number; outerDst?: number }[];
}

function indexOfMarker(payload: Uint8Array, marker: Uint8Array): number {
  outer: for (let i = 0; i + marker.length <= payload.length; i++) {
    for (let j = 0; j < marker.length; j++) if (payload[i + j] !== marker[j]) continue outer;
    return i;
  }
  return -1;
}

/** Probe index of an echo request, when its payload carries a marker of this run. */
export function probeIndexOf(p: DecodedPacket, runTag: number): number | undefined {
  if (p.icmp?.type !== 8) return undefined;
  const at = indexOfMarker(p.icmp.payload, runPrefix(runTag));
  if (at < 0 || at + MARKER_LEN > p.icmp.payload.length) return undefined;
  return (p.icmp.payload[at + 4]! << 8) | p.icmp.payload[at + 5]!;
}

export class WireTally {
  private readonly seen = new Map<number, WireSeen>();
  constructor(private readonly runTag: number) {}

  add(p: DecodedPacket): void {
    const idx = probeIndexOf(p, this.runTag);
    if (idx === undefined) return;
    let s = this.seen.get(idx);
    if (!s) {
      s = { packets: 0, encaps: [] };
      this.seen.set(idx, s);
    }
    s.packets++;
    const e = p.encap;
    const entry =
      e.kind === 'vxlan'
        ? { kind: 'vxlan' as const, vni: e.vni, port: e.port, outerSrc: e.outerSrc, outerDst: e.outerDst }
        : e.kind === 'ipip'
          ? { kind: 'ipip' as const, outerSrc: e.outerSrc, outerDst: e.outerDst }
          : e.kind === 'udp'
            ? { kind: 'udp' as const, port: e.port, outerSrc: e.outerSrc, outerDst: e.outerDst }
            : { kind: 'none' as const };
    if (
      !s.encaps.some(
        (x) =>
          x.kind === entry.kind &&
          x.vni === entry.vni &&
          x.port === entry.port &&
          x.outerSrc === entry.outerSrc &&
          x.outerDst === entry.outerDst,
      )
    )
      s.encaps.push(entry);
  }

  get(index: number): WireSeen {
    return this.seen.get(index) ?? { packets: 0, encaps: [] };
  }
}
