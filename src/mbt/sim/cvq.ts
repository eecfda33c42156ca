/**
 * machines/cvq-command on the simulator: a shadow CVQ in its own ASID, acks steered per edge.
 * (Part of the simulated-device harnesses: see ../sim.ts.)
 */
import { cvqCommandMachine, VIRTIO_NET_OK } from '../../../machines/cvq-command.js';
import { CvqEngine } from '../../cvq/engine.js';
import { startShadowCvq } from '../../cvq/shadow.js';
import { SimVdpaDevice, type SimDeviceOptions } from '../../device/sim/device.js';
import { cvqCommandEffects } from '../../effects/cvq.js';
import { F } from '../../virtio/features.js';
import type { ModelEdge } from '../model.js';
import { gatedHarness } from '../runner.js';
import { cvqEnqueue, cvqInitialCommands, cvqInvariants, cvqScript, cvqStrategyFor, isAckEdge, vlanAdd, wantsMoreBatches, WRITE_BATCH } from '../scripts.js';
import { right, simDevice, type CvqSnap, type SimEnv } from './device.js';

// ---------------------------------------------------------------------------------------------------
// cvq-command on the simulator: a device at DRIVER_OK with the shadow CVQ alone in ASID 1 (as QEMU)

export interface CvqEnv extends SimEnv {
  readonly engine: CvqEngine;
  readonly negotiated: bigint;
}

/**
 * Owner, features (split ring), the shadow CVQ in ASID 1, DRIVER_OK; the engine over it. `ringSize` 2
 * holds one two-descriptor command: a parallel flush then takes a batch per command.
 */
export async function bringUpCvq(opts: SimDeviceOptions = {}, mask: bigint = ~F.RING_PACKED, ringSize?: number): Promise<CvqEnv> {
  const { sim, faulty } = simDevice(opts);
  // through machines/device-lifecycle (src/cvq/shadow.ts startShadowCvq)
  const started = right(await startShadowCvq(sim, right(sim.getFeatures()) & mask, { asid: 1, ...(ringSize === undefined ? {} : { size: ringSize }) }));
  started.actor.stop();
  return { sim, faulty, negotiated: started.negotiated, engine: new CvqEngine(faulty.device, started.cvq) };
}

/** Why an all-answered-but-one ack list never reaches machines/cvq-command from a real engine. */
export const ENGINE_ANSWERS_ALL =
  'the CVQ engine answers awaitAcks only once every command of the batch is used; one left unanswered ends the wait with ETIMEDOUT (the ackTimedOut edge), never with an ack list holding a missing entry';

/** Why the engine never reports NEEDS_RESET to machines/cvq-command. */
export const ENGINE_IGNORES_NEEDS_RESET =
  'the CVQ engine\'s awaitAcks does not read the device status: a device that sets NEEDS_RESET with a batch in flight stops answering, and the wait ends with ETIMEDOUT (the ackTimedOut edge), never with a needs-reset error';

/** The device's answer to the next acks (it answers when it processes the kick, during the write). */
export function armAcks(edge: ModelEdge, sim: SimVdpaDevice): void {
  if (!isAckEdge(edge) && edge.kind !== 'after') return;
  if (edge.guard === 'wroteWrongLength') sim.setFaults([{ kind: 'wrong-used-len', len: 0, times: 1 }]);
  else if (edge.guard === 'ackedErr') sim.setFaults([{ kind: 'nack', times: 1 }]);
  else if (edge.kind === 'error' && edge.guard === 'ackTimedOut') sim.setFaults([{ kind: 'no-answer', times: 1 }]);
  else if (edge.kind === 'error' && edge.guard === 'deviceNeedsReset') sim.setFaults([{ kind: 'needs-reset', times: 1 }]);
  else if (edge.kind === 'error') sim.setFaults([{ kind: 'bad-used-id', times: 1 }]);
  else if (edge.kind === 'after') sim.setFaults([{ kind: 'no-answer', times: 1 }]);
}

export const cvqSim = gatedHarness<typeof cvqCommandMachine, CvqEnv>({
  machine: cvqCommandMachine,
  // several parallel batches need one command per batch: a two-entry ring
  env: (path) => bringUpCvq({}, ~F.RING_PACKED, wantsMoreBatches(path) ? 2 : undefined),
  input: (path) => ({
    strategy: cvqStrategyFor(path),
    commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => vlanAdd(i + 1)),
    ackTimeoutMs: 25,
  }),
  effects: (env) => cvqCommandEffects(env.engine),
  dispose: (env) => env.sim.close(),
  infeasible: (path) => cvqScript.script.infeasible?.(path),
  impossible: (edge) =>
    !isAckEdge(edge) ? undefined : edge.guard === 'unanswered' ? ENGINE_ANSWERS_ALL : edge.guard === 'deviceNeedsReset' ? ENGINE_IGNORES_NEEDS_RESET : undefined,
  ahead: (edge, env) => armAcks(edge, env.sim),
  async complete(c, gates, env) {
    if (c.path === WRITE_BATCH && c.outcome === 'error') env.faulty.failNext('kick');
    await gates.release(c.path);
  },
  event: (edge, _env, view) => (edge.trigger === 'ENQUEUE' ? cvqEnqueue(view.snapshot as CvqSnap, view.path) : { type: edge.trigger }),
  invariants(view, env) {
    const s = view.snapshot as CvqSnap;
    const c = s.context;
    const bad = cvqInvariants(s);
    // never counted as applied unless the device acked it OK
    for (let i = 0; i < c.applied; i++) {
      const seen = env.sim.cvqLog[i];
      if (seen === undefined || seen.ack !== VIRTIO_NET_OK || seen.name !== 'VLAN_ADD') bad.push(`command #${i} counted as applied, device log: ${seen ? `${seen.name} ack ${seen.ack}` : 'nothing'}`);
    }
    if (s.matches('done') && env.sim.cvqLog.length !== c.commands.length) bad.push(`done, but the device saw ${env.sim.cvqLog.length}/${c.commands.length} commands`);
    return bad;
  },
});
