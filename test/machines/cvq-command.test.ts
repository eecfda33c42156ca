/**
 * machines/cvq-command's serial path and its port: one event per round trip, and the port's deadline
 * as the backstop for an effect that never answers.
 */
import { createActor, SimulatedClock, toPromise, type InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { bind } from '../../machines/contract.js';
import { cvqCommandMachine, type CvqAck, type CvqCommand } from '../../machines/cvq-command.js';

const commands: CvqCommand[] = Array.from({ length: 50 }, (_, i) => ({ name: `VLAN_ADD vid=${i + 1}`, class: 2, cmd: 0, payload: (i + 1).toString(16).padStart(2, '0') + '00' }));
const OK: readonly CvqAck[] = [{ len: 1, ack: 0 }];

function run(exchange: (first: number) => Promise<{ acks: readonly CvqAck[] }>, ackTimeoutMs = 1000, clock?: SimulatedClock) {
  const events: string[] = [];
  const states: string[] = [];
  const actor = createActor(
    bind(cvqCommandMachine, {
      cvqPort: {
        writeBatch: () => {
          throw new Error('serial never writes a batch');
        },
        awaitAcks: () => Promise.reject(new Error('serial never waits for a batch')),
        exchange: ({ first }) => exchange(first),
      },
    }),
    {
      input: { strategy: 'serial', commands, ackTimeoutMs },
      ...(clock === undefined ? {} : { clock }),
      inspect: (e: InspectionEvent) => {
        if (e.type === '@xstate.event' && e.actorRef === actor) events.push(e.event.type);
        if (e.type === '@xstate.snapshot' && e.actorRef === actor) states.push(JSON.stringify((e.snapshot as unknown as { value: unknown }).value));
      },
    },
  );
  const done = toPromise(actor);
  actor.start();
  actor.send({ type: 'FLUSH' });
  return { done, events, states, actor };
}

describe('machines/cvq-command, serial', () => {
  it('takes one event per command and never leaves exchanging until the last ack', async () => {
    const sent: number[] = [];
    const { done, events, states } = run(async (first) => {
      sent.push(first);
      return { acks: OK };
    });
    const out = await done;
    expect(out).toEqual({ ok: true, applied: 50, roundTrips: 50, failure: null });
    expect(sent).toEqual(commands.map((_, i) => i));
    // FLUSH, then one reply per command (the requests go to the port, not to the machine)
    expect(events.filter((t) => t !== 'xstate.init')).toEqual(['FLUSH', ...commands.map(() => 'exchange.done')]);
    expect(new Set(states.slice(1, -1))).toEqual(new Set([JSON.stringify('exchanging')]));
  });

  it('an ERR ack stops at its command: the ones before are applied, none after is sent', async () => {
    const sent: number[] = [];
    const { done } = run(async (first) => {
      sent.push(first);
      return { acks: first === 7 ? [{ len: 1, ack: 1 }] : OK };
    });
    const out = await done;
    expect(out.failure).toMatchObject({ kind: 'ack-err', errno: 'EIO', index: 7, command: 'VLAN_ADD vid=8' });
    expect(out.applied).toBe(7);
    expect(sent.at(-1)).toBe(7);
  });

  it('an exchange that never answers is ETIMEDOUT from the port deadline, naming the command in flight', async () => {
    const t0 = performance.now();
    const { done } = run((first) => (first === 3 ? new Promise(() => {}) : Promise.resolve({ acks: OK })), 20);
    const out = await done;
    const ms = performance.now() - t0;
    expect(out.failure).toMatchObject({ kind: 'timeout', errno: 'ETIMEDOUT', index: 3, command: 'VLAN_ADD vid=4' });
    expect(out.failure?.message).toMatch(/exchange did not answer within 40 ms/);
    expect(out.applied).toBe(3);
    // the deadline is twice the op's own bound, not more (the timer is one per window, re-armed when early)
    expect(ms).toBeGreaterThanOrEqual(39);
  });

  it("the deadline runs on the actor system's clock: a held effect outlives wall time under a SimulatedClock, and times out when that clock passes it", async () => {
    const clock = new SimulatedClock();
    let settled = false;
    const { done, actor } = run((first) => (first === 2 ? new Promise(() => {}) : Promise.resolve({ acks: OK })), 5, clock);
    void done.then(() => (settled = true));
    // ten deadlines of wall time: nothing fires, the exchange of command #2 is still on the wire
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    expect(actor.getSnapshot().value).toBe('exchanging');
    expect(actor.getSnapshot().context).toMatchObject({ applied: 2, inFlight: 1, cursor: 3 });
    // the window (10 ms: twice the op's bound) opened with command #0 and ends with a newer request in
    // flight: a second window; the command still in flight when that one ends is overdue
    clock.increment(10);
    await Promise.resolve();
    expect(settled).toBe(false);
    clock.increment(10);
    const out = await done;
    expect(out.failure).toMatchObject({ kind: 'timeout', errno: 'ETIMEDOUT', index: 2, command: 'VLAN_ADD vid=3' });
    expect(out.failure?.message).toMatch(/exchange did not answer within 10 ms/);
  });
});
