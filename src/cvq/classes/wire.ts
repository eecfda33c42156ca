/**
 * Byte helpers the CVQ class codecs share (virtio 1.2 §5.1.6.5): little-endian writers and a reader
 * over a command's bytes split across any number of pieces, as a device sees them in a descriptor
 * chain (Linux sends header, payload pieces and ack as separate buffers).
 */
import { ETH_ALEN, formatMac, writeMac, type MacString } from '../../virtio/net.js';

/** Why a payload did not decode (see `CvqDecodeReason` in virtio/cvq.ts). */
export type PayloadFailReason = 'short-payload' | 'bad-value' | 'reserved-nonzero';

/** A payload that did not decode (allocated only on failure). */
export interface BodyFail {
  readonly reason: PayloadFailReason;
  readonly what: string;
}
export const decodeFail = (reason: PayloadFailReason, what: string): BodyFail => ({ reason, what });
export const shortPayload = (what: string): BodyFail => decodeFail('short-payload', `payload ends inside ${what}`);
export const isFail = (x: object): x is BodyFail => (x as BodyFail).reason !== undefined;

/** le16 at `o`. */
export const putU16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
};
/** le32 at `o`. */
export const putU32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
};
/** A MAC's 6 bytes at `o`; returns the offset after them. */
export const putMac = (b: Uint8Array, o: number, mac: MacString): number => {
  writeMac(mac, b, o);
  return o + ETH_ALEN;
};

/** A little-endian cursor over bytes split across any number of pieces. */
export class WireReader {
  private seg = 0;
  private pos = 0;
  remaining: number;

  constructor(private readonly segs: readonly Uint8Array[]) {
    let n = 0;
    for (const s of segs) n += s.length;
    this.remaining = n;
  }

  /** Next byte; callers check `remaining` first. */
  u8(): number {
    let s = this.segs[this.seg]!;
    while (this.pos >= s.length) {
      this.seg++;
      this.pos = 0;
      s = this.segs[this.seg]!;
    }
    this.remaining--;
    return s[this.pos++]!;
  }
  u16(): number {
    const lo = this.u8();
    return lo | (this.u8() << 8);
  }
  u32(): number {
    const lo = this.u16();
    return (lo + this.u16() * 0x10000) >>> 0;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u8();
    return b;
  }
  mac(): MacString {
    return formatMac(this.bytes(ETH_ALEN));
  }
}
