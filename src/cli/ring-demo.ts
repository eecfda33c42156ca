/**
 * `shadowvq ring-demo` (alias `demo` until the migration demo exists): a real virtqueue round trip on
 * both layouts. Guest memory holds the ring, an indirect-table area and data buffers; a driver adds
 * chains of 1..4 readable and 1..4 writable buffers (a quarter through indirect tables), kicking only
 * when the device asks (EVENT_IDX / packed DESC mode); the device pops what is available, reads every
 * readable byte, writes a reply derived from them into the writable buffers, completes the chains out
 * of order and calls only when the driver asks; the driver reaps and checks every reply byte and
 * length. Thousands of laps go round the ring. The dirty log counts the pages the device wrote.
 */
import { Option, type Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { badCount, COUNT_LIMITS, countOpt } from './args.js';
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, PAGE_SIZE } from '../memory/address-space.js';
import { Chain, isRingError, placeRing, ringFactory, Used, type RingConfig, type RingLayout } from '../ring/index.js';

export interface RingDemoOptions {
  readonly chains: number;
  readonly size: number;
  readonly seed: number;
  /** Called about every `progressMs` (default 2000) of a long run with the chains reaped so far. */
  readonly onProgress?: (reaped: number, total: number) => void;
  readonly progressMs?: number;
}

export interface RingDemoRow {
  readonly layout: RingLayout;
  readonly chains: number;
  readonly indirect: number;
  readonly descs: number;
  readonly outBytes: number;
  readonly inBytes: number;
  readonly laps: number;
  readonly kicks: number;
  readonly calls: number;
  readonly dirtyPages: number;
  readonly ms: number;
  readonly verdict: 'ok' | string;
}

const RING_BASE = 0x100000;
const SEG_MAX = 512;
const SEGS = 8; // per buffer slot: 4 readable + 4 writable, SEG_MAX bytes each

/** xorshift32: a small deterministic generator, so runs are reproducible from the seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** FNV-1a over a byte range. */
function fnv1a(bytes: Uint8Array, h: number): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return h;
}

/** The byte the device writes at offset `i` of its reply to a request hashing to `h`. */
const replyByte = (h: number, i: number): number => ((h >>> ((i & 3) * 8)) ^ i) & 0xff;

/** Guest memory for one ring demo: the ring, then the indirect tables, then the buffers, each on its own pages. */
function demoMemory(layout: RingLayout, n: number) {
  const space = new AddressSpace('gpa');
  const place = placeRing(layout, n, RING_BASE, { deviceAlign: PAGE_SIZE });
  // any size up to 32768 fits
  const pageUp = (b: number): number => Math.ceil(b / PAGE_SIZE) * PAGE_SIZE;
  const indBase = RING_BASE + pageUp(place.end - RING_BASE);
  const bufBase = indBase + pageUp(n * SEGS * 16);
  must(space.addRegion(RING_BASE, indBase - RING_BASE, { name: 'ring' }));
  must(space.addRegion(indBase, n * SEGS * 16, { name: 'indirect' }));
  const buffers = must(space.addRegion(bufBase, n * SEGS * SEG_MAX, { name: 'buffers' }));
  const config: RingConfig = { layout, size: n, addrs: place.addrs, eventIdx: true, indirect: true };
  const f = ringFactory(layout);
  const driver = f.driver(space, config, { indirectArea: { addr: indBase, size: n * SEGS * 16 } });
  const device = f.device(space, config);
  if (isRingError(driver)) throw new Error(driver.message);
  if (isRingError(device)) throw new Error(device.message);
  return { space, driver, device, bufBase, bytes: buffers.bytes };
}

const must = <A>(e: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left.message);
  return e.right;
};

/**
 * One layout's run: the driver adds random chains, the device answers them out of order, the driver
 * checks every reply byte. Per buffer slot (the token of the chain using it): the expected reply hash
 * and the writable segments' lengths.
 */
class RingDemo {
  private readonly m: ReturnType<typeof demoMemory>;
  private readonly rand: () => number;
  private readonly freeSlots: number[] = [];
  private readonly expectHash: Uint32Array;
  private readonly segLen: Uint32Array;
  private readonly chain = new Chain(SEGS);
  private readonly used = new Used();
  private readonly popped: Chain[];
  private nPopped = 0;
  readonly dirty = new Set<number>();
  readonly count = { added: 0, reaped: 0, indirect: 0, descs: 0, slots: 0, outBytes: 0, inBytes: 0, kicks: 0, calls: 0 };

  constructor(
    readonly layout: RingLayout,
    private readonly n: number,
    seed: number,
  ) {
    this.m = demoMemory(layout, n);
    this.rand = rng(seed);
    for (let s = n - 1; s >= 0; s--) this.freeSlots.push(s);
    this.expectHash = new Uint32Array(n);
    this.segLen = new Uint32Array(n * 4);
    this.popped = Array.from({ length: n }, () => new Chain(SEGS));
    this.m.space.setWriteHook((addr, len) => {
      for (let p = Math.floor(addr / PAGE_SIZE); p <= Math.floor((addr + len - 1) / PAGE_SIZE); p++) this.dirty.add(p);
    });
    this.m.driver.enableCalls();
    this.m.device.enableKicks();
  }

  /** The driver adds up to `batch` chains of 1..4 readable and 1..4 writable buffers (a quarter indirect). */
  addBatch(batch: number, total: number): void {
    const { driver, bytes, bufBase } = this.m;
    const { chain, rand, count } = this;
    for (let b = 0; b < batch && count.added < total && this.freeSlots.length > 0; b++) {
      const slot = this.freeSlots[this.freeSlots.length - 1]!;
      const nOut = 1 + (rand() % 4);
      const nIn = 1 + (rand() % 4);
      const useInd = rand() % 4 === 0;
      chain.reset();
      const base = slot * SEGS * SEG_MAX;
      let h = 0x811c9dc5;
      for (let i = 0; i < nOut; i++) {
        const l = 1 + (rand() % SEG_MAX);
        const o = base + i * SEG_MAX;
        for (let j = 0; j < l; j++) bytes[o + j] = rand() & 0xff;
        h = fnv1a(bytes.subarray(o, o + l), h);
        chain.push(bufBase + o, l, false);
      }
      for (let i = 0; i < nIn; i++) {
        const l = 1 + (rand() % SEG_MAX);
        this.segLen[slot * 4 + i] = l;
        chain.push(bufBase + base + (4 + i) * SEG_MAX, l, true);
      }
      const r = driver.add(chain, slot, useInd);
      if (isRingError(r)) {
        if (r.rule === 'no-space') break;
        throw new Error(`driver: ${r.message}`);
      }
      this.freeSlots.pop();
      this.expectHash[slot] = h;
      count.added++;
      if (useInd) count.indirect++;
      count.slots += useInd ? 1 : chain.count;
      count.descs += chain.count;
      count.outBytes += chain.outBytes;
      count.inBytes += chain.inBytes;
    }
  }

  /** Kick handler: no kicks while it works, then re-enable and re-check (vhost_enable_notify's race). */
  serviceDevice(): void {
    const { device } = this.m;
    do {
      device.disableKicks();
      for (;;) {
        const r = device.pop(this.popped[this.nPopped]!);
        if (isRingError(r)) throw new Error(`device: ${r.message}`);
        if (!r) break;
        this.nPopped++;
      }
      // out of order: a random pending chain each time
      while (this.nPopped > 0) this.answer(this.rand() % this.nPopped);
      if (device.callNeeded()) this.count.calls++;
    } while (device.enableKicks());
  }

  /** The device reads popped chain `k`, writes its reply (h % 7 bytes short of the writable room), marks it used. */
  private answer(k: number): void {
    const { space, device } = this.m;
    const c = this.popped[k]!;
    let h = 0x811c9dc5;
    for (let i = 0; i < c.outCount; i++) h = fnv1a(must(space.slice(c.addr[i]!, c.len[i]!)), h);
    let budget = Math.max(0, c.inBytes - (h % 7));
    const written = budget;
    let off = 0;
    for (let i = c.outCount; i < c.count && budget > 0; i++) {
      const l = Math.min(c.len[i]!, budget);
      const reply = new Uint8Array(l);
      for (let j = 0; j < l; j++) reply[j] = replyByte(h, off + j);
      must(space.write(c.addr[i]!, reply));
      off += l;
      budget -= l;
    }
    const e = device.push(c.id, c.ringDescs, written);
    if (e !== undefined) throw new Error(`device: ${e.message}`);
    this.popped[k] = this.popped[this.nPopped - 1]!;
    this.popped[this.nPopped - 1] = c;
    this.nPopped--;
  }

  /** Call handler: reap every used chain and check each reply byte against what the device must write. */
  reapDriver(): void {
    const { driver, bytes } = this.m;
    const used = this.used;
    do {
      driver.disableCalls();
      for (;;) {
        const r = driver.reap(used);
        if (isRingError(r)) throw new Error(`driver: ${r.message}`);
        if (!r) break;
        const slot = used.token;
        const h = this.expectHash[slot]!;
        const base = slot * SEGS * SEG_MAX;
        // the writable segments of a slot live in its upper half, back to back per SEG_MAX
        let left = used.len;
        for (let i = 0, off = 0; left > 0; i++) {
          const segBase = base + (4 + i) * SEG_MAX;
          const l = Math.min(left, this.segLen[slot * 4 + i]!);
          for (let j = 0; j < l; j++) if (bytes[segBase + j] !== replyByte(h, off + j)) throw new Error(`driver: reply byte ${off + j} of slot ${slot} differs`);
          off += l;
          left -= l;
        }
        this.freeSlots.push(slot);
        this.count.reaped++;
      }
    } while (driver.enableCalls());
  }

  /** One turn: a random batch added, then a kick (device and driver served) or a late call. */
  turn(total: number): void {
    const { driver } = this.m;
    this.addBatch(1 + (this.rand() % 32), total);
    const before = this.count.reaped;
    if (driver.kickNeeded()) {
      this.count.kicks++;
      this.serviceDevice();
      this.reapDriver();
    } else if (driver.enableCalls()) {
      this.reapDriver();
    }
    if (this.count.reaped === before && driver.numFree() === 0) throw new Error('stalled: ring full, no kick asked and nothing used');
  }

  /** Whether the run ended clean: nothing in flight, nothing left available. */
  drained = (): boolean => this.m.driver.inFlight() === 0 && !this.m.device.hasAvail();

  /** Laps round the avail ring (split) or the descriptor ring (packed). */
  laps = (): number => Math.floor((this.layout === 'split' ? this.count.added : this.count.slots) / this.n);
}

export function runRingLayout(layout: RingLayout, opts: RingDemoOptions): RingDemoRow {
  const t0 = performance.now();
  const demo = new RingDemo(layout, opts.size, opts.seed);
  const progressMs = opts.progressMs ?? 2000;
  let nextProgress = t0 + progressMs;
  let checkAt = 4096;
  let verdict = 'ok';
  try {
    while (demo.count.reaped < opts.chains) {
      const reaped = demo.count.reaped;
      if (opts.onProgress !== undefined && reaped >= checkAt) {
        checkAt = reaped + 4096;
        const now = performance.now();
        if (now >= nextProgress) {
          nextProgress = now + progressMs;
          opts.onProgress(reaped, opts.chains);
        }
      }
      demo.turn(opts.chains);
    }
    if (!demo.drained()) verdict = 'FAIL: chains left in flight';
  } catch (e) {
    verdict = `FAIL: ${(e as Error).message}`;
  }
  const c = demo.count;
  return {
    layout,
    chains: c.reaped,
    indirect: c.indirect,
    descs: c.descs,
    outBytes: c.outBytes,
    inBytes: c.inBytes,
    laps: demo.laps(),
    kicks: c.kicks,
    calls: c.calls,
    dirtyPages: demo.dirty.size,
    ms: Math.round(performance.now() - t0),
    verdict,
  };
}

export function formatRingDemo(rows: readonly RingDemoRow[]): string {
  const head = ['layout', 'chains', 'indirect', 'descs', 'out bytes', 'in bytes', 'laps', 'kicks', 'calls', 'dirty pages', 'ms', 'verdict'];
  const cells = rows.map((r) => [r.layout, r.chains, r.indirect, r.descs, r.outBytes, r.inBytes, r.laps, r.kicks, r.calls, r.dirtyPages, r.ms, r.verdict].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => c.map((x, i) => (i === 0 || i === c.length - 1 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ').trimEnd();
  return [line(head), line(w.map((x) => '-'.repeat(x))), ...cells.map(line)].join('\n') + '\n';
}

const sizeOpt = (v: string): number => {
  const n = countOpt('--size')(v);
  if ((n & (n - 1)) !== 0) throw new InvalidArgumentError(badCount('--size', 8, 32768, v, ' and a power of two'));
  return n;
};

export function registerRingDemo(program: Command): void {
  program
    .command('ring-demo')
    .alias('demo')
    .description('round-trip real chains through a split and a packed virtqueue in guest memory and check every byte')
    .addOption(new Option('--chains <n>', `chains per layout, ${COUNT_LIMITS['--chains'].min}..${COUNT_LIMITS['--chains'].max} (progress on stderr every 2 s)`).default(20000).argParser(countOpt('--chains')))
    .addOption(new Option('--size <n>', 'queue size, a power of two in 8..32768').default(64).argParser(sizeOpt))
    .addOption(new Option('--seed <n>', 'generator seed, 0..4294967295').default(1).argParser(countOpt('--seed')))
    .option('--json', 'print JSON rows')
    .action((o: { chains: number; size: number; seed: number; json?: boolean }) => {
      const { chains, size, seed } = o;
      const onProgress = (layout: string) => (done: number, total: number) => process.stderr.write(`shadowvq ring-demo: ${layout} ${done}/${total} chains\n`);
      const rows = (['split', 'packed'] as const).map((l) => runRingLayout(l, { chains, size, seed, onProgress: onProgress(l) }));
      process.stdout.write(o.json === true ? JSON.stringify(rows, null, 2) + '\n' : formatRingDemo(rows));
      if (rows.some((r) => r.verdict !== 'ok')) process.exitCode = 1;
    });
}
