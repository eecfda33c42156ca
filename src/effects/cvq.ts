/**
 * machines/cvq-command's effects: its port's two ops are the CVQ engine's primitives
 * (src/cvq/engine.ts) — `writeBatch` fills the shadow CVQ as the strategy allows and kicks, `awaitAcks`
 * waits for the batch's used entries and hands back every ack in command order for the machine to judge;
 * `exchange` is the serial round trip, both for one command (QEMU's `vhost_vdpa_net_cvq_add`: add, kick,
 * poll).
 * `runCvqCommands` runs a command list through the machine: the one CVQ batch/ack loop, used by the
 * migration's restore, `restoreState` (src/cvq/restore.ts), the source's guest configuration, the
 * benches and the real-device suite.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, toPromise, type InspectionEvent } from 'xstate';
import type { CvqEngine, CvqOut } from '../cvq/engine.js';
import { fromHex } from '../virtio/net.js';
import { cvqCommandMachine, type CvqAck, type CvqCommand, type CvqCommandOutput, type CvqStrategy, type WriteBatchInput } from '../../machines/cvq-command.js';
import { bind, type EffectsOf } from '../../machines/contract.js';

/** machines/cvq-command's effects: its port's two ops (the type is the machine's). */
export type CvqCommandEffects = EffectsOf<typeof cvqCommandMachine>;

/** The JSON form the machine keeps in its context, from a planned command (one definition: src/state/plan.ts). */
export { toCvqCommand } from '../state/plan.js';

export interface CvqCommandFormatError {
  readonly _tag: 'CvqCommandFormatError';
  readonly index: number;
  readonly message: string;
}

export function cvqCommandEffects(engine: CvqEngine): CvqCommandEffects {
  // the machine's commands are JSON; decode each once, however many batches it is offered in
  const wire = new WeakMap<CvqCommand, CvqOut>();
  const toWire = (c: CvqCommand, index: number): CvqOut => {
    let w = wire.get(c);
    if (w === undefined) {
      const payload = fromHex(c.payload);
      if (payload === undefined) throw { _tag: 'CvqCommandFormatError', index, message: `command #${index} (${c.name}): payload is not hex` } satisfies CvqCommandFormatError;
      w = { class: c.class, command: c.cmd, payload, name: c.name };
      wire.set(c, w);
    }
    return w;
  };
  const writeBatch = ({ strategy, commands, first }: WriteBatchInput): { written: number } => {
    // a batch never exceeds the ring (serial: one command): offer at most that many
    const n = Math.min(commands.length - first, strategy === 'serial' ? 1 : engine.cvq.size);
    // a fresh array per batch: the engine keeps it to name the batch's commands while they are in
    // flight (a reused one, refilled by a refused write, would rename the batch still waiting)
    const outs = new Array<CvqOut>(n);
    for (let i = 0; i < n; i++) outs[i] = toWire(commands[first + i]!, first + i);
    const w = engine.writeBatch(outs, strategy, first);
    if (E.isLeft(w)) throw w.left;
    return { written: w.right };
  };
  const awaitAcks = async (timeoutMs: number): Promise<{ acks: readonly CvqAck[] }> => {
    const r = await engine.awaitAcks(timeoutMs);
    // a failed batch: the error names its command (`index` in the whole list, as the machine
    // counts), and carries the answers that did come, so the machine counts the OK prefix applied
    if (E.isLeft(r)) throw { ...r.left, acks: engine.acks() };
    return { acks: engine.acks() };
  };
  return {
    cvqPort: {
      // synchronous: the ring write and the kick answer before the machine's step ends
      writeBatch,
      awaitAcks: ({ timeoutMs }) => awaitAcks(timeoutMs),
      exchange({ commands, first, timeoutMs }) {
        writeBatch({ strategy: 'serial', commands, first });
        return awaitAcks(timeoutMs);
      },
    },
  };
}

/** One effects object per engine: the machine bound to it once (machines/contract.ts `bind`), its decode cache kept. */
const ENGINE_EFFECTS = new WeakMap<CvqEngine, CvqCommandEffects>();
const effectsOf = (engine: CvqEngine): CvqCommandEffects => ENGINE_EFFECTS.get(engine) ?? ENGINE_EFFECTS.set(engine, cvqCommandEffects(engine)).get(engine)!;

/** Send `commands` through machines/cvq-command bound to `engine`; resolves with the machine's output. */
export async function runCvqCommands(
  engine: CvqEngine,
  commands: readonly CvqCommand[],
  opts: { strategy: CvqStrategy; ackTimeoutMs: number; inspect?: (e: InspectionEvent) => void },
): Promise<CvqCommandOutput> {
  const actor = createActor(bind(cvqCommandMachine, effectsOf(engine)), {
    input: { strategy: opts.strategy, commands, ackTimeoutMs: opts.ackTimeoutMs },
    ...(opts.inspect === undefined ? {} : { inspect: opts.inspect }),
  });
  const done = toPromise(actor);
  actor.start();
  actor.send({ type: 'FLUSH' });
  return done;
}
