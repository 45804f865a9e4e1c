// Writes pcap and pcapng files: for tests and the decoding benchmark.

export function writePcap(
  packets: readonly { tsNs: bigint; data: Uint8Array }[],
  opts: { linktype: number; nanosecond?: boolean; bigEndian?: boolean },
): Uint8Array {
  const le = !opts.bigEndian;
  const size = 24 + packets.reduce((a, p) => a + 16 + p.data.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, opts.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, le);
  dv.setUint16(4, 2, le);
  dv.setUint16(6, 4, le);
  dv.setUint32(16, 262144, le);
  dv.setUint32(20, opts.linktype, le);
  let o = 24;
  for (const p of packets) {
    const unit = opts.nanosecond ? 1n : 1000n;
    dv.setUint32(o, Number(p.tsNs / 1_000_000_000n), le);
    dv.setUint32(o + 4, Number((p.tsNs % 1_000_000_000n) / unit), le);
    dv.setUint32(o + 8, p.data.length, le);
    dv.setUint32(o + 12, p.data.length, le);
    out.set(p.data, o + 16);
    o += 16 + p.data.length;
  }
  return out;
}

/** SHB + one IDB (if_tsresol as given, default 9 = ns) + EPBs; `bigEndian` writes the section in big-endian. */
export function writePcapng(
  packets: readonly { tsNs: bigint; data: Uint8Array }[],
  opts: { linktype: number; tsresol?: number; bigEndian?: boolean; simple?: boolean },
): Uint8Array {
  const le = !opts.bigEndian;
  const tsresol = opts.tsresol ?? 9;
  const units = tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
  const blocks: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array) => {
    const len = 12 + body.length + ((4 - (body.length % 4)) % 4);
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, type, le);
    dv.setUint32(4, len, le);
    b.set(body, 8);
    dv.setUint32(len - 4, len, le);
    blocks.push(b);
  };
  const shb = new Uint8Array(16);
  const sdv = new DataView(shb.buffer);
  sdv.setUint32(0, 0x1a2b3c4d, le);
  sdv.setUint16(4, 1, le);
  sdv.setBigInt64(8, -1n, le);
  block(0x0a0d0d0a, shb);
  const idb = new Uint8Array(8 + 8 + 4);
  const idv = new DataView(idb.buffer);
  idv.setUint16(0, opts.linktype, le);
  idv.setUint32(4, 262144, le);
  idv.setUint16(8, 9, le);
  idv.setUint16(10, 1, le);
  idb[12] = tsresol;
  block(1, idb); // option end (0,0) is the trailing zeros
  for (const p of packets) {
    if (opts.simple) {
      const body = new Uint8Array(4 + p.data.length);
      new DataView(body.buffer).setUint32(0, p.data.length, le);
      body.set(p.data, 4);
      block(3, body);
      continue;
    }
    const ts = (p.tsNs * units) / 1_000_000_000n;
    const body = new Uint8Array(20 + p.data.length);
    const dv = new DataView(body.buffer);
    dv.setUint32(0, 0, le);
    dv.setUint32(4, Number(ts >> 32n), le);
    dv.setUint32(8, Number(ts & 0xffffffffn), le);
    dv.setUint32(12, p.data.length, le);
    dv.setUint32(16, p.data.length, le);
    body.set(p.data, 20);
    block(6, body);
  }
  const total = blocks.reduce((a, b) => a + b.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
