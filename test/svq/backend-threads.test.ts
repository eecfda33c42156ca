/**
 * The SVQ back end with its forwarding on the main thread and on one worker per queue pair
 * (`svqThreads`), driven by machines/svq-switch on the simulator under guest traffic:
 *
 *  - the same operations give the same bytes: every frame the guest received (the whole buffer area of
 *    guest RAM), the same pages in the dirty log after every operation (the workers' logs merged by the
 *    back end's sync), nothing lost;
 *  - a worker that dies or hangs is a typed error at the next step that needs it (a DISABLE's drain):
 *    the machine rolls back to shadow, the lost queues resume from their guest rings' used index on new
 *    workers, every buffer comes back, and a later DISABLE hands the rings back to the guest.
 */
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor } from 'xstate';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { bind } from '../../machines/contract.js';
import { chooseSvqThreads, svqSwitchEffects, type SvqBackendOptions } from '../../src/effects/svq.js';
import { GUEST_RAM_GPA } from '../../src/effects/datapath.js';
import { bringUpDataPath, type SvqEnv } from '../../src/mbt/sim.js';
import { DirtyLog } from '../../src/svq/dirty-log.js';

const RAM = 1 << 20;

interface Rig {
  readonly env: SvqEnv;
  readonly log: DirtyLog;
  readonly actor: ReturnType<typeof start>;
  sent: number;
}

const start = (env: SvqEnv) => {
  const a = createActor(bind(svqSwitchMachine, svqSwitchEffects(env.backend)), { input: { queues: [0, 1] } });
  a.start();
  return a;
};

async function rig(threads: 'main' | 'per-queue-pair', backend: SvqBackendOptions = {}): Promise<Rig> {
  const log = new DirtyLog([{ base: GUEST_RAM_GPA, size: RAM }]);
  const env = await bringUpDataPath({ sharedMemory: threads !== 'main' }, { svqThreads: threads, dirty: log, ...backend });
  expect(env.backend.threads).toBe(threads);
  log.attach(env.backend.path.gpa);
  return { env, log, actor: start(env), sent: 0 };
}

/** Until every frame sent came back into a receive buffer and the transmit ring is empty (bounded). */
async function settle(r: Rig): Promise<void> {
  const { env } = r;
  const tx = env.backend.path.queues[1]!;
  const t0 = Date.now();
  for (;;) {
    env.sim.settle();
    expect(E.isRight(env.nic.reap())).toBe(true);
    if (tx.driver.inFlight() === 0 && env.nic.rxBytes === r.sent * 72) return;
    if (Date.now() - t0 > 20_000) throw new Error(`traffic did not settle: ${tx.driver.inFlight()} tx in flight, ${env.nic.rxBytes} of ${r.sent * 72} bytes received`);
    await new Promise((res) => setTimeout(res, 1));
  }
}

async function toggle(r: Rig, type: 'ENABLE' | 'DISABLE') {
  r.actor.send(type === 'ENABLE' ? { type, trigger: 'x-svq' } : { type });
  return waitFor(r.actor, (x) => x.matches('passthrough') || x.matches('shadow') || x.matches('failed'), { timeout: 30_000 });
}

function tx(r: Rig, n: number): void {
  const [rxq] = r.env.backend.path.queues;
  const k = Math.min(n, rxq!.driver.inFlight());
  if (k > 0) expect(E.isRight(r.env.nic.sendTx(1, k))).toBe(true);
  r.sent += k;
}

function rx(r: Rig, n: number): void {
  const [rxq] = r.env.backend.path.queues;
  const k = Math.min(n, rxq!.driver.numFree());
  if (k > 0) expect(E.isRight(r.env.nic.postRx(0, k))).toBe(true);
}

/** The same operations on a back end of each threading: the guest's buffers and the dirty pages after each step. */
async function script(threads: 'main' | 'per-queue-pair'): Promise<{ bytes: Uint8Array; dirty: number[][]; forwarded: number }> {
  const r = await rig(threads);
  const dirty: number[][] = [];
  const path = r.env.backend.path;
  let forwarded = 0;
  const step = async () => {
    await settle(r);
    expect(E.isRight(r.env.backend.syncDirty())).toBe(true);
    dirty.push(r.log.collect());
    expect(r.env.nic.posted - r.env.nic.reaped).toBe(r.env.nic.inFlight());
  };
  try {
    rx(r, 40);
    tx(r, 5);
    await step();
    for (let round = 0; round < 3; round++) {
      const on = await toggle(r, 'ENABLE');
      expect(on.value).toBe('shadow');
      expect(on.context.error).toBeNull();
      for (const [t, p] of [[7, 3], [12, 20], [1, 0], [30, 9]] as const) {
        tx(r, t + round);
        await step();
        rx(r, p);
        await step();
      }
      forwarded += r.env.backend.shadows.get(1)!.svq.stats().forwarded;
      const off = await toggle(r, 'DISABLE');
      expect(off.value).toBe('passthrough');
      expect(off.context.error).toBeNull();
      tx(r, 4);
      await step();
    }
    expect(r.env.backend.shadows.size).toBe(0);
    const bytes = path.ram.bytes.slice(path.bufBase - GUEST_RAM_GPA, path.bufEnd - GUEST_RAM_GPA);
    return { bytes, dirty, forwarded };
  } finally {
    r.actor.stop();
    await r.env.backend.close();
    r.env.sim.close();
  }
}

describe('SVQ back end: forwarding on the main thread or one worker per queue pair', () => {
  it('the same switches and traffic give the same bytes in every buffer and the same dirty pages after every step', async () => {
    const a = await script('main');
    const b = await script('per-queue-pair');
    expect(a.dirty.length).toBe(b.dirty.length);
    for (let i = 0; i < a.dirty.length; i++) expect({ step: i, pages: b.dirty[i] }).toEqual({ step: i, pages: a.dirty[i] });
    expect(a.dirty.some((d) => d.length > 2)).toBe(true);
    expect(Buffer.compare(Buffer.from(b.bytes), Buffer.from(a.bytes))).toBe(0);
    expect(b.forwarded).toBe(a.forwarded);
    expect(a.forwarded).toBeGreaterThan(0);
  }, 120_000);

  for (const kind of ['exit', 'hang'] as const) {
    it(`a worker that ${kind === 'exit' ? 'dies' : 'hangs'}: typed error at the drain, rolled back to shadow on new workers, nothing lost`, async () => {
      const r = await rig('per-queue-pair', { workerTimeoutMs: 500 });
      try {
        rx(r, 40);
        const on = await toggle(r, 'ENABLE');
        expect(on.value).toBe('shadow');
        tx(r, 9);
        await settle(r);
        // receive buffers stay posted in the worker's shadow ring: its in-flight set is what is lost
        expect(r.env.backend.path.queues[0]!.driver.inFlight()).toBeGreaterThan(20);
        r.env.backend.injectWorkerFault(0, kind);
        // a thread that exited is known once its exit event ran
        for (let i = 0; kind === 'exit' && r.env.backend.workerLost(0) === undefined; i++) {
          if (i > 2000) throw new Error('the worker did not exit');
          await new Promise((res) => setTimeout(res, 5));
        }
        const log0 = r.log.dirtyCount();
        const failed = await toggle(r, 'DISABLE');
        // the machine's rollback put the queues back on shadow rings, forwarded by new workers
        expect(failed.value).toBe('shadow');
        expect(failed.context.error).toMatch(kind === 'exit' ? /SVQ worker crashed: .*exited \(70\)/ : /SVQ worker timeout: .*did not answer/);
        expect(r.env.backend.lost.get(0)).toMatch(/guest ring resumed at its used index/);
        expect(r.env.backend.forwarding(0) && r.env.backend.forwarding(1)).toBe(true);
        // the lost worker's dirty log: all of guest RAM counts as dirty
        expect(r.log.dirtyCount()).toBeGreaterThanOrEqual(Math.max(log0, RAM / 4096));
        // every posted receive buffer is offered again, and traffic flows through the new workers
        tx(r, 25);
        await settle(r);
        const off = await toggle(r, 'DISABLE');
        expect(off.value).toBe('passthrough');
        expect(off.context.error).toBeNull();
        tx(r, 6);
        await settle(r);
        expect(r.env.nic.rxBytes).toBe(r.sent * 72);
        expect(r.env.nic.posted - r.env.nic.reaped).toBe(r.env.nic.inFlight());
        expect(r.env.backend.shadows.size).toBe(0);
      } finally {
        r.actor.stop();
        await r.env.backend.close();
        r.env.sim.close();
      }
    }, 120_000);
  }

  it('threading choice: per-queue-pair needs shared memory; auto keeps a simulator (its dataplane on this thread) on main', async () => {
    const host = { pairs: 2, sharedMemory: true, deviceOnMainThread: false, cores: 3 };
    const x86 = process.arch === 'x64' || process.arch === 'ia32';
    expect(chooseSvqThreads('main', host)).toBe('main');
    expect(chooseSvqThreads('auto', host)).toBe(x86 ? 'per-queue-pair' : 'main');
    expect(chooseSvqThreads('auto', { ...host, cores: 2 })).toBe('main');
    expect(chooseSvqThreads('auto', { ...host, deviceOnMainThread: true })).toBe('main');
    expect(chooseSvqThreads('auto', { ...host, sharedMemory: false })).toBe('main');
    const refused = chooseSvqThreads('per-queue-pair', { ...host, sharedMemory: false });
    expect(typeof refused === 'object' && refused.kind).toBe(x86 ? 'not-shared' : 'weak-memory-order');
    await expect(bringUpDataPath({}, { svqThreads: 'per-queue-pair' })).rejects.toThrow(/SharedArrayBuffer/);
  });
});
