/**
 * The fast-check arbitraries and mutators the fuzz targets and the property tests share: CVQ commands
 * over their whole encoding range, device limits and states within them, feature sets, byte mutations
 * (bit flips, byte writes, truncation, extension, splices) and segment cuts (a chain's bytes split
 * across buffers at any boundary).
 */
import fc from 'fast-check';
import { CLASSES } from '../../src/cvq/classes/index.js';
import type { ArbKit, StateSlice } from '../../src/cvq/classes/types.js';
import type { NetCtrlCommand } from '../../src/virtio/cvq.js';
import { FULL_PROFILE_FEATURES, maskOf } from '../../src/virtio/features.js';
import { VIRTIO_NET_RSS_HASH_TYPE_ALL, formatMac } from '../../src/virtio/net.js';
import { DEFAULT_LIMITS, NET_STATE_FIELDS, type DeviceLimits, type NetDeviceState } from '../../src/state/net-state.js';

export const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => formatMac(b));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** A random subset of the set bits of `mask`. */
export function subsetOf(mask: bigint): fc.Arbitrary<bigint> {
  const bits: bigint[] = [];
  for (let b = 0n; b < 64n; b++) if ((mask >> b) & 1n) bits.push(1n << b);
  return fc.subarray(bits).map((s) => s.reduce((a, b) => a | b, 0n));
}

/** What each class module builds its arbitraries from. */
export const arbKit: ArbKit = {
  fc,
  mac: arbMac,
  u16,
  u32,
  u64,
  small: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 16 }), u32),
  // an RSS key of up to `max` bytes (rss_max_key_size is a u8; drivers use 40)
  key: (max) => fc.uint8Array({ maxLength: max }),
  subsetOf,
};

/**
 * Any command the codec can carry: every kind of every class (src/cvq/classes), values near the
 * device's limits (a MAC table past 64 entries, vid 4096, 0x8000 pairs) and over the whole field width.
 */
export const arbCommand: fc.Arbitrary<NetCtrlCommand> = fc.oneof(...CLASSES.flatMap((c) => c.arbitraries(arbKit)));

/** Feature sets from the full profile; CTRL_VQ present most of the time. */
export const arbNegotiated: fc.Arbitrary<bigint> = fc
  .tuple(subsetOf(FULL_PROFILE_FEATURES), fc.integer({ min: 0, max: 9 }))
  .map(([f, r]) => (r === 0 ? f & ~maskOf(['CTRL_VQ']) : f | maskOf(['CTRL_VQ'])));

export const arbLimits: fc.Arbitrary<DeviceLimits> = fc.oneof(
  fc.constant(DEFAULT_LIMITS),
  fc.record({
    maxQueuePairs: fc.integer({ min: 1, max: 16 }),
    rssMaxIndirectionTableLength: fc.integer({ min: 0, max: 8 }).map((lg) => 1 << lg),
    rssMaxKeySize: fc.integer({ min: 0, max: 64 }),
    supportedHashTypes: fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }),
    macTableEntries: fc.integer({ min: 0, max: 64 }),
  }),
);

/**
 * A device state that fits `limits` (what a source device of those limits can be in): the queue pairs
 * first (RSS queues depend on them), then each class module's fields.
 */
export function arbState(limits: DeviceLimits): fc.Arbitrary<NetDeviceState> {
  return fc.integer({ min: 1, max: limits.maxQueuePairs }).chain((queuePairs) =>
    fc.tuple(...CLASSES.map((c) => c.arbitraryState(arbKit, { limits, queuePairs }))).map((slices: StateSlice[]) => {
      const s: StateSlice = Object.assign({}, ...slices);
      return Object.fromEntries(NET_STATE_FIELDS.map((f) => [f, s[f]])) as unknown as NetDeviceState;
    }),
  );
}

// ───────────────────────────── byte mutators ─────────────────────────────

export type ByteMutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'extend'; readonly bytes: Uint8Array }
  | { readonly op: 'splice'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly n: number };

export const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xff), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
);

export function mutateBytes(b: Uint8Array, ms: readonly ByteMutation[]): Uint8Array {
  let x = Uint8Array.from(b);
  for (const m of ms) {
    const n = x.length;
    switch (m.op) {
      case 'flip':
        if (n > 0) x[m.at % n] = x[m.at % n]! ^ (1 << m.bit);
        break;
      case 'set':
        if (n > 0) x[m.at % n] = m.value;
        break;
      case 'truncate':
        x = x.slice(0, m.at % (n + 1));
        break;
      case 'extend': {
        const y = new Uint8Array(n + m.bytes.length);
        y.set(x);
        y.set(m.bytes, n);
        x = y;
        break;
      }
      case 'splice': {
        const at = m.at % (n + 1);
        const y = new Uint8Array(n + m.bytes.length);
        y.set(x.subarray(0, at));
        y.set(m.bytes, at);
        y.set(x.subarray(at), at + m.bytes.length);
        x = y;
        break;
      }
      case 'delete': {
        const at = n === 0 ? 0 : m.at % n;
        x = Uint8Array.from([...x.subarray(0, at), ...x.subarray(at + m.n)]);
        break;
      }
    }
  }
  return x;
}

/** Cut points (as fractions of the length) that split bytes into buffers: empty pieces dropped. */
export const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });

export function splitAt(b: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * b.length)))].filter((c) => c > 0 && c < b.length).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let p = 0;
  for (const c of [...at, b.length]) {
    if (c > p) out.push(b.subarray(p, c));
    p = c;
  }
  return out;
}

/** Split `bytes` into pieces at random cut points, empty pieces kept (zero-length descriptors). */
export function arbSplit(bytes: Uint8Array): fc.Arbitrary<Uint8Array[]> {
  return fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 6 }).map((cuts) => {
    const at = [0, ...cuts.sort((a, b) => a - b), bytes.length];
    const out: Uint8Array[] = [];
    for (let i = 1; i < at.length; i++) out.push(bytes.subarray(at[i - 1]!, at[i]!));
    return out;
  });
}

export const concat = (segs: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(segs.reduce((s, x) => s + x.length, 0));
  let o = 0;
  for (const s of segs) {
    out.set(s, o);
    o += s.length;
  }
  return out;
};

export const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
