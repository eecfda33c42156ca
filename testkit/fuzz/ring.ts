/**
 * Ring-image fuzzing (virtio 1.2 §2.7 split, §2.8 packed): a driver lays valid chains (direct and
 * indirect) on a ring in guarded memory, then the image is mutated — indexes, flags, lengths, next
 * pointers, buffer addresses, indirect tables, wrap counters, event areas — and handed to the side that
 * must not trust it:
 *
 *  - device side (`pop`, as a device / SVQ reads a guest's ring): every call returns `false`, a
 *    `RingError` naming a known rule, or a chain whose segments all lie inside the address space, with
 *    consistent counts and byte totals; it visits at most `num + capacity + 2` descriptors; it writes
 *    nothing but its own event field (avail_event / device event area) and never a guard byte;
 *  - driver side (`reap`, as SVQ reads the device's used ring): every call returns `false`, a
 *    `RingError`, or a used element for a token in flight with a length within its writable bytes; no
 *    token is ever lost or returned twice, the free list stays whole, and the driver writes nothing but
 *    its used_event / driver event area.
 */
import fc from 'fast-check';
import { placeRing, ringFactory } from '../../src/ring/index.js';
import { Chain, Used, isRingError, type RingConfig, type RingDevice, type RingDriver, type RingLayout, type RingRule } from '../../src/ring/types.js';
import { GuardedMemory } from './guarded-space.js';
import { Violations, type FuzzTarget, type Verdict } from './target.js';

// ───────────────────────────── memory layout of a case ─────────────────────────────

/** ram0 holds the ring, indirect tables and buffers; a 4 KiB hole; ram1 holds more buffers. */
export const RAM0 = 0x10000;
export const RAM0_SIZE = 0x10000;
export const HOLE = RAM0 + RAM0_SIZE;
export const RAM1 = HOLE + 0x1000;
export const RAM1_SIZE = 0x2000;
const RING_AT = RAM0;
const IND_AT = RAM0 + 0x2000;
const BUF_AT = RAM0 + 0x6000;
const BUF_END = RAM0 + RAM0_SIZE;

export const RING_RULES: readonly RingRule[] = [
  'bad-queue-size', 'ring-unmapped', 'ring-misaligned', 'avail-idx-ahead', 'desc-index-out-of-range', 'chain-loop',
  'readable-after-writable', 'length-overflow', 'buffer-unmapped', 'zero-length', 'indirect-not-negotiated', 'indirect-len',
  'indirect-nested', 'indirect-next', 'chain-too-long', 'packed-id-out-of-range', 'packed-chain-unterminated',
  'used-id-out-of-range', 'used-id-not-in-flight', 'used-len-too-large', 'no-space', 'empty-chain', 'bad-base',
];

export const guardedRam = (): GuardedMemory =>
  new GuardedMemory({
    regions: [
      { base: RAM0, size: RAM0_SIZE, name: 'ram0' },
      { base: RAM1, size: RAM1_SIZE, name: 'ram1' },
    ],
  });

// ───────────────────────────── arbitraries ─────────────────────────────

export type FuzzArea = 'desc' | 'driver' | 'device' | 'indirect' | 'ring';

/** One write into the ring image: `width` bytes (le) at `off` (taken modulo the area's size). */
export interface Mutation {
  readonly area: FuzzArea;
  readonly off: number;
  readonly width: 1 | 2 | 4 | 8;
  /** le64 as [lo, hi] u32 halves; narrower widths use `lo`. */
  readonly lo: number;
  readonly hi: number;
  /** Write the field at `off % 16` of every 16-byte descriptor of the area (loops, unterminated chains). */
  readonly every?: boolean;
}

export interface ChainShape {
  readonly out: readonly number[];
  readonly in: readonly number[];
  readonly indirect: boolean;
}

export interface RingCase {
  readonly layout: RingLayout;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** Capacity of the Chain the device pops into (small ones hit `chain-too-long`). */
  readonly capacity: number;
  readonly chains: readonly ChainShape[];
  /** Device side of a driver case: how many chains the device pops and pushes before the mutation. */
  readonly served: number;
  /** Push order permutation seed for a driver case (used entries out of order). */
  readonly order: number;
  readonly mutations: readonly Mutation[];
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Addresses a hostile ring points at: region edges, the hole, beyond memory, ≥ 2^53, 2^64 − 1. */
const interestingAddr: fc.Arbitrary<[number, number]> = fc.oneof(
  fc.constantFrom(0, 0xfff, RAM0, RAM0 + 1, BUF_AT, BUF_END - 16, BUF_END - 1, HOLE, HOLE + 0xff0, RAM1, RAM1 + RAM1_SIZE - 16, RAM1 + RAM1_SIZE, IND_AT, RING_AT).map((a): [number, number] => [a, 0]),
  fc.integer({ min: RAM0, max: RAM1 + RAM1_SIZE + 0x100 }).map((a): [number, number] => [a, 0]),
  fc.constantFrom<[number, number]>([0xffffffff, 0x1fffff], [0, 0x200000], [0xffffffff, 0xffffffff], [0xfffffff0, 0xffffffff], [RAM0, 1]),
);

const interestingU32 = fc.oneof(fc.constantFrom(0, 1, 15, 16, 17, 32, 0x1000, 0xfff0, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff), u32);

/** Flags values (split NEXT/WRITE/INDIRECT, packed AVAIL/USED), indexes near num, wrap bits. */
const interestingU16 = (size: number) =>
  fc.oneof(
    fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 0x80, 0x81, 0x82, 0x84, 0x85, 0x8000, 0x8001, 0x8002, 0x8080, 0x8081, 0x8083, 0xffff, 0x7fff),
    fc.constantFrom(size - 1, size, size + 1, (size * 2) & 0xffff, (0x10000 - 1) & 0xffff, size | 0x8000),
    u16,
  );

const mutationArb = (size: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    // le64 buffer / table address of a descriptor
    fc.record({ area: fc.constantFrom<FuzzArea>('desc', 'indirect'), slot: fc.nat({ max: size * 2 }), addr: interestingAddr }).map(
      ({ area, slot, addr }): Mutation => ({ area, off: slot * 16, width: 8, lo: addr[0], hi: addr[1] }),
    ),
    // le32 len of a descriptor
    fc.record({ area: fc.constantFrom<FuzzArea>('desc', 'indirect'), slot: fc.nat({ max: size * 2 }), v: interestingU32 }).map(
      ({ area, slot, v }): Mutation => ({ area, off: slot * 16 + 8, width: 4, lo: v, hi: 0 }),
    ),
    // le16 flags / next (split) or id / flags (packed)
    fc.record({ area: fc.constantFrom<FuzzArea>('desc', 'indirect'), slot: fc.nat({ max: size * 2 }), field: fc.constantFrom(12, 14), v: interestingU16(size) }).map(
      ({ area, slot, field, v }): Mutation => ({ area, off: slot * 16 + field, width: 2, lo: v, hi: 0 }),
    ),
    // avail / used ring words: flags, idx, entries, event fields; packed event areas (off_wrap, flags)
    fc.record({ area: fc.constantFrom<FuzzArea>('driver', 'device'), word: fc.nat({ max: 4 * size + 4 }), v: interestingU16(size) }).map(
      ({ area, word, v }): Mutation => ({ area, off: word * 2, width: 2, lo: v, hi: 0 }),
    ),
    // used element id / len (split)
    fc.record({ slot: fc.nat({ max: size }), second: fc.boolean(), v: fc.oneof(interestingU32, fc.constantFrom(size - 1, size, size + 1)) }).map(
      ({ slot, second, v }): Mutation => ({ area: 'device', off: 4 + slot * 8 + (second ? 4 : 0), width: 4, lo: v, hi: 0 }),
    ),
    // every descriptor gets the same flags / next: loops (split next → self) and chains that never end (packed)
    fc.record({ field: fc.constantFrom(12, 14), v: fc.constantFrom(1, 3, 0x81, 0x8001, 0x8081, 0x0083) }).map(
      ({ field, v }): Mutation => ({ area: 'desc', off: field, width: 2, lo: v, hi: 0, every: true }),
    ),
    // random bytes anywhere in the ring block
    fc.record({ area: fc.constant<FuzzArea>('ring'), off: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }).map(({ area, off, v }): Mutation => ({ area, off, width: 1, lo: v, hi: 0 })),
  );

const shapeArb: fc.Arbitrary<ChainShape> = fc.record({
  out: fc.array(fc.integer({ min: 1, max: 256 }), { minLength: 0, maxLength: 4 }),
  in: fc.array(fc.integer({ min: 1, max: 256 }), { minLength: 0, maxLength: 4 }),
  indirect: fc.boolean(),
});

export function ringCaseArb(layout: RingLayout, maxMutations = 12): fc.Arbitrary<RingCase> {
  const sizes = layout === 'split' ? [1, 2, 4, 8, 16, 64, 256] : [1, 2, 3, 5, 8, 16, 50, 256];
  return fc.constantFrom(...sizes).chain((size) =>
    fc.record({
      layout: fc.constant(layout),
      size: fc.constant(size),
      eventIdx: fc.boolean(),
      indirect: fc.boolean(),
      capacity: fc.constantFrom(3, 64, 1024),
      chains: fc.array(shapeArb, { maxLength: Math.min(size + 2, 24) }),
      served: fc.nat({ max: 24 }),
      order: fc.nat(),
      mutations: fc.array(mutationArb(size), { maxLength: maxMutations }),
    }),
  );
}

// ───────────────────────────── building a case ─────────────────────────────

interface Built {
  readonly mem: GuardedMemory;
  readonly config: RingConfig;
  readonly driver: RingDriver;
  readonly areas: Record<FuzzArea, readonly [number, number]>;
  readonly ringEnd: number;
  /** Per added chain (by token): writable bytes, descriptors it took. */
  readonly inBytes: Map<number, number>;
  readonly need: Map<number, number>;
  readonly heads: Map<number, number>;
}

function build(c: RingCase): Built | string {
  const mem = guardedRam();
  const placed = placeRing(c.layout, c.size, RING_AT);
  const config: RingConfig = { layout: c.layout, size: c.size, addrs: placed.addrs, eventIdx: c.eventIdx, indirect: c.indirect };
  const indSize = Math.min(c.size * 16 * 4, BUF_AT - IND_AT);
  const f = ringFactory(c.layout);
  const driver = f.driver(mem.space, config, c.indirect ? { indirectArea: { addr: IND_AT, size: indSize } } : undefined);
  if (isRingError(driver)) return `driver set-up failed on a valid layout: ${driver.message}`;
  const l = f.layoutOf(c.size);
  const areas: Record<FuzzArea, readonly [number, number]> = {
    desc: [placed.addrs.desc, l.desc.size],
    driver: [placed.addrs.driver, l.driver.size],
    device: [placed.addrs.device, l.device.size],
    indirect: [IND_AT, indSize],
    ring: [RING_AT, placed.end - RING_AT],
  };
  const inBytes = new Map<number, number>();
  const need = new Map<number, number>();
  const heads = new Map<number, number>();
  const chain = new Chain(16);
  let next = BUF_AT;
  const alloc = (len: number): number => {
    if (next + len > BUF_END) next = BUF_AT;
    const a = next;
    next += len;
    return a;
  };
  c.chains.forEach((s, token) => {
    chain.reset();
    for (const len of s.out) chain.push(alloc(len), len, false);
    for (const len of s.in) chain.push(alloc(len), len, true);
    const before = driver.numFree();
    const h = driver.add(chain, token, s.indirect);
    if (isRingError(h)) return; // empty chains and a full ring are refused; that is the driver's job
    inBytes.set(token, chain.inBytes);
    need.set(token, before - driver.numFree());
    heads.set(token, h);
  });
  return { mem, config, driver, areas, ringEnd: placed.end, inBytes, need, heads };
}

function applyMutations(b: Built, ms: readonly Mutation[]): void {
  const space = b.mem.space;
  for (const m of ms) {
    const [base, size] = b.areas[m.area];
    if (size < m.width) continue;
    if (m.every === true) {
      for (let o = m.off % 16; o + m.width <= size; o += 16) space.writeU16(base + o, m.lo);
      continue;
    }
    const addr = base + (m.off % (size - m.width + 1));
    if (m.width === 1) space.writeU8(addr, m.lo);
    else if (m.width === 2) space.writeU16(addr, m.lo);
    else if (m.width === 4) space.writeU32(addr, m.lo);
    else {
      space.writeU32(addr, m.lo);
      space.writeU32(addr + 4, m.hi);
    }
  }
}

/** A chain popped by a device is well formed: every segment mapped, counts and totals consistent. */
export function chainProblem(space: GuardedMemory['space'], c: Chain, size: number, capacity: number): string | undefined {
  if (c.count < 1 || c.count > capacity) return `chain has ${c.count} segments (capacity ${capacity})`;
  if (c.outCount < 0 || c.outCount > c.count) return `outCount ${c.outCount} of ${c.count}`;
  if (!(c.id >= 0 && c.id < size)) return `chain id ${c.id} outside 0..${size - 1}`;
  if (!(c.ringDescs >= 1 && c.ringDescs <= size)) return `chain took ${c.ringDescs} ring descriptors (num ${size})`;
  let out = 0;
  let inb = 0;
  for (let k = 0; k < c.count; k++) {
    const a = c.addr[k]!;
    const l = c.len[k]!;
    if (!Number.isSafeInteger(a) || a < 0 || !space.contains(a, l)) return `segment ${k} [0x${a.toString(16)}, +${l}) is not inside the address space`;
    if (k < c.outCount) out += l;
    else inb += l;
  }
  if (out !== c.outBytes || inb !== c.inBytes) return `byte totals ${c.outBytes}/${c.inBytes} ≠ segments ${out}/${inb}`;
  if (out + inb > 0xffffffff) return `chain of ${out + inb} bytes overflows u32`;
  return undefined;
}

/** How often each outcome was seen (`pop:<rule>`, `pop:chain`, `reap:<rule>` …): shows what a run reached. */
export const ringOutcomes = new Map<string, number>();
const note = (what: string): void => {
  ringOutcomes.set(what, (ringOutcomes.get(what) ?? 0) + 1);
};

const ruleKnown = (r: unknown): boolean => isRingError(r) && RING_RULES.includes(r.rule) && typeof r.message === 'string' && r.message.length > 0;

// ───────────────────────────── device side ─────────────────────────────

export function checkDeviceSide(c: RingCase): Verdict {
  const b = build(c);
  if (typeof b === 'string') return b;
  applyMutations(b, c.mutations);
  const v = new Violations();
  const mem = b.mem;
  const space = mem.space;
  const dev = ringFactory(c.layout).device(space, b.config);
  if (isRingError(dev)) return `device set-up failed on a valid layout: ${dev.message}`;
  const bufSnap = mem.snapshot(IND_AT, BUF_END - IND_AT);
  const ram1Snap = mem.snapshot(RAM1, RAM1_SIZE);
  // what pop may write: split avail_event (used ring, after the entries), packed device event area
  const own: [number, number] = c.layout === 'split' ? [b.config.addrs.device + 4 + 8 * c.size, 2] : [b.config.addrs.device, 4];
  const chain = new Chain(c.capacity);
  const bound = c.size + c.capacity + 2;
  const budget = 2 * c.size + 4;
  let popped = 0;
  for (let i = 0; i < budget && !v.failed; i++) {
    const ringSnap = mem.snapshot(RING_AT, b.ringEnd - RING_AT);
    space.resetCount();
    space.resetWrites();
    const r = popOnce(dev, chain);
    const work = space.finds;
    v.expect(work <= bound, () => `pop visited ${work} descriptors, bound num + capacity + 2 = ${bound}`);
    const w = mem.changedOutside(RING_AT, ringSnap, [own]);
    v.expect(w < 0, () => `pop wrote the ring at 0x${w.toString(16)} outside its event field`);
    for (let k = 0; k < space.writes.length; k += 2) {
      const a = space.writes[k]!;
      const l = space.writes[k + 1]!;
      v.expect(a >= own[0] && a + l <= own[0] + own[1], () => `pop reported a write at 0x${a.toString(16)} (+${l}) outside its event field`);
    }
    if (r === false) break;
    note(r === true ? `${c.layout} pop: chain${chain.indirect ? ' (indirect)' : ''}` : `${c.layout} pop: ${r.rule}`);
    if (r !== true) {
      v.expect(ruleKnown(r), () => `pop returned ${JSON.stringify(r)}, not a RingError with a known rule`);
      break;
    }
    popped++;
    const p = chainProblem(space, chain, c.size, c.capacity);
    if (p !== undefined) v.fail(`pop returned a bad chain: ${p}`);
    // return it used (device-writable bytes at most), as a device would
    const pr = dev.push(chain.id, chain.ringDescs, Math.min(chain.inBytes, 7));
    v.expect(pr === undefined, () => `push of a popped chain failed: ${pr?.message}`);
  }
  v.expect(popped <= budget, () => `popped ${popped} chains`);
  const bw = mem.changedOutside(IND_AT, bufSnap, []);
  v.expect(bw < 0, () => `the device side wrote buffer/indirect memory at 0x${bw.toString(16)}`);
  const r1 = mem.changedOutside(RAM1, ram1Snap, []);
  v.expect(r1 < 0, () => `the device side wrote ram1 at 0x${r1.toString(16)}`);
  const g = mem.guardBreach();
  v.expect(g < 0, () => `guard byte ${g} of the backing buffer was overwritten`);
  return v.verdict;
}

function popOnce(dev: RingDevice, chain: Chain): boolean | ReturnType<RingDevice['pop']> {
  return dev.pop(chain);
}

// ───────────────────────────── driver side ─────────────────────────────

/** Deterministic permutation of `xs` from `seed` (Fisher–Yates on a small LCG). */
function permute<T>(xs: T[], seed: number): T[] {
  let s = seed >>> 0 || 1;
  for (let i = xs.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

export function checkDriverSide(c: RingCase): Verdict {
  const b = build(c);
  if (typeof b === 'string') return b;
  const v = new Violations();
  const mem = b.mem;
  const space = mem.space;
  const drv = b.driver;
  // an honest device serves some chains, completing them out of order
  const dev = ringFactory(c.layout).device(space, b.config);
  if (isRingError(dev)) return `device set-up failed on a valid layout: ${dev.message}`;
  const chain = new Chain(1024);
  const popped: { id: number; descs: number; inBytes: number }[] = [];
  for (let i = 0; i < c.served; i++) {
    const r = dev.pop(chain);
    if (r !== true) {
      if (r !== false) v.fail(`honest pop of a driver-built ring failed: ${r.message}`);
      break;
    }
    popped.push({ id: chain.id, descs: chain.ringDescs, inBytes: chain.inBytes });
  }
  for (const p of permute(popped, c.order)) dev.push(p.id, p.descs, p.inBytes);
  // then the device turns hostile and scribbles on the ring
  applyMutations(b, c.mutations);
  const outstanding = new Set(b.inBytes.keys());
  const own: [number, number] = c.layout === 'split' ? [b.config.addrs.driver + 4 + 2 * c.size, 2] : [b.config.addrs.driver, 4];
  const used = new Used();
  const budget = 2 * c.size + 4;
  for (let i = 0; i < budget && !v.failed; i++) {
    const ringSnap = mem.snapshot(RING_AT, b.ringEnd - RING_AT);
    const r = drv.reap(used);
    const w = mem.changedOutside(RING_AT, ringSnap, [own]);
    v.expect(w < 0, () => `reap wrote the ring at 0x${w.toString(16)} outside its event field`);
    if (r === false) break;
    note(r === true ? `${c.layout} reap: used` : `${c.layout} reap: ${r.rule}`);
    if (r !== true) {
      v.expect(ruleKnown(r), () => `reap returned ${JSON.stringify(r)}, not a RingError with a known rule`);
      break;
    }
    if (!outstanding.has(used.token)) {
      v.fail(`reap returned token ${used.token}, which is not in flight (lost or duplicated buffer)`);
      break;
    }
    v.expect(used.len <= b.inBytes.get(used.token)!, () => `reap accepted used len ${used.len} > ${b.inBytes.get(used.token)} writable bytes`);
    outstanding.delete(used.token);
  }
  // token accounting: nothing lost, nothing twice; the free list is whole
  const tokens = drv.inFlightTokens().sort((x, y) => x - y);
  const want = [...outstanding].sort((x, y) => x - y);
  v.expect(tokens.length === want.length && tokens.every((t, i) => t === want[i]), () => `in flight ${JSON.stringify(tokens)} ≠ expected ${JSON.stringify(want)}`);
  v.expect(drv.inFlight() === outstanding.size, () => `inFlight() ${drv.inFlight()} ≠ ${outstanding.size}`);
  let held = 0;
  for (const t of outstanding) held += b.need.get(t)!;
  v.expect(drv.numFree() + held === c.size, () => `free list: ${drv.numFree()} free + ${held} held ≠ num ${c.size}`);
  // a new chain never reuses a head / buffer id still in flight
  chain.reset();
  chain.push(BUF_AT, 8, true);
  const h = drv.add(chain, 1_000_000, false);
  if (typeof h === 'number') {
    for (const t of outstanding) v.expect(b.heads.get(t) !== h, () => `new chain got head/id ${h}, still in flight for token ${t}`);
  }
  const g = mem.guardBreach();
  v.expect(g < 0, () => `guard byte ${g} of the backing buffer was overwritten`);
  return v.verdict;
}

export const ringTargets = (): FuzzTarget<RingCase>[] => [
  { kind: 'ring/split pop', arbitrary: ringCaseArb('split'), check: checkDeviceSide },
  { kind: 'ring/packed pop', arbitrary: ringCaseArb('packed'), check: checkDeviceSide },
  { kind: 'ring/split reap', arbitrary: ringCaseArb('split'), check: checkDriverSide },
  { kind: 'ring/packed reap', arbitrary: ringCaseArb('packed'), check: checkDriverSide },
];

// ───────────────────────────── hostile vring base ─────────────────────────────

export interface BaseCase {
  readonly layout: RingLayout;
  readonly size: number;
  readonly availIdx: number;
  readonly availWrap: boolean;
  readonly usedIdx: number;
  readonly usedWrap: boolean;
  readonly chains: number;
}

/** A vring base from an untrusted source (VHOST_SET_VRING_BASE from a migration record, an SVQ hand-over). */
export const baseCaseArb = (layout: RingLayout): fc.Arbitrary<BaseCase> =>
  fc.constantFrom(...(layout === 'split' ? [1, 8, 64] : [1, 5, 8, 64])).chain((size) => {
    const idx = fc.oneof(fc.integer({ min: 0, max: size - 1 }), fc.constantFrom(size, size + 1, 0x7fff, 0x8000, 0xffff), fc.integer({ min: 0, max: 0xffff }));
    return fc.record({ layout: fc.constant(layout), size: fc.constant(size), availIdx: idx, availWrap: fc.boolean(), usedIdx: idx, usedWrap: fc.boolean(), chains: fc.nat({ max: 4 }) });
  });

/** After any setBase, pop / hasAvail / push return values (typed errors included), never throw or write outside the ring. */
export function checkBaseCase(c: BaseCase): Verdict {
  const v = new Violations();
  const b = build({ layout: c.layout, size: c.size, eventIdx: false, indirect: false, capacity: 64, served: 0, order: 0, mutations: [], chains: Array.from({ length: c.chains }, () => ({ out: [8], in: [8], indirect: false })) });
  if (typeof b === 'string') return b;
  const mem = b.mem;
  const dev = ringFactory(c.layout).device(mem.space, b.config);
  if (isRingError(dev)) return dev.message;
  const refused = dev.setBase({ availIdx: c.availIdx, availWrap: c.availWrap, usedIdx: c.usedIdx, usedWrap: c.usedWrap });
  v.expect(refused === undefined || ruleKnown(refused), () => `setBase returned ${JSON.stringify(refused)}`);
  // vhost keeps 15 bits of a packed index (bit 15 is the wrap counter): the masked position must be < num
  if (c.layout === 'packed' && ((c.availIdx & 0x7fff) >= c.size || (c.usedIdx & 0x7fff) >= c.size)) {
    v.expect(refused !== undefined, () => `packed setBase took a position ≥ num ${c.size}`);
  }
  const outside = mem.snapshot(b.ringEnd, IND_AT - b.ringEnd);
  const chain = new Chain(64);
  for (let i = 0; i < c.chains + 1; i++) {
    dev.hasAvail();
    const r = dev.pop(chain);
    if (r === true) dev.push(chain.id, chain.ringDescs, 0);
    else if (r !== false) {
      v.expect(ruleKnown(r), () => `pop returned ${JSON.stringify(r)}`);
      break;
    } else break;
  }
  dev.push(0, 1, 0); // a typed error or a used entry inside the ring; never a throw
  const w = mem.changedOutside(b.ringEnd, outside, []);
  v.expect(w < 0, () => `a ring at base ${JSON.stringify({ availIdx: c.availIdx, usedIdx: c.usedIdx })} wrote 0x${w.toString(16)}, past its areas`);
  return v.verdict;
}

/**
 * Hostile vring bases (VHOST_SET_VRING_BASE from a record, an SVQ hand-over). This target found the packed
 * ring taking an index ≥ num and indexing past its descriptors; setBase now refuses it ('bad-base').
 */
export const ringBaseTargets = (): FuzzTarget<BaseCase>[] => [
  { kind: 'ring/split set-base (hostile)', arbitrary: baseCaseArb('split'), check: checkBaseCase },
  { kind: 'ring/packed set-base (hostile)', arbitrary: baseCaseArb('packed'), check: checkBaseCase },
];
