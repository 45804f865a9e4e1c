// The bytes each probe writes into its ICMP payload: a fixed tag, the run's tag byte and the probe
// index. Many probes share one capture; the marker says which probe a packet belongs to.
export const MARKER_TAG = [0xc1, 0x1a, 0xb5] as const;
export const MARKER_LEN = 6;

export function probeMarker(runTag: number, index: number): Uint8Array {
  return Uint8Array.of(...MARKER_TAG, runTag & 255, (index >>> 8) & 255, index & 255);
}

/** The 4 bytes every marker of one run starts with. */
export const runPrefix = (runTag: number) => Uint8Array.of(...MARKER_TAG, runTag & 255);

export const markerHex = (m: Uint8Array) => [...m].map((b) => b.toString(16).padStart(2, '0')).join('');

/**
 * The frame payload that ends a check's round on every capture: "cnilab:end:" and 8 random bytes, so
 * a capture holding it holds this check's end, not an earlier one's.
 */
export function endMarker(): Uint8Array {
  const tag = new TextEncoder().encode('cnilab:end:');
  return Uint8Array.of(...tag, ...crypto.getRandomValues(new Uint8Array(8)));
}
