// A streaming reader for classic pcap (µs and ns, both byte orders) and pcapng (SHB, IDB with
// if_tsresol, EPB, SPB, obsolete PB; other blocks skipped), written for speed: one DataView per
// buffer, no per-packet copies beyond the packet's own subarray.
import { CnilabError } from '../errors.ts';
import { createReadStream } from 'node:fs';

export interface RawPacket {
  linktype: number;
  tsNs: bigint;
  capturedLength: number;
  originalLength: number;
  /** A view into the reader's buffer: valid until the next packet is requested. Copy it to keep it. */
  data: Uint8Array;
  interfaceId: number;
}

/** A capture file cnilab cannot read to its end: an error for the pairs it covers, never a verdict. */
export class PcapFormatError extends CnilabError {
  readonly exitCode = 1;
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(`pcap: ${message} at byte ${offset}`);
    this.name = 'PcapFormatError';
  }
}

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

interface Iface {
  linktype: number;
  /** Timestamp units per second. */
  unitsPerSec: bigint;
}

/**
 * The parser works on whatever bytes are buffered and says how many it consumed; the drivers
 * (sync and streaming) keep the leftovers. That keeps one parser for both.
 */
class Parser {
  private format: 'unknown' | 'pcap' | 'pcapng' = 'unknown';
  private little = true;
  private pcapLinktype = 1;
  private pcapNs = false;
  private ifaces: Iface[] = [];
  /** Absolute offset of the buffer start, for error messages. */
  base = 0;

  /** Parses packets from buf[pos..]; returns packets and the position of the first unconsumed byte. */
  *parse(buf: Uint8Array, final: boolean): Generator<RawPacket, number> {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = 0;
    const need = (n: number, what: string): boolean => {
      if (pos + n <= buf.length) return true;
      if (final) throw new PcapFormatError(this.base + pos, `truncated at byte ${this.base + buf.length} inside ${what}`);
      return false;
    };
    if (this.format === 'unknown') {
      if (!need(4, 'the file header')) return pos;
      const m = dv.getUint32(0, true);
      const mb = dv.getUint32(0, false);
      if (m === PCAPNG_SHB) this.format = 'pcapng';
      else if (m === PCAP_US || m === PCAP_NS) this.format = 'pcap';
      else if (mb === PCAP_US || mb === PCAP_NS) this.format = 'pcap';
      else throw new PcapFormatError(this.base, `unknown magic 0x${m.toString(16)}: neither pcap nor pcapng`);
      if (this.format === 'pcap') {
        if (!need(24, 'the pcap file header')) {
          this.format = 'unknown';
          return pos;
        }
        this.little = m === PCAP_US || m === PCAP_NS;
        const magic = dv.getUint32(0, this.little);
        this.pcapNs = magic === PCAP_NS;
        this.pcapLinktype = dv.getUint32(20, this.little) & 0x0fffffff;
        pos = 24;
      }
    }
    if (this.format === 'pcap') {
      while (pos < buf.length || final) {
        if (pos === buf.length) break;
        if (!need(16, 'a record header')) break;
        const incl = dv.getUint32(pos + 8, this.little);
        if (incl > 0x4000000) throw new PcapFormatError(this.base + pos, `record length ${incl} is implausible`);
        if (!need(16 + incl, 'a record')) break;
        const sec = dv.getUint32(pos, this.little);
        const frac = dv.getUint32(pos + 4, this.little);
        yield {
          linktype: this.pcapLinktype,
          tsNs: BigInt(sec) * 1_000_000_000n + BigInt(this.pcapNs ? frac : frac * 1000),
          capturedLength: incl,
          originalLength: dv.getUint32(pos + 12, this.little),
          data: buf.subarray(pos + 16, pos + 16 + incl),
          interfaceId: 0,
        };
        pos += 16 + incl;
      }
      return pos;
    }
    // pcapng
    while (pos < buf.length) {
      if (!need(12, 'a block header')) break;
      const typeLE = dv.getUint32(pos, true);
      if (typeLE === PCAPNG_SHB) {
        // The byte-order magic decides the order of this section, the length included.
        if (!need(12, 'a section header')) break;
        const bom = dv.getUint32(pos + 8, true);
        if (bom === BYTE_ORDER_MAGIC) this.little = true;
        else if (dv.getUint32(pos + 8, false) === BYTE_ORDER_MAGIC) this.little = false;
        else throw new PcapFormatError(this.base + pos + 8, 'bad byte-order magic in section header');
        this.ifaces = [];
      }
      const type = dv.getUint32(pos, this.little);
      const len = dv.getUint32(pos + 4, this.little);
      if (len < 12 || len % 4 !== 0) throw new PcapFormatError(this.base + pos, `block length ${len} is invalid`);
      if (!need(len, 'a block')) break;
      if (dv.getUint32(pos + len - 4, this.little) !== len)
        throw new PcapFormatError(this.base + pos + len - 4, `trailing block length differs from leading ${len}`);
      const body = pos + 8;
      if (type === 1) this.ifaces.push(this.readIdb(buf, dv, body, pos + len - 4));
      else if (type === 6 || type === 2) {
        const ifId = type === 6 ? dv.getUint32(body, this.little) : dv.getUint16(body, this.little);
        const iface = this.ifaces[ifId];
        if (!iface) throw new PcapFormatError(this.base + body, `packet refers to interface ${ifId}, which has no description`);
        const ts = (BigInt(dv.getUint32(body + 4, this.little)) << 32n) | BigInt(dv.getUint32(body + 8, this.little));
        const caplen = dv.getUint32(body + 12, this.little);
        if (20 + caplen > len - 12) throw new PcapFormatError(this.base + body, `captured length ${caplen} exceeds the block`);
        yield {
          linktype: iface.linktype,
          tsNs: iface.unitsPerSec === 1_000_000_000n ? ts : (ts * 1_000_000_000n) / iface.unitsPerSec,
          capturedLength: caplen,
          originalLength: dv.getUint32(body + 16, this.little),
          data: buf.subarray(body + 20, body + 20 + caplen),
          interfaceId: ifId,
        };
      } else if (type === 3) {
        const iface = this.ifaces[0];
        if (!iface) throw new PcapFormatError(this.base + body, 'simple packet block before any interface description');
        const orig = dv.getUint32(body, this.little);
        const caplen = Math.min(orig, len - 16);
        yield {
          linktype: iface.linktype,
          tsNs: 0n,
          capturedLength: caplen,
          originalLength: orig,
          data: buf.subarray(body + 4, body + 4 + caplen),
          interfaceId: 0,
        };
      }
      pos += len;
    }
    return pos;
  }

  private readIdb(buf: Uint8Array, dv: DataView, body: number, end: number): Iface {
    const linktype = dv.getUint16(body, this.little);
    let unitsPerSec = 1_000_000n;
    for (let o = body + 8; o + 4 <= end; ) {
      const code = dv.getUint16(o, this.little);
      const olen = dv.getUint16(o + 2, this.little);
      if (code === 0) break;
      if (code === 9 && olen >= 1) {
        const v = buf[o + 4]!;
        unitsPerSec = v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
      }
      o += 4 + olen + ((4 - (olen % 4)) % 4);
    }
    return { linktype, unitsPerSec };
  }
}

export function* readPacketsSync(buf: Uint8Array): Generator<RawPacket> {
  const p = new Parser();
  const consumed = yield* p.parse(buf, true);
  if (consumed < buf.length) throw new PcapFormatError(consumed, `truncated at byte ${buf.length}`);
}

/** Joins what the parser left of the previous chunk with the next one; only that tail is copied. */
class Joiner {
  private pending: Uint8Array = new Uint8Array(0);
  constructor(private readonly parser: Parser) {}
  join(chunk: Uint8Array): Uint8Array {
    if (this.pending.length === 0) return chunk;
    const buf = new Uint8Array(this.pending.length + chunk.length);
    buf.set(this.pending, 0);
    buf.set(chunk, this.pending.length);
    return buf;
  }
  consumed(buf: Uint8Array, used: number): void {
    this.parser.base += used;
    this.pending = buf.subarray(used);
  }
  get rest(): Uint8Array {
    return this.pending;
  }
  finish(used: number): void {
    if (used < this.pending.length)
      throw new PcapFormatError(this.parser.base + used, `truncated at byte ${this.parser.base + this.pending.length}`);
  }
}

const open = (source: string | AsyncIterable<Uint8Array>) =>
  (typeof source === 'string' ? createReadStream(source, { highWaterMark: 1 << 20 }) : source) as AsyncIterable<Uint8Array>;

export async function* readPackets(source: string | AsyncIterable<Uint8Array>): AsyncGenerator<RawPacket> {
  const p = new Parser();
  const j = new Joiner(p);
  for await (const chunk of open(source)) {
    const buf = j.join(chunk);
    j.consumed(buf, yield* p.parse(buf, false));
  }
  j.finish(yield* p.parse(j.rest, true));
}

/**
 * The fast path: a synchronous callback per packet instead of an async iteration step per packet
 * (one promise each), for large captures. Resolves with the packet count.
 */
export async function forEachPacket(source: string | AsyncIterable<Uint8Array>, fn: (p: RawPacket) => void): Promise<number> {
  const p = new Parser();
  const j = new Joiner(p);
  let count = 0;
  const drain = (buf: Uint8Array, final: boolean): number => {
    const it = p.parse(buf, final);
    for (let r = it.next(); ; r = it.next()) {
      if (r.done) return r.value;
      fn(r.value);
      count++;
    }
  };
  for await (const chunk of open(source)) {
    const buf = j.join(chunk);
    j.consumed(buf, drain(buf, false));
  }
  j.finish(drain(j.rest, true));
  return count;
}
