/**
 * One core per queue pair: SVQ forwarding of 2 queue pairs (4 queues: rx and tx of each pair), run by
 * one SVQ worker thread hosting all of them ("1 thread") and by two workers hosting one pair each
 * ("2 workers"), measured in the same run, samples alternated so that load from other processes hits
 * both alike; the median of the per-pair ratios is reported.
 *
 * Each queue carries its own guest (an in-worker guest driver keeping 64 one-descriptor chains in flight,
 * polling its used ring) and a loopback device on its shadow ring, in the worker with the SVQ they feed:
 * in a VM those are a vCPU and the NIC, elsewhere; here they cost CPU, and they sit with their queue pair
 * in both runs, so both runs do the same work and only the thread count differs. The 1-thread run uses
 * the same worker code (the dataplane loop of src/svq/worker-thread.ts) as the 2-worker one.
 *
 * Rates are chains per wall-clock second (parallelism is the point); the note adds chains per CPU second
 * of the whole process (both workers' CPU counted), which shows what the threads cost. On a machine whose
 * cores are busy with other work the ratio falls towards 1×: it is only as good as the free cores.
 */
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Testbed } from '../src/svq/loopback.js';
import { isSvqError } from '../src/svq/shadow-virtqueue.js';
import { isSvqWorkerError, SvqWorker, type SvqWorkerQueue } from '../src/svq/worker.js';
import { cpuSeconds, type BenchRow, type BenchSuite } from './harness.js';

const QUEUE = 256;
const PAIRS = 2;
const IN_FLIGHT = 64;
const BURST = 16;

/** One queue: its own guest memory and rings (SharedArrayBuffer), in-worker guest and loopback device. */
function queue(name: string): SvqWorkerQueue {
  const side = { layout: 'split', size: QUEUE, eventIdx: true, indirect: false } as const;
  const tb = Testbed.create({ guest: side, shadow: side, guestMem: 1 << 20, sharedMemory: true, pollGuestWhileBusy: true });
  if (isSvqError(tb)) throw new Error(tb.message);
  return {
    name,
    guest: { space: tb.gpa, config: tb.guestConfig },
    shadow: { space: tb.iovaView, config: tb.shadowRing(side).config },
    iova: tb.tree,
    // transmit-like traffic: the device calls for every chain, so SVQ may leave guest kicks off while busy
    pollGuestWhileBusy: true,
    device: 'loopback',
    traffic: { bufBase: tb.bufBase, descs: 1, inFlight: IN_FLIGHT, burst: BURST },
  };
}

const pairQueues = (p: number): SvqWorkerQueue[] => [queue(`rx${p}`), queue(`tx${p}`)];

interface Run {
  readonly workers: SvqWorker[];
  /** Queues per worker. */
  readonly per: number[];
}

function done(r: Run): number {
  let n = 0;
  r.workers.forEach((w, i) => {
    for (let s = 0; s < r.per[i]!; s++) n += w.trafficDone(s);
  });
  return n;
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Heap bytes the workers of `r` allocated since their previous read, and each worker thread's CPU seconds so far. */
function probe(r: Run): { bytes: number; cpu: number[] } {
  let bytes = 0;
  const cpu: number[] = [];
  for (const w of r.workers) {
    const x = w.probe();
    if (isSvqWorkerError(x)) throw new Error(x.message);
    bytes += x.heapBytes;
    cpu.push(x.threadCpu);
  }
  return { bytes, cpu };
}

interface Sample {
  /** Chains per wall second, per CPU second of the process. */
  readonly wall: number;
  readonly cpu: number;
  readonly heapPerChain: number;
  /** CPU seconds per wall second: the whole process, and each worker thread on its own. */
  readonly cores: number;
  readonly threads: number[];
}

/** Run `r`'s traffic for `ms` after a warm-up; chains per wall second and per CPU second, heap bytes per chain, CPU per thread. */
async function sample(r: Run, warmMs: number, ms: number): Promise<Sample> {
  for (const w of r.workers) w.setTraffic(true);
  await sleep(warmMs);
  const h0 = done(r);
  const p0 = probe(r);
  const d0 = done(r);
  const t0 = performance.now();
  const c0 = cpuSeconds();
  await sleep(ms);
  const d1 = done(r);
  const t1 = performance.now();
  const c1 = cpuSeconds();
  const p1 = probe(r);
  const h1 = done(r);
  for (const w of r.workers) w.setTraffic(false);
  // let the queues drain before the other run samples (the pause lets in-flight chains complete)
  await sleep(30);
  const n = (d1 - d0) >>> 0;
  const wall = (t1 - t0) / 1000;
  return {
    wall: n / wall,
    cpu: n / (c1 - c0),
    heapPerChain: p1.bytes / ((h1 - h0) >>> 0),
    cores: (c1 - c0) / wall,
    threads: p1.cpu.map((c, i) => (c - p0.cpu[i]!) / wall),
  };
}

const median = (xs: number[]): number => {
  const v = [...xs].sort((x, y) => x - y);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

/**
 * The control: what parallelism this machine gives two threads right now. A plain CPU loop (no memory
 * shared, nothing to wait for) in one worker, then in two at once; the ratio of iterations is the best
 * any 2-thread design could show in the same minute.
 */
const SPIN = `const { parentPort } = require('node:worker_threads');
parentPort.on('message', (ms) => { let x = 0, n = 0; const t0 = Date.now(); while (Date.now() - t0 < ms) { for (let i = 0; i < 1e4; i++) x = (x * 31 + i) | 0; n++; } parentPort.postMessage(n + (x & 0)); });`;
class Control {
  private readonly ws = [new Worker(SPIN, { eval: true }), new Worker(SPIN, { eval: true })];
  private spin(w: Worker, ms: number): Promise<number> {
    return new Promise((res) => {
      w.once('message', (n: number) => res(n));
      w.postMessage(ms);
    });
  }
  async ratio(ms: number): Promise<number> {
    const one = await this.spin(this.ws[0]!, ms);
    const two = (await Promise.all(this.ws.map((w) => this.spin(w, ms)))).reduce((a, b) => a + b, 0);
    return two / one;
  }
  async close(): Promise<void> {
    for (const w of this.ws) await w.terminate();
  }
}

async function start(queues: SvqWorkerQueue[], name: string): Promise<SvqWorker> {
  const w = await SvqWorker.start({ queues, name });
  if (isSvqWorkerError(w)) throw new Error(w.message);
  return w;
}

export const suite: BenchSuite = {
  name: 'svq',
  async run({ quick }) {
    const samples = quick ? 3 : 9;
    const ms = quick ? 300 : 1000;
    const warm = quick ? 100 : 300;
    const single: Run = { workers: [await start([...pairQueues(0), ...pairQueues(1)], '1 thread')], per: [2 * PAIRS] };
    const multi: Run = { workers: [], per: [] };
    for (let p = 0; p < PAIRS; p++) {
      multi.workers.push(await start(pairQueues(10 + p), `pair ${p}`));
      multi.per.push(2);
    }
    const control = new Control();
    const controls: number[] = [];
    try {
      // JIT warm-up of both
      await sample(single, warm, ms);
      await sample(multi, warm, ms);
      const one: number[] = [];
      const two: number[] = [];
      const ratios: number[] = [];
      const cpuOne: number[] = [];
      const cpuTwo: number[] = [];
      const heapOne: number[] = [];
      const heapTwo: number[] = [];
      const coresOne: number[] = [];
      const coresTwo: number[] = [];
      const threadOne: number[] = [];
      const threadTwo: number[][] = [[], []];
      for (let i = 0; i < samples; i++) {
        // alternate which goes first
        const a = i % 2 === 0 ? await sample(single, warm, ms) : undefined;
        const b = await sample(multi, warm, ms);
        const c = a ?? (await sample(single, warm, ms));
        one.push(c.wall);
        two.push(b.wall);
        ratios.push(b.wall / c.wall);
        cpuOne.push(c.cpu);
        cpuTwo.push(b.cpu);
        heapOne.push(c.heapPerChain);
        heapTwo.push(b.heapPerChain);
        coresOne.push(c.cores);
        coresTwo.push(b.cores);
        threadOne.push(c.threads[0]!);
        b.threads.forEach((t, k) => threadTwo[k]!.push(t));
        controls.push(await control.ratio(ms / 2));
      }
      const stats = [];
      for (const w of [...single.workers, ...multi.workers]) {
        const s = await w.stop();
        if (isSvqWorkerError(s)) throw new Error(s.message);
        stats.push(...s);
      }
      const failed = stats.filter((s) => s.failure !== undefined);
      const forced = stats.reduce((n, s) => n + s.forcedPolls, 0);
      const rows: BenchRow[] = [
        {
          name: 'control: CPU loop, 2 workers ÷ 1 worker',
          value: Math.round(median(controls) * 100) / 100,
          unit: '×',
          note: `the parallelism this machine gave two threads during the samples (${controls.map((r) => r.toFixed(2)).join(' ')}): the ceiling of the ratio below`,
        },
        {
          name: '2 queue pairs, 1 thread',
          value: Math.round(median(one)),
          unit: 'chains/s',
          note: `one SVQ worker hosting 4 queues (split→split, 1-desc, event_idx on); ${Math.round(median(cpuOne))} chains per CPU second; heap ${median(heapOne).toFixed(1)} B/chain (worker isolate)`,
        },
        {
          name: '2 queue pairs, 2 workers ÷ 1 thread',
          value: Math.round(median(two)),
          unit: 'chains/s',
          ratio: median(ratios),
          baseline: `2 queue pairs, 1 thread (${Math.round(median(one))} chains/s in the same samples)`,
          note:
            `wall-clock rates, ${samples} alternated samples of ${ms} ms, ratios ${ratios.map((r) => r.toFixed(2)).join(' ')}; ` +
            `÷ the control taken after each sample: ${median(ratios.map((r, i) => r / controls[i]!)).toFixed(2)} (median); ` +
            `per CPU second ${Math.round(median(cpuTwo))} (÷ 1 thread ${(median(cpuTwo) / median(cpuOne)).toFixed(2)}×); ` +
            `cores obtained (CPU s per wall s, median) 2 workers ${median(coresTwo).toFixed(2)}, 1 thread ${median(coresOne).toFixed(2)}; ` +
            `each worker thread's own CPU per wall s (/proc/thread-self/stat, median) 2 workers ${threadTwo.map((t) => median(t).toFixed(2)).join(' + ')}, 1 thread ${median(threadOne).toFixed(2)}; ` +
            `heap ${median(heapTwo).toFixed(1)} B/chain (worker isolates); ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)}` +
            (forced > 0 ? `; ${forced} forced polls` : '') +
            (failed.length > 0 ? `; FAILED: ${failed.map((s) => s.failure).join('; ')}` : ''),
        },
      ];
      return rows;
    } finally {
      for (const w of [...single.workers, ...multi.workers]) await w.close();
      await control.close();
    }
  },
};

/* Run alone: `npx tsx bench/svq-workers.ts [--quick]`. */
if (import.meta.url === `file://${process.argv[1]}`) {
  void suite.run({ quick: process.argv.includes('--quick') }).then((rows) => {
    for (const r of rows) console.log(`${r.name.padEnd(40)} ${String(r.value).padStart(10)} ${r.unit}${r.ratio === undefined ? '' : `  ×${r.ratio.toFixed(2)}`}${r.note ? `  ${r.note}` : ''}`);
    process.exit(0);
  });
}
