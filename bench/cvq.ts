/**
 * CVQ benchmark on the maximal state (64-entry MAC table, 4094 VLANs, 128-entry RSS table, 40-byte key,
 * coalescing both ways: 4105 commands with every feature of the full profile).
 *
 * Pure layer: plan, encode (in place vs an allocating encode as the baseline), decode, apply, and the
 * whole plan + encode + apply pipeline — commands/s and heap bytes allocated per command.
 * Effect layer: `restoreState` (machines/cvq-command over the engine's two ops) loading that state into the simulated device, per strategy — wall
 * time per load (our JS cost: ring, buffers, acks, model) with the serial strategy as the baseline, and
 * the device time the simulator models (kick-to-call 50 µs, 0.5 µs per chain) beside QEMU's reported
 * 20 848 µs serial → 13 543 µs parallel for ≈4099 commands (1.54×).
 */
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice } from '../src/device/sim/index.js';
import { CVQ_STRATEGIES, CvqEngine, type CvqStrategy } from '../src/cvq/engine.js';
import { restoreState } from '../src/cvq/restore.js';
import { startShadowCvq } from '../src/cvq/shadow.js';
import { applyAll } from '../src/state/apply.js';
import { maximalState } from '../src/state/maximal.js';
import { DEFAULT_LIMITS, resetNetState } from '../src/state/net-state.js';
import { planRestore, type RestoreCommand } from '../src/state/plan.js';
import { decodeCommand, encodeCommand, encodeCommandInto, encodedLength } from '../src/virtio/cvq.js';
import { FULL_PROFILE_FEATURES, maskOf } from '../src/virtio/features.js';
import { heapBytesPerOp, opsPerSecond, type BenchRow, type BenchSuite } from './harness.js';

/** Median ops/s of `step` (doing `ops` ops), wall clock, one step per clock read: each step is a whole plan. */
const rate = (step: () => void, ops: number, quick: boolean): number =>
  opsPerSecond(step, ops, { warmupMs: quick ? 40 : 250, sampleMs: quick ? 40 : 250, samples: quick ? 3 : 7, clock: 'wall', stepsPerRead: 1 });

/** A full-profile sim device at DRIVER_OK with the shadow CVQ alone in ASID 1, as QEMU sets it up. */
async function simWithCvq(negotiated: bigint): Promise<{ dev: SimVdpaDevice; engine: CvqEngine }> {
  const dev = new SimVdpaDevice({ profile: 'full', mac: '52:54:00:00:00:01' });
  const owner = dev.setOwner();
  if (E.isLeft(owner)) throw new Error(owner.left.message);
  // machines/device-lifecycle's bring-up with the shadow CVQ as its step 7
  const started = await startShadowCvq(dev, negotiated, { size: 256 });
  if (E.isLeft(started)) throw new Error(started.left.message);
  started.right.actor.stop();
  return { dev, engine: new CvqEngine(dev, started.right.cvq) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export const suite: BenchSuite = {
  name: 'cvq',
  async run({ quick }) {
    const rows: BenchRow[] = [];
    const negotiated = FULL_PROFILE_FEATURES & ~maskOf(['RING_PACKED']);
    const state = maximalState({ alluni: true });
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
    rows.push({ name: 'encode (allocating)', value: base, unit: 'cmd/s', note: `${heapBytesPerOp(encodeAlloc, heapSteps, n).toFixed(1)} B/cmd` });
    const into = rate(encodeInto, n, quick);
    rows.push({ name: 'encode in place', value: into, unit: 'cmd/s', ratio: into / base, baseline: 'encode (allocating)', note: `${heapBytesPerOp(encodeInto, heapSteps, n).toFixed(1)} B/cmd (GUEST_OFFLOADS_SET's le64 is a bigint)` });
    rows.push({ name: 'plan', value: rate(() => void planRestore(state, negotiated), n, quick), unit: 'cmd/s', note: `${heapBytesPerOp(() => void planRestore(state, negotiated), heapSteps, n).toFixed(1)} B/cmd` });
    rows.push({ name: 'decode', value: rate(decode, n, quick), unit: 'cmd/s', note: `${heapBytesPerOp(decode, heapSteps, n).toFixed(1)} B/cmd` });
    rows.push({ name: 'apply (immer)', value: rate(apply, n, quick), unit: 'cmd/s', note: `${heapBytesPerOp(apply, heapSteps, n).toFixed(1)} B/cmd` });
    const pipe = rate(pipeline, n, quick);
    rows.push({ name: 'plan + encode + apply', value: pipe, unit: 'cmd/s', note });
    rows.push({ name: 'plan + encode + apply heap', value: heapBytesPerOp(pipeline, heapSteps, n), unit: 'B/cmd' });

    // restoreState (machines/cvq-command) on the simulated device, one full load per sample.
    const loads = quick ? 3 : 9;
    const wall = new Map<CvqStrategy, number>();
    for (const strategy of CVQ_STRATEGIES) {
      const times: number[] = [];
      const deviceUs: number[] = [];
      let kicks = 0;
      for (let k = 0; k < loads + 1; k++) {
        const { dev, engine } = await simWithCvq(negotiated);
        const t0 = performance.now();
        const v0 = dev.clock.now;
        const r = await restoreState(dev, engine, state, negotiated, DEFAULT_LIMITS, resetNetState('52:54:00:00:00:01', negotiated), { strategy });
        const t1 = performance.now();
        if (E.isLeft(r)) throw new Error(`bench restore failed: ${r.left.message}`);
        if (k === 0) continue; // warm-up
        times.push(t1 - t0);
        deviceUs.push(dev.clock.now - v0);
        kicks = engine.stats.kicks;
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
