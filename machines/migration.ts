/**
 * machines/migration — live migration of a vDPA NIC, both ends (QEMU migration + net/vhost-vdpa.c):
 *
 * source:      setup (enable SVQ so the dirty log sees the device's writes) → precopy rounds (read and
 *              clear the dirty log until the remaining dirty pages fall to the threshold or the round
 *              limit) → stop-and-copy (suspend, drain, save a versioned, validated migration record)
 *              → completed
 * destination: load the record → reset and negotiate its features → CVQ restore (the planner's
 *              commands through machines/cvq-command) → enable the data queues → verify the restored
 *              state against the record → running
 *
 * CANCEL or a failure in any phase rolls back: the source resumes with its state and in-flight
 * buffers intact and SVQ switched off if this migration switched it on; the destination resets its
 * device. Context is plain JSON so a snapshot can be persisted and restored at any step.
 */
import { assign, setup } from 'xstate';
import * as E from 'fp-ts/lib/Either.js';
import { decodeMigrationRecord, type MigrationRecord } from '../src/state/migration-record.js';
import { errorText, failureIn, placeholder } from './actors.js';
import type { CvqCommandOutput } from './cvq-command.js';

export interface MigrationInput {
  /** Precopy stops when a round leaves at most this many dirty pages. */
  readonly dirtyThresholdPages: number;
  /** …or after this many rounds. */
  readonly maxRounds: number;
}

export type MigrationRole = 'none' | 'source' | 'destination';

export interface MigrationContext {
  readonly role: MigrationRole;
  readonly dirtyThresholdPages: number;
  readonly maxRounds: number;
  /** Precopy rounds finished. */
  readonly round: number;
  /** Dirty pages left after the last round (null before the first). */
  readonly dirtyPages: number | null;
  readonly pagesSent: number;
  /** SVQ was switched on by this migration (so rollback switches it off). */
  readonly svqEnabledByUs: boolean;
  /** Source: the saved record; destination: the loaded one. */
  readonly record: MigrationRecord | null;
  /** Destination: the record as received, before validation. */
  readonly incoming: unknown;
  /** Destination: CVQ restore summary. */
  readonly cvq: { readonly applied: number; readonly roundTrips: number } | null;
  readonly error: string | null;
}

export type MigrationEvent = { type: 'MIGRATE' } | { type: 'INCOMING'; record: unknown } | { type: 'CANCEL'; reason?: string };

export interface DirtyRound {
  /** Pages read (and cleared) from the dirty log this round: what this round sends. */
  readonly pagesSent: number;
  /** Pages dirtied again while the round ran: what is left. */
  readonly dirtyPages: number;
}

export const migrationMachine = setup({
  types: {
    context: {} as MigrationContext,
    events: {} as MigrationEvent,
    input: {} as MigrationInput,
  },
  actors: {
    // source
    /** Switch the device's queues to SVQ (machines/svq-switch) unless already shadowed. */
    enableSvq: placeholder<{ switched: boolean }, void>('enableSvq'),
    /** Read and clear the dirty log, send those pages; report what was dirtied meanwhile. */
    syncDirtyLog: placeholder<DirtyRound, { round: number }>('syncDirtyLog'),
    /** Stop the device (VHOST_VDPA_SUSPEND). */
    suspendSource: placeholder<void, void>('suspendSource'),
    /** Forward what the device already used; keep the rest in flight for the destination. */
    drainInFlight: placeholder<{ inFlight: number }, void>('drainInFlight'),
    /** Save the device state, features, vring bases and dirty summary as a record. */
    saveRecord: placeholder<{ record: unknown }, { rounds: number; pagesSent: number; remaining: number }>('saveRecord'),
    /** Resume the source: SVQ off if we switched it on, device resumed, buffers intact. */
    rollbackSource: placeholder<void, { svqEnabledByUs: boolean }>('rollbackSource'),
    // destination
    /** Decode and validate the incoming record (io-ts + the device state codec). */
    loadRecord: placeholder<{ record: MigrationRecord }, { record: unknown }>('loadRecord'),
    /** Reset the device and negotiate the record's features (machines/device-lifecycle up to FEATURES_OK). */
    resetAndNegotiate: placeholder<{ negotiated: string }, { record: MigrationRecord }>('resetAndNegotiate'),
    /** Plan the restore from the record and send it through machines/cvq-command. */
    restoreCvq: placeholder<CvqCommandOutput, { record: MigrationRecord }>('restoreCvq'),
    /** Set the data queues' bases from the record, enable them, DRIVER_OK. */
    enableDataQueues: placeholder<void, { record: MigrationRecord }>('enableDataQueues'),
    /** Compare the device's state (through the negotiated features) with the record. */
    verifyAgainstRecord: placeholder<{ equal: boolean; differences: string[] }, { record: MigrationRecord }>('verifyAgainstRecord'),
    /** Reset the destination device: the source keeps the VM. */
    rollbackDestination: placeholder<void, void>('rollbackDestination'),
  },
  guards: {
    converged: ({ context }, params: DirtyRound) => params.dirtyPages <= context.dirtyThresholdPages,
    roundLimitReached: ({ context }) => context.round + 1 >= context.maxRounds,
    recordValid: (_, params: { record: unknown }) => E.isRight(decodeMigrationRecord(params.record)),
    featuresMatchRecord: ({ context }, params: { negotiated: string }) =>
      context.record !== null && BigInt(params.negotiated) === BigInt(context.record.features.negotiated),
    cvqRestored: (_, params: CvqCommandOutput) => params.ok,
    matchesRecord: (_, params: { equal: boolean }) => params.equal,
  },
  actions: {
    recordError: assign({ error: ({ self }, params: { error: unknown }) => failureIn(self, params.error) }),
    countRound: assign(({ context }, params: DirtyRound) => ({
      round: context.round + 1,
      dirtyPages: params.dirtyPages,
      pagesSent: context.pagesSent + params.pagesSent,
    })),
  },
}).createMachine({
  id: 'migration',
  context: ({ input }) => ({
    role: 'none',
    dirtyThresholdPages: input.dirtyThresholdPages,
    maxRounds: input.maxRounds,
    round: 0,
    dirtyPages: null,
    pagesSent: 0,
    svqEnabledByUs: false,
    record: null,
    incoming: null,
    cvq: null,
    error: null,
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        MIGRATE: { target: 'source', actions: assign({ role: 'source' }) },
        INCOMING: { target: 'destination', actions: assign({ role: 'destination', incoming: ({ event }) => event.record }) },
      },
    },
    source: {
      initial: 'active',
      states: {
        active: {
          initial: 'setup',
          entry: assign({ round: 0, dirtyPages: null, pagesSent: 0, record: null, error: null }),
          on: { CANCEL: { target: 'rollingBack', actions: assign({ error: ({ event }) => `cancelled${event.reason ? `: ${event.reason}` : ''}` }) } },
          states: {
            setup: {
              invoke: {
                src: 'enableSvq',
                onDone: { target: 'precopy', actions: assign({ svqEnabledByUs: ({ event }) => event.output.switched }) },
                onError: { target: '#migration.source.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
              },
            },
            precopy: {
              initial: 'round',
              states: {
                round: {
                  invoke: {
                    src: 'syncDirtyLog',
                    input: ({ context }) => ({ round: context.round }),
                    onDone: [
                      {
                        guard: { type: 'converged', params: ({ event }) => event.output },
                        target: '#migration.source.active.stopAndCopy',
                        actions: { type: 'countRound', params: ({ event }) => event.output },
                      },
                      {
                        guard: 'roundLimitReached',
                        target: '#migration.source.active.stopAndCopy',
                        actions: { type: 'countRound', params: ({ event }) => event.output },
                      },
                      { target: 'round', reenter: true, actions: { type: 'countRound', params: ({ event }) => event.output } },
                    ],
                    onError: { target: '#migration.source.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
                  },
                },
              },
            },
            stopAndCopy: {
              initial: 'suspending',
              states: {
                suspending: {
                  invoke: {
                    src: 'suspendSource',
                    onDone: { target: 'draining' },
                    onError: { target: '#migration.source.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
                  },
                },
                draining: {
                  invoke: {
                    src: 'drainInFlight',
                    onDone: { target: 'saving' },
                    onError: { target: '#migration.source.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
                  },
                },
                saving: {
                  invoke: {
                    src: 'saveRecord',
                    input: ({ context }) => ({ rounds: context.round, pagesSent: context.pagesSent, remaining: context.dirtyPages ?? 0 }),
                    onDone: [
                      {
                        guard: { type: 'recordValid', params: ({ event }) => event.output },
                        target: '#migration.source.completed',
                        actions: assign({ record: ({ event }) => E.getOrElseW(() => null)(decodeMigrationRecord(event.output.record)) }),
                      },
                      {
                        target: '#migration.source.rollingBack',
                        actions: assign({
                          error: ({ self, event }) => failureIn(self, E.fold((e: { message: string }) => e.message, () => '')(decodeMigrationRecord(event.output.record))),
                        }),
                      },
                    ],
                    onError: { target: '#migration.source.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
                  },
                },
              },
            },
          },
        },
        rollingBack: {
          invoke: {
            src: 'rollbackSource',
            input: ({ context }) => ({ svqEnabledByUs: context.svqEnabledByUs }),
            onDone: { target: 'cancelled', actions: assign({ svqEnabledByUs: false }) },
            onError: { target: '#migration.failed', actions: assign({ error: ({ context, event }) => `${context.error ?? 'migration failed'}; rollback failed: ${errorText(event.error)}` }) },
          },
        },
        /** Rolled back: the source runs as before and may try again. */
        cancelled: {
          on: { MIGRATE: { target: 'active' } },
        },
        completed: { type: 'final' },
      },
    },
    destination: {
      initial: 'active',
      states: {
        active: {
          initial: 'loading',
          on: { CANCEL: { target: 'rollingBack', actions: assign({ error: ({ event }) => `cancelled${event.reason ? `: ${event.reason}` : ''}` }) } },
          states: {
            loading: {
              invoke: {
                src: 'loadRecord',
                input: ({ context }) => ({ record: context.incoming }),
                onDone: { target: 'negotiating', actions: assign({ record: ({ event }) => event.output.record }) },
                // nothing touched the device yet: refuse the record, no rollback needed
                onError: { target: '#migration.destination.rejected', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
              },
            },
            negotiating: {
              invoke: {
                src: 'resetAndNegotiate',
                input: ({ context }) => ({ record: context.record! }),
                onDone: [
                  { guard: { type: 'featuresMatchRecord', params: ({ event }) => event.output }, target: 'restoringCvq' },
                  {
                    target: '#migration.destination.rollingBack',
                    actions: assign({
                      error: ({ self, context, event }) => failureIn(self, `negotiated ${event.output.negotiated} but the record has ${context.record?.features.negotiated ?? '?'}`),
                    }),
                  },
                ],
                onError: { target: '#migration.destination.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
              },
            },
            restoringCvq: {
              invoke: {
                src: 'restoreCvq',
                input: ({ context }) => ({ record: context.record! }),
                onDone: [
                  {
                    guard: { type: 'cvqRestored', params: ({ event }) => event.output },
                    target: 'enablingQueues',
                    actions: assign({ cvq: ({ event }) => ({ applied: event.output.applied, roundTrips: event.output.roundTrips }) }),
                  },
                  {
                    target: '#migration.destination.rollingBack',
                    actions: assign({
                      cvq: ({ event }) => ({ applied: event.output.applied, roundTrips: event.output.roundTrips }),
                      error: ({ self, event }) => failureIn(self, event.output.failure?.message ?? 'CVQ restore failed'),
                    }),
                  },
                ],
                onError: { target: '#migration.destination.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
              },
            },
            enablingQueues: {
              invoke: {
                src: 'enableDataQueues',
                input: ({ context }) => ({ record: context.record! }),
                onDone: { target: 'verifying' },
                onError: { target: '#migration.destination.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
              },
            },
            verifying: {
              invoke: {
                src: 'verifyAgainstRecord',
                input: ({ context }) => ({ record: context.record! }),
                onDone: [
                  { guard: { type: 'matchesRecord', params: ({ event }) => event.output }, target: '#migration.destination.running' },
                  {
                    target: '#migration.destination.rollingBack',
                    actions: assign({ error: ({ self, event }) => failureIn(self, `restored state differs from the record: ${event.output.differences.join('; ')}`) }),
                  },
                ],
                onError: { target: '#migration.destination.rollingBack', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
              },
            },
          },
        },
        rollingBack: {
          invoke: {
            src: 'rollbackDestination',
            onDone: { target: 'aborted' },
            onError: { target: '#migration.failed', actions: assign({ error: ({ context, event }) => `${context.error ?? 'migration failed'}; rollback failed: ${errorText(event.error)}` }) },
          },
        },
        /** The record was refused before the device was touched. */
        rejected: {},
        /** Rolled back: the device is reset, the source keeps the VM. */
        aborted: {},
        running: { type: 'final' },
      },
    },
    /** A rollback failed: an operator must step in. */
    failed: {},
  },
});

export type MigrationMachine = typeof migrationMachine;
