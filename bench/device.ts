/**
 * The simulated device: a CVQ restore of a maximal state (≈4099 commands, as the QEMU parallel-load
 * patch measured) sent serially and in batches, in *simulated* µs per command (the device's latency
 * model: 50 µs per kick → call round trip, 0.5 µs per command) and in wall-clock commands per second
 * (the simulator's own cost); and the loopback dataplane's packets per second and heap per packet.
 */
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice } from '../src/device/sim/device.js';
import { startDevice } from '../src/effects/lifecycle.js';
import { VHOST_ACCESS_RW } from '../src/device/types.js';
import { placeRing, ringFactory } from '../src/ring/index.js';
import { Chain, Used, isRingError, type RingDriver } from '../src/ring/types.js';
import { maximalState } from '../src/state/maximal.js';
import { planRestore } from '../src/state/plan.js';
import { encodeCommandInto, encodedLength } from '../src/virtio/cvq.js';
import { F } from '../src/virtio/features.js';
import { heapBytesPerOp, opsPerSecond, type BenchRow, type BenchSuite } from './harness.js';

const IOVA = 0x10_0000;

interface Rig {
  dev: SimVdpaDevice;
  drivers: Map<number, RingDriver>;
  bytes: Uint8Array;
  /** IOVA of byte 0 of `bytes`. */
  iova: number;
  features: bigint;
}

function die(what: string): never {
  throw new Error(`bench/device: ${what}`);
}

/** A full-profile sim device brought up through machines/device-lifecycle; step 7 points `queues` at driver rings. */
async function rig(size: number, queues: (cvq: number) => number[], features?: bigint): Promise<Rig> {
  const dev = new SimVdpaDevice({ profile: 'full' });
  ok(dev.setOwner());
  ok(dev.setBackendFeatures(ok(dev.getBackendFeatures())));
  const started = ok(await startDevice(dev, { wanted: (features ?? ok(dev.getFeatures())) & ~F.RING_PACKED }, (f) => E.right(queuesUp(dev, size, queues, f))));
  started.actor.stop();
  return started.setup;
}

const ok = <T>(e: { _tag: 'Left'; left: { message: string } } | { _tag: 'Right'; right: T }): T => (e._tag === 'Right' ? e.right : die(e.left.message));

function queuesUp(dev: SimVdpaDevice, size: number, queues: (cvq: number) => number[], f: bigint): Rig {
  const mem = ok(dev.allocHost(8 << 20));
  ok(dev.iotlbUpdate(0, IOVA, mem.size, mem.base, VHOST_ACCESS_RW));
  const space = dev.iovaSpace(0)!;
  const drivers = new Map<number, RingDriver>();
  let at = IOVA;
  for (const qi of queues(dev.cvqIndex())) {
    const { addrs, end } = placeRing('split', size, at);
    at = end;
    const d = ringFactory('split').driver(space, { layout: 'split', size, addrs, eventIdx: (f & F.EVENT_IDX) !== 0n, indirect: false });
    if (isRingError(d)) die(d.message);
    ok(dev.setVringNum(qi, size));
    ok(dev.setVringAddr(qi, addrs));
    ok(dev.setVringEnable(qi, true));
    drivers.set(qi, d);
  }
  const dataStart = Math.ceil((at - IOVA) / 4096) * 4096;
  return { dev, drivers, bytes: mem.bytes.subarray(dataStart), iova: IOVA + dataStart, features: f };
}

/** The benchmark's maximal state (src/state/maximal.ts) with its receive modes, encoded. */
function maximalCommands(features: bigint): Uint8Array[] {
  const state = maximalState({ nobcast: false });
  return planRestore(state, features).map((c) => {
    const b = new Uint8Array(encodedLength(c.cmd));
    encodeCommandInto(c.cmd, b, 0);
    return b;
  });
}

/** Send `cmds` `perKick` at a time (1 = QEMU's serial load); returns simulated µs and round trips. */
async function restore(r: Rig, cmds: Uint8Array[], perKick: number): Promise<{ us: number; roundTrips: number }> {
  const cvq = r.dev.cvqIndex();
  const d = r.drivers.get(cvq)!;
  const chain = new Chain(4);
  const used = new Used();
  const t0 = r.dev.clock.now;
  const rt0 = r.dev.clock.roundTrips;
  const SLOT = 2048; // bytes per in-flight command: out bytes then the ack
  for (let i = 0; i < cmds.length; ) {
    const n = Math.min(perKick, cmds.length - i);
    for (let k = 0; k < n; k++) {
      const c = cmds[i + k]!;
      const o = k * SLOT;
      if (c.length + 1 > SLOT) die('command larger than a slot');
      r.bytes.set(c, o);
      chain.reset();
      chain.push(r.iova + o, c.length, false);
      chain.push(r.iova + o + SLOT - 1, 1, true);
      const h = d.add(chain, i + k);
      if (isRingError(h)) die(h.message);
    }
    if (d.kickNeeded()) r.dev.kick(cvq);
    let got = 0;
    while (got < n) {
      const w = await r.dev.waitCall(cvq, 100);
      if (w._tag === 'Left' || !w.right) die('the CVQ did not answer');
      for (;;) {
        const x = d.reap(used);
        if (isRingError(x)) die(x.message);
        if (!x) break;
        if (r.bytes[(used.token - i) * SLOT + SLOT - 1] !== 0) die(`command ${used.token} was refused`);
        got++;
      }
    }
    i += n;
  }
  return { us: r.dev.clock.now - t0, roundTrips: r.dev.clock.roundTrips - rt0 };
}

async function cvqRows(quick: boolean): Promise<BenchRow[]> {
  const size = 256;
  const rows: BenchRow[] = [];
  const probe = await rig(size, (c) => [c]);
  const cmds = maximalCommands(probe.features);
  const runs: Array<[string, number]> = [
    ['serial', 1],
    ['batched-64', 64],
    ['batched-128', 128],
  ];
  let serialUs = 0;
  let serialWall = 0;
  for (const [name, perKick] of runs) {
    const reps = quick ? 1 : 3;
    let best = Infinity;
    let sim = { us: 0, roundTrips: 0 };
    for (let k = 0; k < reps; k++) {
      const r = await rig(size, (c) => [c]);
      const t0 = performance.now();
      sim = await restore(r, cmds, perKick);
      best = Math.min(best, performance.now() - t0);
    }
    const wall = cmds.length / (best / 1000);
    if (perKick === 1) {
      serialUs = sim.us;
      serialWall = wall;
    }
    rows.push({
      name: `cvq-restore-${name}`,
      value: sim.us / cmds.length,
      unit: 'sim µs/cmd',
      ...(perKick === 1 ? {} : { ratio: serialUs / sim.us, baseline: 'cvq-restore-serial (speed-up)' }),
      note: `${cmds.length} cmds, ${sim.roundTrips} round trips, ${(sim.us / 1000).toFixed(1)} sim ms`,
    });
    rows.push({
      name: `cvq-restore-${name}-wall`,
      value: wall,
      unit: 'cmds/s',
      ...(perKick === 1 ? {} : { ratio: wall / serialWall, baseline: 'cvq-restore-serial-wall' }),
    });
  }
  return rows;
}

async function loopbackRows(quick: boolean): Promise<BenchRow[]> {
  const size = 256;
  const r = await rig(size, () => [0, 1], undefined);
  const rx = r.drivers.get(0)!;
  const tx = r.drivers.get(1)!;
  const FRAME = 64 + 12;
  const chain = new Chain(2);
  const used = new Used();
  // a broadcast frame behind a virtio_net_hdr_v1 (the full profile negotiates HASH_REPORT: 20 bytes)
  const hdr = 20;
  r.bytes.fill(0xff, hdr, hdr + 6);
  const txIova = r.iova;
  const rxIova = r.iova + 4096;
  const BATCH = 32;
  const step = (): void => {
    for (let k = 0; k < BATCH; k++) {
      chain.reset();
      chain.push(rxIova + k * 128, 128, true);
      rx.add(chain, k);
      chain.reset();
      chain.push(txIova, FRAME, false);
      tx.add(chain, k);
    }
    r.dev.kick(0);
    r.dev.kick(1);
    r.dev.flush();
    let n = 0;
    while (rx.reap(used) === true) n++;
    while (tx.reap(used) === true) n--;
    if (n !== 0) die('loopback lost a packet');
  };
  const opts = quick ? { warmupMs: 50, sampleMs: 50, samples: 3 } : { warmupMs: 300, sampleMs: 300, samples: 7 };
  const pps = opsPerSecond(step, BATCH, opts);
  const heap = heapBytesPerOp(step, quick ? 200 : 2000, BATCH);
  // Baseline, same run: the bare ring layer round trip (add → pop → push → reap) of the same chains on
  // one split ring of the same size; a looped packet costs two of them (TX and RX) plus the copy.
  const space = r.dev.iovaSpace(0)!;
  const { addrs } = placeRing('split', size, r.iova + 0x10000);
  const cfg = { layout: 'split' as const, size, addrs, eventIdx: true, indirect: false };
  const bd = ringFactory('split').driver(space, cfg);
  const bv = ringFactory('split').device(space, cfg);
  if (isRingError(bd) || isRingError(bv)) die('baseline ring');
  const popped = new Chain(4);
  const raw = (): void => {
    for (let k = 0; k < BATCH; k++) {
      chain.reset();
      chain.push(rxIova + k * 128, 128, true);
      bd.add(chain, k);
    }
    while (bv.pop(popped) === true) bv.push(popped.id, popped.ringDescs, 0);
    while (bd.reap(used) === true);
  };
  const rawRate = opsPerSecond(raw, BATCH, opts);
  return [
    { name: 'ring-round-trip', value: rawRate, unit: 'chains/s', note: `ring layer only, split ${size}, batches of ${BATCH}` },
    { name: 'loopback-64B', value: pps, unit: 'pkts/s', ratio: pps / (rawRate / 2), baseline: 'ring-round-trip ÷ 2 (TX + RX)', note: `batches of ${BATCH}, split ring ${size}, EVENT_IDX` },
    { name: 'loopback-64B-heap', value: heap, unit: 'B/pkt', note: 'steady state' },
  ];
}

export const suite: BenchSuite = {
  name: 'device',
  async run({ quick }) {
    return [...(await cvqRows(quick)), ...(await loopbackRows(quick))];
  },
};
