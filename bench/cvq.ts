/**
 * CVQ benchmark on the maximal state (64-entry MAC table, 4094 VLANs, 128-entry RSS table, 40-byte key,
 * coalescing both ways: 4101 commands with every feature of the full profile).
 *
 * Pure layer: plan, encode (in place vs an allocating encode as the baseline), decode, apply, and the
 * whole plan + encode + apply pipeline — commands/s and heap bytes allocated per command.
 * Effect layer: the restore engine loading that state into the simulated device, per strategy — wall
 * time per load (our JS cost: ring, buffers, acks, model) with the serial strategy as the baseline, and
 * the device time the simulator models (kick-to-call 50 µs, 0.5 µs per chain) beside QEMU's reported
 * 20 848 µs serial → 13 543 µs parallel for ≈4099 commands (1.54×).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice, VIRTIO_CONFIG_S as S } from '../src/device/sim/index.js';
import { CVQ_STRATEGIES, CvqEngine, type CvqStrategy } from '../src/cvq/engine.js';
import { restoreState } from '../src/cvq/restore.js';
import { createShadowCvq, programShadowCvq } from '../src/cvq/shadow.js';
import { applyAll } from '../src/state/apply.js';
import { DEFAULT_LIMITS, resetNetState, vlanFilterOf, type NetDeviceState } from '../src/state/net-state.js';
import { planRestore, type RestoreCommand } from '../src/state/plan.js';
import { decodeCommand, encodeCommand, encodeCommandInto, encodedLength } from '../src/virtio/cvq.js';
import { FULL_PROFILE_FEATURES, maskOf } from '../src/virtio/features.js';

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  ratio?: number;
  baseline?: string;
  note?: string;
}
export interface BenchSuite {
  name: string;
  run(opts: { quick: boolean }): Promise<BenchRow[]>;
}

const gc: (() => void) | undefined = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();

const KEY = '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa';

export function maximalState(): NetDeviceState {
  const mac = (i: number, mc: boolean): string => `${mc ? '01' : '02'}:00:5e:00:00:${i.toString(16).padStart(2, '0')}`;
  return {
    ...resetNetState('52:54:00:12:34:56'),
    queuePairs: 8,
    rxMode: { promisc: false, allmulti: true, alluni: true, nomulti: false, nouni: false, nobcast: true },
    macTable: { unicast: Array.from({ length: 32 }, (_, i) => mac(i, false)), multicast: Array.from({ length: 32 }, (_, i) => mac(i, true)), unicastOverflow: false, multicastOverflow: false },
    vlanFilter: vlanFilterOf(Array.from({ length: 4094 }, (_, i) => i + 1)),
    guestOffloads: 0x182n,
    rss: { hashTypes: 0x3f, indirectionTable: Array.from({ length: 128 }, (_, i) => i % 8), unclassifiedQueue: 0, key: KEY },
    hashReport: null,
    coalescing: { tx: { maxPackets: 64, maxUsecs: 32 }, rx: { maxPackets: 16, maxUsecs: 8 } },
  };
}

/** Median ops/s of `step` (doing `ops` ops) over `samples` samples of ≥ `ms` each, after a warm-up. */
function rate(step: () => void, ops: number, quick: boolean): number {
  const ms = quick ? 40 : 250;
  const samples = quick ? 3 : 7;
  const sample = (len: number): number => {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    do {
      step();
      n += ops;
      t = performance.now();
    } while (t - t0 < len);
    return n / ((t - t0) / 1000);
  };
  sample(ms);
  const r = Array.from({ length: samples }, () => sample(ms)).sort((a, b) => a - b);
  return r[r.length >> 1]!;
}

/** Heap bytes allocated per op over `steps` runs of `step` (used-heap growth + what GCs reclaimed). */
function bytesPerOp(step: () => void, steps: number, ops: number): number {
  if (typeof v8.GCProfiler !== 'function') return Number.NaN;
  step();
  gc?.();
  const prof = new v8.GCProfiler();
  prof.start();
  const h0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < steps; i++) step();
  const h1 = process.memoryUsage().heapUsed;
  const stats = prof.stop().statistics as Array<{ beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }>;
  let reclaimed = 0;
  for (const s of stats) reclaimed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
  return Math.max(0, h1 - h0 + reclaimed) / (steps * ops);
}

/** A full-profile sim device at DRIVER_OK with the shadow CVQ alone in ASID 1, as QEMU sets it up. */
function simWithCvq(negotiated: bigint): { dev: SimVdpaDevice; engine: CvqEngine } {
  const ok = <T>(e: E.Either<{ message: string }, T>): T => {
    if (E.isLeft(e)) throw new Error(e.left.message);
    return e.right;
  };
  const dev = new SimVdpaDevice({ profile: 'full', mac: '52:54:00:00:00:01' });
  ok(dev.setOwner());
  ok(dev.setBackendFeatures(ok(dev.getBackendFeatures())));
  ok(dev.setStatus(S.ACKNOWLEDGE | S.DRIVER));
  ok(dev.setFeatures(negotiated));
  ok(dev.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
  const qi = dev.cvqIndex();
  ok(dev.setGroupAsid(ok(dev.getVringGroup(qi)), 1));
  const cvq = ok(createShadowCvq(dev, { qi, negotiated, asid: 1, size: 256 }));
  ok(programShadowCvq(dev, cvq));
  ok(dev.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK));
  return { dev, engine: new CvqEngine(dev, cvq) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export const suite: BenchSuite = {
  name: 'cvq',
  async run({ quick }) {
    const rows: BenchRow[] = [];
    const negotiated = FULL_PROFILE_FEATURES & ~maskOf(['RING_PACKED']);
    const state = maximalState();
    const plan: RestoreCommand[] = planRestore(state, negotiated);
    const n = plan.length;
    const cmds = plan.map((c) => c.cmd);
    const bytes = cmds.map(encodeCommand);
    const reset = resetNetState('52:54:00:00:00:01', negotiated);
    const page = new Uint8Array(4096);
    const heapSteps = quick ? 5 : 20;

    const encodeInto = (): void => {
      let off = 0;
      for (let i = 0; i < n; i++) {
        const c = cmds[i]!;
        if (off + encodedLength(c) > page.length) off = 0;
        off += encodeCommandInto(c, page, off);
      }
    };
    const encodeAlloc = (): void => {
      for (let i = 0; i < n; i++) encodeCommand(cmds[i]!);
    };
    const decode = (): void => {
      for (let i = 0; i < n; i++) decodeCommand([bytes[i]!]);
    };
    const apply = (): void => {
      applyAll(reset, negotiated, DEFAULT_LIMITS, cmds);
    };
    const pipeline = (): void => {
      const p = planRestore(state, negotiated);
      let off = 0;
      for (const c of p) {
        if (off + encodedLength(c.cmd) > page.length) off = 0;
        off += encodeCommandInto(c.cmd, page, off);
      }
      applyAll(reset, negotiated, DEFAULT_LIMITS, p.map((c) => c.cmd));
    };

    const base = rate(encodeAlloc, n, quick);
    const note = `${n} commands: MAC, 64-entry table, MQ, 128-entry RSS, offloads, 4 RX, 4094 VLANs, 2 coalescing`;
    rows.push({ name: 'encode (allocating)', value: base, unit: 'cmd/s', note: `${bytesPerOp(encodeAlloc, heapSteps, n).toFixed(1)} B/cmd` });
    const into = rate(encodeInto, n, quick);
    rows.push({ name: 'encode in place', value: into, unit: 'cmd/s', ratio: into / base, baseline: 'encode (allocating)', note: `${bytesPerOp(encodeInto, heapSteps, n).toFixed(1)} B/cmd (GUEST_OFFLOADS_SET's le64 is a bigint)` });
    rows.push({ name: 'plan', value: rate(() => void planRestore(state, negotiated), n, quick), unit: 'cmd/s', note: `${bytesPerOp(() => void planRestore(state, negotiated), heapSteps, n).toFixed(1)} B/cmd` });
    rows.push({ name: 'decode', value: rate(decode, n, quick), unit: 'cmd/s', note: `${bytesPerOp(decode, heapSteps, n).toFixed(1)} B/cmd` });
    rows.push({ name: 'apply (immer)', value: rate(apply, n, quick), unit: 'cmd/s', note: `${bytesPerOp(apply, heapSteps, n).toFixed(1)} B/cmd` });
    const pipe = rate(pipeline, n, quick);
    rows.push({ name: 'plan + encode + apply', value: pipe, unit: 'cmd/s', note });
    rows.push({ name: 'plan + encode + apply heap', value: bytesPerOp(pipeline, heapSteps, n), unit: 'B/cmd' });

    // The engine on the simulated device, one full load per sample.
    const loads = quick ? 3 : 9;
    const wall = new Map<CvqStrategy, number>();
    for (const strategy of CVQ_STRATEGIES) {
      const times: number[] = [];
      const deviceUs: number[] = [];
      let kicks = 0;
      for (let k = 0; k < loads + 1; k++) {
        const { dev, engine } = simWithCvq(negotiated);
        const t0 = performance.now();
        const v0 = dev.clock.now;
        const r = await restoreState(dev, engine, state, negotiated, DEFAULT_LIMITS, resetNetState('52:54:00:00:00:01', negotiated), { strategy });
        const t1 = performance.now();
        if (E.isLeft(r)) throw new Error(`bench restore failed: ${r.left.message}`);
        if (k === 0) continue; // warm-up
        times.push(t1 - t0);
        deviceUs.push(dev.clock.now - v0);
        kicks = r.right.report.stats.kicks;
      }
      const ms = median(times);
      wall.set(strategy, ms);
      const serialMs = wall.get('serial')!;
      rows.push({
        name: `restore ${strategy} (wall)`,
        value: ms * 1000,
        unit: 'µs/load',
        ...(strategy === 'serial' ? {} : { ratio: serialMs / ms, baseline: 'restore serial (wall), speed-up' }),
        note: `${((ms * 1000) / n).toFixed(2)} µs/cmd, ${kicks} kicks`,
      });
      rows.push({ name: `restore ${strategy} (sim device time)`, value: median(deviceUs), unit: 'µs/load', note: 'modelled: 50 µs kick-to-call + 0.5 µs/chain; QEMU: 20 848 serial, 13 543 parallel' });
    }
    return rows;
  },
};
