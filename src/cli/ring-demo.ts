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

export function runRingLayout(layout: RingLayout, opts: RingDemoOptions): RingDemoRow {
  const t0 = performance.now();
  const n = opts.size;
  const rand = rng(opts.seed);
  const space = new AddressSpace('gpa');
  const place = placeRing(layout, n, RING_BASE, { deviceAlign: PAGE_SIZE });
  const must = <A>(e: E.Either<{ message: string }, A>): A => {
    if (E.isLeft(e)) throw new Error(e.left.message);
    return e.right;
  };
  // Ring, then the indirect tables, then the buffers, each on its own pages (any size up to 32768 fits).
  const pageUp = (b: number): number => Math.ceil(b / PAGE_SIZE) * PAGE_SIZE;
  const IND_BASE = RING_BASE + pageUp(place.end - RING_BASE);
  const BUF_BASE = IND_BASE + pageUp(n * SEGS * 16);
  must(space.addRegion(RING_BASE, IND_BASE - RING_BASE, { name: 'ring' }));
  must(space.addRegion(IND_BASE, n * SEGS * 16, { name: 'indirect' }));
  const bufRegion = must(space.addRegion(BUF_BASE, n * SEGS * SEG_MAX, { name: 'buffers' }));
  const config: RingConfig = { layout, size: n, addrs: place.addrs, eventIdx: true, indirect: true };
  const f = ringFactory(layout);
  const driver = f.driver(space, config, { indirectArea: { addr: IND_BASE, size: n * SEGS * 16 } });
  const device = f.device(space, config);
  if (isRingError(driver)) throw new Error(driver.message);
  if (isRingError(device)) throw new Error(device.message);

  const dirty = new Set<number>();
  space.setWriteHook((addr, len) => {
    for (let p = Math.floor(addr / PAGE_SIZE); p <= Math.floor((addr + len - 1) / PAGE_SIZE); p++) dirty.add(p);
  });

  // Per buffer slot (the token of the chain using it): expected reply hash and written length.
  const freeSlots: number[] = [];
  for (let s = n - 1; s >= 0; s--) freeSlots.push(s);
  const expectHash = new Uint32Array(n);
  const chain = new Chain(SEGS);
  const used = new Used();
  const popped: Chain[] = Array.from({ length: n }, () => new Chain(SEGS));
  let nPopped = 0;
  let added = 0;
  let reaped = 0;
  let indirect = 0;
  let descs = 0;
  let slots = 0;
  let outBytes = 0;
  let inBytes = 0;
  let kicks = 0;
  let calls = 0;
  let verdict = 'ok';
  const bytes = bufRegion.bytes;

  const deviceService = (): void => {
    // Kick handler: no kicks while we work, then re-enable and re-check (vhost_enable_notify race).
    do {
      device.disableKicks();
      for (;;) {
        const r = device.pop(popped[nPopped]!);
        if (isRingError(r)) throw new Error(`device: ${r.message}`);
        if (!r) break;
        nPopped++;
      }
      // Complete out of order: a random pending chain each time.
      while (nPopped > 0) {
        const k = rand() % nPopped;
        const c = popped[k]!;
        let h = 0x811c9dc5;
        for (let i = 0; i < c.outCount; i++) h = fnv1a(must(space.slice(c.addr[i]!, c.len[i]!)), h);
        // Reply into the writable buffers, leaving h % 7 bytes of the last one unwritten.
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
        popped[k] = popped[nPopped - 1]!;
        popped[nPopped - 1] = c;
        nPopped--;
      }
      if (device.callNeeded()) calls++;
    } while (device.enableKicks());
  };

  const driverReap = (): void => {
    do {
      driver.disableCalls();
      for (;;) {
        const r = driver.reap(used);
        if (isRingError(r)) throw new Error(`driver: ${r.message}`);
        if (!r) break;
        const slot = used.token;
        const h = expectHash[slot]!;
        const base = slot * SEGS * SEG_MAX;
        // The writable segments of slot s live in its upper half, back to back per SEG_MAX.
        let left = used.len;
        for (let i = 0, off = 0; left > 0; i++) {
          const segBase = base + (4 + i) * SEG_MAX;
          const l = Math.min(left, segLen[slot * 4 + i]!);
          for (let j = 0; j < l; j++) if (bytes[segBase + j] !== replyByte(h, off + j)) throw new Error(`driver: reply byte ${off + j} of slot ${slot} differs`);
          off += l;
          left -= l;
        }
        freeSlots.push(slot);
        reaped++;
      }
    } while (driver.enableCalls());
  };

  const segLen = new Uint32Array(n * 4);
  driver.enableCalls();
  device.enableKicks();
  const progressMs = opts.progressMs ?? 2000;
  let nextProgress = t0 + progressMs;
  let checkAt = 4096;
  try {
    while (reaped < opts.chains) {
      if (opts.onProgress !== undefined && reaped >= checkAt) {
        checkAt = reaped + 4096;
        const now = performance.now();
        if (now >= nextProgress) {
          nextProgress = now + progressMs;
          opts.onProgress(reaped, opts.chains);
        }
      }
      // Driver: add a random batch while there is room.
      const batch = 1 + (rand() % 32);
      for (let b = 0; b < batch && added < opts.chains && freeSlots.length > 0; b++) {
        const slot = freeSlots[freeSlots.length - 1]!;
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
          chain.push(BUF_BASE + o, l, false);
        }
        for (let i = 0; i < nIn; i++) {
          const l = 1 + (rand() % SEG_MAX);
          segLen[slot * 4 + i] = l;
          chain.push(BUF_BASE + base + (4 + i) * SEG_MAX, l, true);
        }
        const r = driver.add(chain, slot, useInd);
        if (isRingError(r)) {
          if (r.rule === 'no-space') break;
          throw new Error(`driver: ${r.message}`);
        }
        freeSlots.pop();
        expectHash[slot] = h;
        added++;
        if (useInd) indirect++;
        slots += useInd ? 1 : chain.count;
        descs += chain.count;
        outBytes += chain.outBytes;
        inBytes += chain.inBytes;
      }
      const before = reaped;
      if (driver.kickNeeded()) {
        kicks++;
        deviceService();
        driverReap();
      } else if (driver.enableCalls()) {
        driverReap();
      }
      if (reaped === before && driver.numFree() === 0) throw new Error('stalled: ring full, no kick asked and nothing used');
    }
    if (driver.inFlight() !== 0 || device.hasAvail()) verdict = 'FAIL: chains left in flight';
  } catch (e) {
    verdict = `FAIL: ${(e as Error).message}`;
  }
  // Laps round the avail ring (split) or the descriptor ring (packed).
  const laps = Math.floor((layout === 'split' ? added : slots) / n);
  return {
    layout,
    chains: reaped,
    indirect,
    descs,
    outBytes,
    inBytes,
    laps,
    kicks,
    calls,
    dirtyPages: dirty.size,
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
