/**
 * machines/cvq-command — per-command ack handling and batching on the shadow control virtqueue
 * (virtio 1.2 §5.1.6.5; QEMU net/vhost-vdpa.c `vhost_vdpa_net_cvq_add` / `_flush`).
 *
 * Commands are queued, then written to the shadow CVQ (each a chain: out = {u8 class, u8 cmd} + payload,
 * in = one ack byte), kicked, and every ack checked: OK, ERR (→ EIO naming the command), a wrong used
 * length (→ EIO), or no answer within `ackTimeoutMs` (→ ETIMEDOUT). One interface, three strategies:
 *  - serial: one command per kick, wait for its ack (QEMU before the parallel-load patch);
 *  - parallel: fill the shadow CVQ and the out buffer, kick once, check every ack (the seed's patch);
 *  - parallel-indirect: as parallel, each command one ring slot through an indirect table
 *    (VIRTIO_F_INDIRECT_DESC, §2.7.5.3), so a 256-entry ring holds 256 commands in flight.
 * The `writeBatch` actor decides how many commands fit; the machine only counts and checks. Only
 * commands acked OK are counted as applied (`applied`, a prefix of `commands`): a caller applies exactly
 * those to its device model, never one whose ack was not OK.
 */
import { assign, setup } from 'xstate';
import { CVQ_STRATEGIES, type CvqStrategy } from '../src/cvq/engine.js';
// the device writes exactly the ack byte (QEMU checks `dev_written == sizeof(virtio_net_ctrl_ack)`)
import { CTRL_ACK_LEN, VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../src/virtio/net.js';
import { errorText, placeholder } from './actors.js';

/** The strategies are the restore engine's (src/cvq/engine.ts); the machine drives any of them. */
export { CVQ_STRATEGIES, type CvqStrategy };

/** A CVQ command in JSON form (the payload as lower-case hex). */
export interface CvqCommand {
  /** Human name for reports, e.g. "VLAN_ADD vid=100". */
  readonly name: string;
  readonly class: number;
  readonly cmd: number;
  readonly payload: string;
}

/** virtio_net_ctrl_ack values (linux/virtio_net.h), for the machine's users. */
export { VIRTIO_NET_ERR, VIRTIO_NET_OK };

export interface CvqAck {
  /** Used length the device reported. */
  readonly len: number;
  /** The ack byte. */
  readonly ack: number;
}

export type CvqFailureKind = 'ack-err' | 'wrong-length' | 'timeout' | 'device';

export interface CvqFailure {
  readonly kind: CvqFailureKind;
  readonly errno: 'EIO' | 'ETIMEDOUT';
  /** Index of the failing command in `commands` (the first of the batch for timeouts / device errors). */
  readonly index: number;
  readonly command: string;
  readonly message: string;
}

export interface CvqCommandInput {
  readonly strategy: CvqStrategy;
  readonly commands?: readonly CvqCommand[];
  /** How long a kicked batch may wait for its acks. */
  readonly ackTimeoutMs: number;
}

export interface CvqCommandContext {
  readonly strategy: CvqStrategy;
  readonly ackTimeoutMs: number;
  readonly commands: readonly CvqCommand[];
  /** Next command to write. */
  readonly cursor: number;
  /** Commands written and kicked, awaiting acks (commands[cursor - inFlight, cursor)). */
  readonly inFlight: number;
  /** Commands acked OK, in order: commands[0, applied). */
  readonly applied: number;
  /** Kick-to-call round trips so far. */
  readonly roundTrips: number;
  readonly failure: CvqFailure | null;
}

export type CvqCommandEvent = { type: 'ENQUEUE'; commands: readonly CvqCommand[] } | { type: 'FLUSH' };

export interface CvqCommandOutput {
  readonly ok: boolean;
  readonly applied: number;
  readonly roundTrips: number;
  readonly failure: CvqFailure | null;
}

export interface WriteBatchInput {
  readonly strategy: CvqStrategy;
  /** The whole list (shared, not copied); commands[first …] are not sent yet. */
  readonly commands: readonly CvqCommand[];
  readonly first: number;
}
export interface AwaitAcksInput {
  readonly first: number;
  readonly count: number;
  /** The actor's own bound on the wait (the machine's `ackTimeout` delay is the backstop). */
  readonly timeoutMs: number;
}

/** Whether an actor failed by timing out (ETIMEDOUT), as opposed to a device or ring error. */
export const isTimeout = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && ((e as { errno?: unknown }).errno === 'ETIMEDOUT' || (e as { kind?: unknown }).kind === 'timeout');

/** The first command of a batch that did not ack OK with exactly one byte, or undefined. */
export function firstBadAck(acks: readonly CvqAck[]): { at: number; kind: 'ack-err' | 'wrong-length' } | undefined {
  for (let i = 0; i < acks.length; i++) {
    const a = acks[i]!;
    if (a.len !== CTRL_ACK_LEN) return { at: i, kind: 'wrong-length' };
    if (a.ack !== VIRTIO_NET_OK) return { at: i, kind: 'ack-err' };
  }
  return undefined;
}

type Ctx = CvqCommandContext;
const batchStart = (c: Ctx) => c.cursor - c.inFlight;
const nameAt = (c: Ctx, i: number) => c.commands[i]?.name ?? `command #${i}`;

export const cvqCommandMachine = setup({
  types: {
    context: {} as CvqCommandContext,
    events: {} as CvqCommandEvent,
    input: {} as CvqCommandInput,
    output: {} as CvqCommandOutput,
  },
  actors: {
    /** Write as many of commands[first …] as the strategy and free space allow into the shadow CVQ; kick. */
    writeBatch: placeholder<{ written: number }, WriteBatchInput>('writeBatch'),
    /** Wait for the used entries of the kicked batch; acks in command order. */
    awaitAcks: placeholder<{ acks: CvqAck[] }, AwaitAcksInput>('awaitAcks'),
  },
  guards: {
    hasPending: ({ context }) => context.cursor < context.commands.length,
    ackTimedOut: (_, params: { error: unknown }) => isTimeout(params.error),
    wroteWrongLength: (_, params: { acks: readonly CvqAck[] }) => firstBadAck(params.acks)?.kind === 'wrong-length',
    ackedErr: (_, params: { acks: readonly CvqAck[] }) => firstBadAck(params.acks)?.kind === 'ack-err',
  },
  actions: {
    /** Count the OK prefix of the batch as applied and record the first bad ack (EIO, naming it). */
    checkAcks: assign(({ context }, params: { acks: readonly CvqAck[] }) => {
      const start = batchStart(context);
      const bad = firstBadAck(params.acks);
      if (bad === undefined) return { applied: start + params.acks.length, inFlight: 0, roundTrips: context.roundTrips + 1 };
      const index = start + bad.at;
      const a = params.acks[bad.at]!;
      const command = nameAt(context, index);
      const message =
        bad.kind === 'ack-err'
          ? `EIO: device acked ${command} with VIRTIO_NET_ERR (${a.ack})`
          : `EIO: device wrote ${a.len} bytes for the ack of ${command}, expected ${CTRL_ACK_LEN}`;
      return {
        applied: index,
        inFlight: 0,
        roundTrips: context.roundTrips + 1,
        failure: { kind: bad.kind, errno: 'EIO' as const, index, command, message },
      };
    }),
    timedOut: assign(({ context }) => {
      const index = batchStart(context);
      const command = nameAt(context, index);
      return {
        failure: {
          kind: 'timeout' as const,
          errno: 'ETIMEDOUT' as const,
          index,
          command,
          message: `ETIMEDOUT: no ack within ${context.ackTimeoutMs} ms for ${context.inFlight} command(s) from ${command}`,
        },
      };
    }),
    deviceFailed: assign(({ context }, params: { error: unknown }) => {
      const index = context.cursor - context.inFlight;
      const command = nameAt(context, index);
      return { failure: { kind: 'device' as const, errno: 'EIO' as const, index, command, message: `EIO at ${command}: ${errorText(params.error)}` } };
    }),
  },
  delays: {
    ackTimeout: ({ context }) => context.ackTimeoutMs,
  },
}).createMachine({
  id: 'cvq-command',
  context: ({ input }) => ({
    strategy: input.strategy,
    ackTimeoutMs: input.ackTimeoutMs,
    commands: [...(input.commands ?? [])],
    cursor: 0,
    inFlight: 0,
    applied: 0,
    roundTrips: 0,
    failure: null,
  }),
  initial: 'queued',
  states: {
    queued: {
      on: {
        ENQUEUE: { actions: assign({ commands: ({ context, event }) => [...context.commands, ...event.commands] }) },
        FLUSH: [{ guard: 'hasPending', target: 'writing' }, { target: 'done' }],
      },
    },
    writing: {
      invoke: {
        src: 'writeBatch',
        input: ({ context }) => ({ strategy: context.strategy, commands: context.commands, first: context.cursor }),
        onDone: {
          target: 'inFlight',
          actions: assign(({ context, event }) => ({ cursor: context.cursor + event.output.written, inFlight: event.output.written })),
        },
        onError: { target: 'deviceError', actions: { type: 'deviceFailed', params: ({ event }) => ({ error: event.error }) } },
      },
    },
    inFlight: {
      invoke: {
        src: 'awaitAcks',
        input: ({ context }) => ({ first: batchStart(context), count: context.inFlight, timeoutMs: context.ackTimeoutMs }),
        onDone: [
          { guard: { type: 'wroteWrongLength', params: ({ event }) => event.output }, target: 'wrongLength', actions: { type: 'checkAcks', params: ({ event }) => event.output } },
          { guard: { type: 'ackedErr', params: ({ event }) => event.output }, target: 'ackErr', actions: { type: 'checkAcks', params: ({ event }) => event.output } },
          // all OK: the cursor already counts this batch, so more pending means another batch
          { guard: 'hasPending', target: 'writing', actions: { type: 'checkAcks', params: ({ event }) => event.output } },
          { target: 'done', actions: { type: 'checkAcks', params: ({ event }) => event.output } },
        ],
        onError: [
          { guard: { type: 'ackTimedOut', params: ({ event }) => ({ error: event.error }) }, target: 'timedOut', actions: 'timedOut' },
          { target: 'deviceError', actions: { type: 'deviceFailed', params: ({ event }) => ({ error: event.error }) } },
        ],
      },
      // backstop for an actor that never settles: the machine's own bound, from its input
      after: { ackTimeout: { target: 'timedOut', actions: 'timedOut' } },
    },
    done: { type: 'final' },
    ackErr: { type: 'final' },
    wrongLength: { type: 'final' },
    timedOut: { type: 'final' },
    deviceError: { type: 'final' },
  },
  output: ({ context }) => ({ ok: context.failure === null, applied: context.applied, roundTrips: context.roundTrips, failure: context.failure }),
});

export type CvqCommandMachine = typeof cvqCommandMachine;
