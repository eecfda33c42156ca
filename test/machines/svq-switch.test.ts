/**
 * svq-switch bound to the simulated device with guest traffic: switching back and forth under load
 * loses and duplicates nothing (property over random interleavings), and a failed step rolls back to
 * the mode it came from with nothing left mapped.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor } from 'xstate';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { bind } from '../../machines/contract.js';
import { svqSwitchEffects } from '../../src/effects/svq.js';
import { bringUpDataPath, drainTraffic, type SvqEnv } from '../../src/mbt/sim.js';

type Op = { kind: 'tx'; n: number } | { kind: 'rx'; n: number } | { kind: 'enable' } | { kind: 'disable' };

async function run(env: SvqEnv, ops: readonly Op[]) {
  const actor = createActor(bind(svqSwitchMachine, svqSwitchEffects(env.backend)), { input: { queues: [0, 1] } });
  actor.start();
  let sent = 0;
  for (const op of ops) {
    const [rxq, txq] = env.backend.path.queues;
    if (op.kind === 'tx') {
      // never more frames in flight than receive buffers posted: none is dropped, so all are counted
      const n = Math.min(op.n, rxq!.driver.inFlight() - txq!.driver.inFlight());
      if (n > 0) expect(E.isRight(env.nic.sendTx(1, n))).toBe(true);
      sent += Math.max(0, n);
    } else if (op.kind === 'rx') {
      const n = Math.min(op.n, rxq!.driver.numFree());
      if (n > 0) expect(E.isRight(env.nic.postRx(0, n))).toBe(true);
    }
    else {
      actor.send(op.kind === 'enable' ? { type: 'ENABLE', trigger: 'migration' } : { type: 'DISABLE' });
      const s = await waitFor(actor, (x) => x.matches('passthrough') || x.matches('shadow') || x.matches('failed'));
      expect(s.context.error).toBeNull();
      expect(env.backend.mode).toBe(s.value);
    }
    // the ledger holds after every operation
    expect(env.nic.posted - env.nic.reaped).toBe(env.nic.inFlight());
  }
  await drainTraffic(env);
  actor.stop();
  return sent;
}

describe('svq-switch on the simulator, under traffic', () => {
  it('random interleavings of traffic and switches lose no buffer and deliver every frame', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('tx' as const), n: fc.integer({ min: 1, max: 6 }) }),
            fc.record({ kind: fc.constant('rx' as const), n: fc.integer({ min: 1, max: 6 }) }),
            fc.constant({ kind: 'enable' as const }),
            fc.constant({ kind: 'disable' as const }),
          ),
          { maxLength: 14 },
        ),
        async (ops) => {
          const env = await bringUpDataPath();
          // plenty of receive buffers: every frame has somewhere to land
          expect(E.isRight(env.nic.postRx(0, 40))).toBe(true);
          const sent = await run(env, ops);
          const tx = env.backend.path.queues[1]!;
          expect(tx.driver.inFlight()).toBe(0);
          // every frame looped back into exactly one receive buffer (header + 60 bytes each)
          expect(env.nic.rxBytes).toBe(sent * 72);
          expect(env.nic.posted - env.nic.reaped).toBe(env.nic.inFlight());
          env.backend.stopPump();
          env.sim.close();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('an IOTLB failure while mapping the shadow rings rolls back to passthrough, nothing mapped', async () => {
    const env = await bringUpDataPath();
    const actor = createActor(bind(svqSwitchMachine, svqSwitchEffects(env.backend)), { input: { queues: [0, 1] } });
    actor.start();
    env.sim.setFaults([{ kind: 'iotlb-map-fails', times: 1, after: 1 }]);
    actor.send({ type: 'ENABLE', trigger: 'migration' });
    const s = await waitFor(actor, (x) => (x.matches('passthrough') && x.context.error !== null) || x.matches('shadow') || x.matches('failed'));
    expect(s.value).toBe('passthrough');
    expect(s.context.error).toMatch(/IOTLB|iotlb|ENOMEM/);
    expect(env.backend.shadows.size).toBe(0);
    expect(env.backend.tree.maps().filter((m) => m.kind === 'hva')).toEqual([]);
    expect(env.sim.iotlbEntries(0)).toHaveLength(1);
    expect(env.sim.isSuspended()).toBe(false);
    // and the guest's traffic still flows on its own rings
    const rx0 = env.nic.rxBytes;
    expect(E.isRight(env.nic.sendTx(1, 3))).toBe(true);
    await drainTraffic(env);
    expect(env.nic.rxBytes - rx0).toBe(3 * 72);
    actor.stop();
    env.sim.close();
  });
});
