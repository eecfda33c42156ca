/**
 * Blame the command that failed, in every strategy (issue 17, item 2): random batches of CVQ commands,
 * a fault on one random command (the n-th of its kind, `@n`), run through machines/cvq-command and the
 * CVQ engine (`runCvqCommands`) on the simulated device, under serial, parallel and parallel-indirect.
 *
 * What must hold:
 *  - NACK and wrong used length (0 or > 1 byte): the machine's failure names exactly that command and
 *    counts exactly the commands before it as applied; the engine's ack of that slot carries the length
 *    the device wrote and the command as its owner.
 *  - No answer and DEVICE_NEEDS_RESET: the engine's error (what the machine's actor fails with) names
 *    exactly that command — the device stopped there — and NEEDS_RESET is reported as the device asking
 *    for a reset, not as a timeout; every command before it is acked OK.
 *  - A bad used id: attributed to that command when it is the only one left unanswered (always in
 *    serial), else attributed to none, saying how many were unanswered.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CvqEngine, type CvqStrategy } from '../../src/cvq/engine.js';
import { startShadowCvq } from '../../src/cvq/shadow.js';
import { SimVdpaDevice } from '../../src/device/sim/index.js';
import { cvqCommandName, type Fault } from '../../src/device/sim/faults.js';
import { runCvqCommands } from '../../src/effects/cvq.js';
import { faultOnCommand } from '../../testkit/fuzz/faults.js';
import type { CvqCommand } from '../../machines/cvq-command.js';
import { commandClass, commandCode, describeCommand, encodePayload, type NetCtrlCommand } from '../../src/virtio/cvq.js';
import { toHex } from '../../src/virtio/net.js';
import { right } from '../device/helpers.js';

const wire = (c: NetCtrlCommand): CvqCommand => ({ name: describeCommand(c), class: commandClass(c), cmd: commandCode(c), payload: toHex(encodePayload(c)) });

/** Commands the full profile acks OK in any order. */
const arbCommand: fc.Arbitrary<NetCtrlCommand> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 4094 }).map((vid): NetCtrlCommand => ({ kind: 'VLAN_ADD', vid })) },
  { weight: 1, arbitrary: fc.boolean().map((on): NetCtrlCommand => ({ kind: 'RX_PROMISC', on })) },
  { weight: 1, arbitrary: fc.boolean().map((on): NetCtrlCommand => ({ kind: 'RX_ALLMULTI', on })) },
  { weight: 1, arbitrary: fc.constant<NetCtrlCommand>({ kind: 'MAC_ADDR_SET', mac: '52:54:00:12:34:56' }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 8 }).map((pairs): NetCtrlCommand => ({ kind: 'MQ_VQ_PAIRS_SET', pairs })) },
  { weight: 1, arbitrary: fc.nat(1000).map((n): NetCtrlCommand => ({ kind: 'NOTF_COAL_RX_SET', maxPackets: n, maxUsecs: n })) },
);

type FaultClass = 'nack' | 'len0' | 'len7' | 'no-answer' | 'needs-reset' | 'bad-used-id';
const CLASSES: readonly FaultClass[] = ['nack', 'len0', 'len7', 'no-answer', 'needs-reset', 'bad-used-id'];

function faultOn(cls: FaultClass, commands: readonly CvqCommand[], k: number): Fault {
  const target = commands[k]!;
  const nth = commands.slice(0, k + 1).filter((c) => c.class === target.class && c.cmd === target.cmd).length;
  const kind = cls === 'len0' || cls === 'len7' ? 'wrong-used-len' : cls;
  return faultOnCommand(kind, cvqCommandName(target.class, target.cmd), nth, cls === 'len0' ? 0 : 7);
}

async function run(strategy: CvqStrategy, commands: readonly CvqCommand[], fault: Fault) {
  const dev = new SimVdpaDevice({ profile: 'full', faults: [fault] });
  right(dev.setOwner());
  // through machines/device-lifecycle, the shadow CVQ as step 7
  const started = right(await startShadowCvq(dev, right(dev.getFeatures())));
  started.actor.stop();
  const engine = new CvqEngine(dev, started.cvq);
  const out = await runCvqCommands(engine, commands, { strategy, ackTimeoutMs: 200 });
  return { dev, engine, out };
}

describe('a fault on a random command of a random batch is blamed on that command', () => {
  for (const strategy of ['serial', 'parallel', 'parallel-indirect'] as const) {
    it(`${strategy}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(arbCommand, { minLength: 1, maxLength: 300 }).chain((cmds) => fc.tuple(fc.constant(cmds.map(wire)), fc.nat(cmds.length - 1), fc.constantFrom(...CLASSES))),
          async ([commands, k, cls]) => {
            const fault = faultOn(cls, commands, k);
            const { dev, engine, out } = await run(strategy, commands, fault);
            const name = commands[k]!.name;
            expect(dev.faultHits()).toEqual([1]);
            expect(out.ok).toBe(false);
            // the device answered every command before k, OK, in order
            const log = dev.cvqLog;
            expect(log.slice(0, k).every((l) => l.ack === 0)).toBe(true);
            const acks = engine.acks();
            const slotOfK = acks.findIndex((a) => a.owner === k);
            if (cls === 'nack' || cls === 'len0' || cls === 'len7') {
              expect(out.failure).toMatchObject({ index: k, command: name, kind: cls === 'nack' ? 'ack-err' : 'wrong-length' });
              expect(out.applied).toBe(k);
              expect(out.failure!.message).toContain(name);
              expect(slotOfK).toBeGreaterThanOrEqual(0);
              if (cls !== 'nack') expect(acks[slotOfK]!.len).toBe(cls === 'len0' ? 0 : 7);
              for (const a of acks.filter((a) => a.owner < k)) expect(a).toMatchObject({ len: 1, ack: 0 });
              return;
            }
            const err = engine.broken;
            expect(err).toBeDefined();
            for (const a of acks.filter((a) => a.owner < k)) expect(a).toMatchObject({ len: 1, ack: 0 });
            if (cls === 'no-answer') {
              expect(err).toMatchObject({ kind: 'timeout', errno: 'ETIMEDOUT', index: k, command: name });
              expect(out.failure!.kind).toBe('timeout');
            } else if (cls === 'needs-reset') {
              expect(err).toMatchObject({ kind: 'needs-reset', index: k, command: name });
              expect(err!.message).toMatch(/NEEDS_RESET/);
              expect(out.failure!.message).toContain(name);
              expect(out.failure!.message).toMatch(/NEEDS_RESET/);
            } else {
              // bad used id: k's own entry lies, so k and every command after it in the batch are unanswered
              const unanswered = acks.filter((a) => a.len === -1 || a.badId !== undefined).length;
              if (unanswered === 1) {
                expect(err).toMatchObject({ kind: 'ring', index: k, command: name });
                expect(acks[slotOfK]!.badId).toBeDefined();
                expect(out.failure!.message).toContain(name);
              } else {
                expect(err!.index).toBeUndefined();
                expect(err!.message).toMatch(/cannot be attributed/);
              }
              if (strategy === 'serial') expect(unanswered).toBe(1);
            }
          },
        ),
        { numRuns: 40 },
      );
    }, 120_000);
  }
});
