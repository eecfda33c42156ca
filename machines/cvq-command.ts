/**
 * machines/cvq-command — per-command ack handling and batching on the shadow control virtqueue
 * (virtio 1.2 §5.1.6.5; QEMU net/vhost-vdpa.c `vhost_vdpa_net_cvq_add` / `_flush`).
 *
 * Commands are queued, then written to the shadow CVQ (each a chain: out = {u8 class, u8 cmd} + payload,
 * in = one ack byte), kicked, and every ack checked: OK, ERR (→ EIO naming the command), a wrong used
 * length (→ EIO), or no answer within `ackTimeoutMs` (→ ETIMEDOUT). One interface, three strategies:
 *  - serial: one command per kick, wait for its ack (QEMU before the parallel-load patch, whose
 *    `vhost_vdpa_net_cvq_add` added the command, kicked and polled for its used entry in one call: the
 *    `exchange` op, one request per round trip);
 *  - parallel: fill the shadow CVQ and the out buffer, kick once, check every ack (the seed's patch);
 *  - parallel-indirect: as parallel, each command one ring slot through an indirect table
 *    (VIRTIO_F_INDIRECT_DESC, §2.7.5.3), so a 256-entry ring holds 256 commands in flight.
 * The `writeBatch` op decides how many commands fit; the machine only counts and checks. Every op
 * has a bound of its own (`timeoutMs`); the port answers ETIMEDOUT for one that overruns it by as much
 * again (the request's `deadlineMs`), so a hung effect cannot hang the machine. Only
 * commands acked OK are counted as applied (`applied`, a prefix of `commands`): a caller applies exactly
 * those to its device model, never one whose ack was not OK.
 *
 * The ops run on one long-lived effect port (machines/port.ts) invoked for the whole flush: a
 * serial restore makes thousands of round trips, and an actor per step would cost more than the step.
 * A serial round trip is one request and one reply, taken without leaving `flushing.exchanging`
 * (a targetless transition): the machine's cost per command is one event.
 */
import { and, assign, sendTo, setup } from 'xstate';
// the device writes exactly the ack byte (QEMU checks `dev_written == sizeof(virtio_net_ctrl_ack)`)
import { CTRL_ACK_LEN, VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../src/virtio/net.js';
import { errorText } from './actors.js';
import { portPlaceholder, type PortReply } from './port.js';

/** How commands share the shadow CVQ (see the header). */
export type CvqStrategy = 'serial' | 'parallel' | 'parallel-indirect';
export const CVQ_STRATEGIES: readonly CvqStrategy[] = ['serial', 'parallel', 'parallel-indirect'];

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

/** What the device answered for one command of a batch. */
export interface CvqAck {
  /** Used length the device reported; -1: no used entry for this command. */
  readonly len: number;
  /** The ack byte. */
  readonly ack: number;
}

export type CvqFailureKind = 'ack-err' | 'wrong-length' | 'timeout' | 'needs-reset' | 'device';

export interface CvqFailure {
  readonly kind: CvqFailureKind;
  readonly errno: 'EIO' | 'ETIMEDOUT';
  /** Index in `commands` of the command the failure is about. */
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
  /** Requests made to the effect port (its `seq`). */
  readonly seq: number;
  readonly failure: CvqFailure | null;
}

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
export interface ExchangeInput {
  /** The whole list (shared, not copied); commands[first] is the one to send. */
  readonly commands: readonly CvqCommand[];
  readonly first: number;
  /** The op's own bound on the wait for the ack. */
  readonly timeoutMs: number;
}
export interface AwaitAcksInput {
  readonly first: number;
  readonly count: number;
  /** The op's own bound on the wait (the port's deadline is the backstop). */
  readonly timeoutMs: number;
}

/** The effect port's ops: write a batch (and kick), wait for its acks; or both for one command. */
export type CvqOps = {
  /** Serial: write commands[first] as one chain, kick, wait for its used entry (its ack, as `awaitAcks`). */
  exchange: { input: ExchangeInput; output: { acks: readonly CvqAck[] } };
  /** Write as many of commands[first …] as the strategy and free space allow into the shadow CVQ; kick. */
  writeBatch: { input: WriteBatchInput; output: { written: number } };
  /** Wait for the used entries of the kicked batch; acks in command order. */
  awaitAcks: { input: AwaitAcksInput; output: { acks: readonly CvqAck[] } };
};

export type CvqCommandEvent = { type: 'ENQUEUE'; commands: readonly CvqCommand[] } | { type: 'FLUSH' } | PortReply<CvqOps>;

/** Whether an op failed by timing out (ETIMEDOUT), as opposed to a device or ring error. */
export const isTimeout = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && ((e as { errno?: unknown }).errno === 'ETIMEDOUT' || (e as { kind?: unknown }).kind === 'timeout');

/** Whether the device asked for a reset (VIRTIO_CONFIG_S_NEEDS_RESET, §2.1.2) while the batch was in flight. */
export const isNeedsReset = (e: unknown): boolean => typeof e === 'object' && e !== null && (e as { kind?: unknown }).kind === 'needs-reset';

/** The first command of a batch that did not ack OK with exactly one byte, or undefined. */
export function firstBadAck(acks: readonly CvqAck[]): { at: number; kind: 'ack-err' | 'wrong-length' | 'timeout' } | undefined {
  for (let i = 0; i < acks.length; i++) {
    const a = acks[i]!;
    if (a.len < 0) return { at: i, kind: 'timeout' };
    if (a.len !== CTRL_ACK_LEN) return { at: i, kind: 'wrong-length' };
    if (a.ack !== VIRTIO_NET_OK) return { at: i, kind: 'ack-err' };
  }
  return undefined;
}

type Ctx = CvqCommandContext;
const batchStart = (c: Ctx) => c.cursor - c.inFlight;
const nameAt = (c: Ctx, i: number) => c.commands[i]?.name ?? `command #${i}`;
/**
 * The command an op's error names: its `index` in `commands` when the effect could tell (the owner of
 * the used entry that broke a rule, the command the device stopped at), else the batch's first.
 */
const blamed = (c: Ctx, error: unknown): number => {
  const at = typeof error === 'object' && error !== null ? (error as { index?: unknown }).index : undefined;
  return typeof at === 'number' && Number.isInteger(at) && at >= batchStart(c) && at < c.cursor ? at : batchStart(c);
};
/**
 * Commands acked OK when a batch failed: the OK prefix of the answers the error carries (`acks`, in
 * command order), never past the blamed command — the device applied them, so the model takes them.
 */
const okBefore = (c: Ctx, error: unknown, upTo: number): number => {
  const acks = typeof error === 'object' && error !== null ? (error as { acks?: unknown }).acks : undefined;
  let n = 0;
  if (Array.isArray(acks)) {
    for (const a of acks as readonly CvqAck[]) {
      if (batchStart(c) + n >= upTo || a.len !== CTRL_ACK_LEN || a.ack !== VIRTIO_NET_OK) break;
      n++;
    }
  }
  return batchStart(c) + n;
};
const isReply = (c: Ctx, e: { seq: number }) => e.seq === c.seq;
type Ev = CvqCommandEvent;
/** A reply carrying acks: `awaitAcks` for a batch, `exchange` for one serial command. */
const isAcks = (e: Ev): e is Extract<Ev, { type: 'awaitAcks.done' | 'exchange.done' }> => e.type === 'awaitAcks.done' || e.type === 'exchange.done';
const isAckError = (e: Ev): e is Extract<Ev, { type: 'awaitAcks.error' | 'exchange.error' }> => e.type === 'awaitAcks.error' || e.type === 'exchange.error';
/** The port's backstop for an op that overruns its own bound (`timeoutMs`) by as much again. */
const deadlineOf = (c: Ctx) => 2 * c.ackTimeoutMs;

/**
 * The judgement of acks, the same for a batch's (`awaitAcks`) and one exchange's: the first bad ack
 * ends the flush naming its command; all OK goes on (another batch or exchange, per state) or is done.
 */
const BAD_ACK = [
  { guard: 'wroteWrongLength', target: '#cvq-command.wrongLength', actions: 'checkAcks' },
  { guard: 'ackedErr', target: '#cvq-command.ackErr', actions: 'checkAcks' },
  { guard: 'unanswered', target: '#cvq-command.timedOut', actions: 'checkAcks' },
] as const;
const ALL_DONE = { guard: 'isReply', target: '#cvq-command.done', actions: 'checkAcks' } as const;
/** A wait for acks that failed: timed out, the device asked for a reset, or it failed otherwise. */
const ACK_ERROR = [
  { guard: 'ackTimedOut', target: '#cvq-command.timedOut', actions: 'timedOut' },
  { guard: 'deviceNeedsReset', target: '#cvq-command.needsReset', actions: 'needsReset' },
  { guard: 'isReply', target: '#cvq-command.deviceError', actions: 'deviceFailed' },
] as const;

export const cvqCommandMachine = setup({
  types: {
    context: {} as CvqCommandContext,
    events: {} as CvqCommandEvent,
    input: {} as CvqCommandInput,
    output: {} as CvqCommandOutput,
  },
  actors: {
    /** The shadow CVQ's effect port: `writeBatch` and `awaitAcks` (CvqOps). */
    cvqPort: portPlaceholder<CvqOps>('cvqPort'),
  },
  guards: {
    hasPending: ({ context }) => context.cursor < context.commands.length,
    isSerial: ({ context }) => context.strategy === 'serial',
    /** The reply answers the request in flight (a stale one after a restart is ignored). */
    isReply: ({ context, event }) => 'seq' in event && isReply(context, event),
    ackTimedOut: ({ context, event }) => isAckError(event) && isReply(context, event) && isTimeout(event.error),
    deviceNeedsReset: ({ context, event }) => isAckError(event) && isReply(context, event) && isNeedsReset(event.error),
    wroteWrongLength: ({ context, event }) => isAcks(event) && isReply(context, event) && firstBadAck(event.output.acks)?.kind === 'wrong-length',
    ackedErr: ({ context, event }) => isAcks(event) && isReply(context, event) && firstBadAck(event.output.acks)?.kind === 'ack-err',
    unanswered: ({ context, event }) => isAcks(event) && isReply(context, event) && firstBadAck(event.output.acks)?.kind === 'timeout',
  },
  actions: {
    /** Ask the port to write the next batch. */
    requestWrite: sendTo('port', ({ context }) => ({
      type: 'call' as const,
      op: 'writeBatch' as const,
      seq: context.seq,
      input: { strategy: context.strategy, commands: context.commands, first: context.cursor },
    })),
    /**
     * Put the next command on the wire (serial): counted in flight from the request on, so a failure
     * names it and a restart repeats the request for the same command.
     */
    exchangeNext: assign(({ context }) => ({ cursor: context.cursor + 1, inFlight: 1 })),
    /**
     * Serial, the command in flight acked OK (the guards before found no bad ack) and more pending:
     * it is applied and the next one goes on the wire — one context update per round trip.
     */
    ackedThenNext: assign(({ context }) => ({ applied: context.cursor, roundTrips: context.roundTrips + 1, seq: context.seq + 1, cursor: context.cursor + 1, inFlight: 1 })),
    /** Ask the port to exchange the command in flight (again, with the same seq, after a restart). */
    requestExchange: sendTo('port', ({ context }) => ({
      type: 'call' as const,
      op: 'exchange' as const,
      seq: context.seq,
      input: { commands: context.commands, first: batchStart(context), timeoutMs: context.ackTimeoutMs },
      deadlineMs: deadlineOf(context),
    })),
    /** Ask the port for the acks of the batch in flight. */
    requestAcks: sendTo('port', ({ context }) => ({
      type: 'call' as const,
      op: 'awaitAcks' as const,
      seq: context.seq,
      input: { first: batchStart(context), count: context.inFlight, timeoutMs: context.ackTimeoutMs },
      deadlineMs: deadlineOf(context),
    })),
    nextRequest: assign({ seq: ({ context }) => context.seq + 1 }),
    wrote: assign(({ context, event }) => {
      if (event.type !== 'writeBatch.done') return {};
      return { cursor: context.cursor + event.output.written, inFlight: event.output.written, seq: context.seq + 1 };
    }),
    /** Count the OK prefix of the batch as applied and record the first bad ack (naming its command). */
    checkAcks: assign(({ context, event }) => {
      if (!isAcks(event)) return {};
      const acks = event.output.acks;
      const start = batchStart(context);
      const bad = firstBadAck(acks);
      const next = { inFlight: 0, roundTrips: context.roundTrips + 1, seq: context.seq + 1 };
      if (bad === undefined) return { ...next, applied: start + acks.length };
      const index = start + bad.at;
      const a = acks[bad.at]!;
      const command = nameAt(context, index);
      const failure: CvqFailure =
        bad.kind === 'ack-err'
          ? { kind: 'ack-err', errno: 'EIO', index, command, message: `EIO: device acked ${command} with VIRTIO_NET_ERR (${a.ack})` }
          : bad.kind === 'wrong-length'
            ? { kind: 'wrong-length', errno: 'EIO', index, command, message: `EIO: device wrote ${a.len} bytes for the ack of ${command}, expected ${CTRL_ACK_LEN}` }
            : { kind: 'timeout', errno: 'ETIMEDOUT', index, command, message: `ETIMEDOUT: no ack for ${command}` };
      return { ...next, applied: index, failure };
    }),
    timedOut: assign(({ context, event }) => {
      const error = isAckError(event) ? event.error : undefined;
      const index = blamed(context, error);
      const command = nameAt(context, index);
      const detail = errorText(error);
      return {
        applied: okBefore(context, error, index),
        failure: { kind: 'timeout' as const, errno: 'ETIMEDOUT' as const, index, command, message: `ETIMEDOUT at ${command}: ${detail}` },
      };
    }),
    needsReset: assign(({ context, event }) => {
      const error = isAckError(event) ? event.error : undefined;
      const index = blamed(context, error);
      const command = nameAt(context, index);
      return {
        applied: okBefore(context, error, index),
        failure: { kind: 'needs-reset' as const, errno: 'EIO' as const, index, command, message: `EIO: the device set NEEDS_RESET with ${command} in flight` },
      };
    }),
    deviceFailed: assign(({ context, event }) => {
      const error = event.type === 'writeBatch.error' || isAckError(event) ? event.error : undefined;
      const index = event.type === 'writeBatch.error' ? context.cursor : blamed(context, error);
      const command = nameAt(context, index);
      return { applied: event.type === 'writeBatch.error' ? batchStart(context) : okBefore(context, error, index), failure: { kind: 'device' as const, errno: 'EIO' as const, index, command, message: `EIO at ${command}: ${errorText(error)}` } };
    }),
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
    seq: 0,
    failure: null,
  }),
  initial: 'queued',
  states: {
    queued: {
      on: {
        ENQUEUE: { actions: assign({ commands: ({ context, event }) => [...context.commands, ...event.commands] }) },
        FLUSH: [
          { guard: and(['hasPending', 'isSerial']), target: 'exchanging', actions: 'exchangeNext' },
          { guard: 'hasPending', target: 'flushing' },
          { target: 'done' },
        ],
      },
    },
    /** Batches on the wire: the effect port lives as long as the flush. */
    flushing: {
      invoke: { id: 'port', src: 'cvqPort' },
      initial: 'writing',
      states: {
        writing: {
          entry: 'requestWrite',
          on: {
            'writeBatch.done': { guard: 'isReply', target: 'inFlight', actions: 'wrote' },
            'writeBatch.error': { guard: 'isReply', target: '#cvq-command.deviceError', actions: 'deviceFailed' },
            // a restored port never saw the request: ask again (same seq)
            'port.ready': { target: 'writing', reenter: true },
          },
        },
        inFlight: {
          entry: 'requestAcks',
          on: {
            // all OK: more pending means another batch
            'awaitAcks.done': [...BAD_ACK, { guard: and(['isReply', 'hasPending']), target: 'writing', actions: 'checkAcks' }, ALL_DONE],
            'awaitAcks.error': ACK_ERROR,
            'port.ready': { target: 'inFlight', reenter: true },
          },
        },
      },
    },
    /**
     * Serial: one command per round trip. An all-OK ack with more pending puts the next command on
     * the wire without leaving the state (targetless: no exit, no entry — one event per command).
     */
    exchanging: {
      invoke: { id: 'port', src: 'cvqPort' },
      entry: 'requestExchange',
      on: {
        'exchange.done': [...BAD_ACK, { guard: and(['isReply', 'hasPending']), actions: ['ackedThenNext', 'requestExchange'] }, ALL_DONE],
        'exchange.error': ACK_ERROR,
        'port.ready': { actions: 'requestExchange' },
      },
    },
    done: { type: 'final' },
    ackErr: { type: 'final' },
    wrongLength: { type: 'final' },
    timedOut: { type: 'final' },
    needsReset: { type: 'final' },
    deviceError: { type: 'final' },
  },
  output: ({ context }) => ({ ok: context.failure === null, applied: context.applied, roundTrips: context.roundTrips, failure: context.failure }),
});

export type CvqCommandMachine = typeof cvqCommandMachine;
