/**
 * machines/migration — live migration of a vDPA NIC, both ends (QEMU migration + net/vhost-vdpa.c),
 * composed of the other machines as child actors:
 *
 * source:      attach to the running device (machines/device-lifecycle, ATTACH) → setup: start the
 *              dirty log, switch the data queues to SVQ (machines/svq-switch, ENABLE) so the log sees
 *              the device's writes → precopy rounds (read and clear the log until the remaining dirty
 *              pages fall to the threshold or the round limit) → stop-and-copy: SUSPEND (device-lifecycle),
 *              drain SVQ, save a versioned, validated migration record → completed
 * destination: load the record → negotiate its features (device-lifecycle: START resets, then
 *              §3.1.1 up to FEATURES_OK) → prepare the queues (shadow CVQ in its ASID, data rings at
 *              the recorded bases) → DRIVER_OK (device-lifecycle) → CVQ restore (machines/cvq-command,
 *              the record's restore plan) → enable the data queues → verify against the record → running
 *
 * CANCEL or a failure in any phase rolls back: the source stops the dirty log, switches SVQ off if
 * this migration switched it on (svq-switch DISABLE, every in-flight chain handed back to the guest
 * rings while suspended) and RESUMEs; with x-svq=on (SVQ on before the migration, and kept on) a
 * shadow data path the migration left dead — stopped by the drain, or broken in a precopy round — is
 * rebuilt: stopped by hand (recoverSvq: every queue back on its guest ring at its exact position), then
 * started again from the device's vring bases (a fresh svq-switch, ENABLE), as QEMU restarts SVQ when
 * it resumes the VM; if it cannot be, the migration ends `failed` saying so. The destination resets its
 * device (device-lifecycle RESET) and
 * tears down what the restore set up. A completed source whose destination then fails is told
 * ROLLBACK and resumes the same way (QEMU's `cont` after a failed switch-over).
 *
 * The children run as invoked actors declared in `setup({ actors })`: snapshots persist them, the
 * inspector sees their transitions, and the phases react to their snapshots (`xstate.snapshot.<id>`).
 * Context is plain JSON, so a persisted snapshot resumes at any step.
 */
import * as E from 'fp-ts/lib/Either.js';
import { assign, sendTo, setup, type SnapshotFrom } from 'xstate';
import { decodeMigrationRecord, type MigrationRecord } from '../src/state/migration-record.js';
import { recordCommands } from '../src/state/record-plan.js';
import { errorText, failTo, failureIn, placeholder } from './actors.js';
import { cvqCommandMachine, type CvqCommandOutput, type CvqStrategy } from './cvq-command.js';
import { deviceLifecycleMachine } from './device-lifecycle.js';
import { svqSwitchMachine } from './svq-switch.js';

/** The source device as its driver negotiated it, and the data queues SVQ shadows. */
export interface SourceDevice {
  readonly offered: string;
  readonly negotiated: string;
  readonly queues: readonly number[];
}

export interface MigrationInput {
  /** Precopy stops when a round leaves at most this many dirty pages. */
  readonly dirtyThresholdPages: number;
  /** …or after this many rounds. */
  readonly maxRounds: number;
  /** Source: the running device (default: a device with no data queues, features read at attach). */
  readonly source?: SourceDevice;
  /** Destination: how the restore plan shares the shadow CVQ (default parallel). */
  readonly strategy?: CvqStrategy;
  /** Destination: how long a kicked CVQ batch may wait for its acks (default 1000 ms). */
  readonly ackTimeoutMs?: number;
}

export type MigrationRole = 'none' | 'source' | 'destination';
/** What the source's svq-switch child shows: stable modes, a switch in progress, or failed. */
export type SvqView = 'passthrough' | 'shadow' | 'switching' | 'failed';
/** What a device-lifecycle child shows, as far as the migration cares. */
export type DeviceView = 'reset' | 'starting' | 'accepted' | 'running' | 'suspended' | 'failed' | 'other';

export interface MigrationContext {
  readonly role: MigrationRole;
  readonly dirtyThresholdPages: number;
  readonly maxRounds: number;
  readonly source: SourceDevice;
  readonly strategy: CvqStrategy;
  readonly ackTimeoutMs: number;
  /** Precopy rounds finished. */
  readonly round: number;
  /** Dirty pages left after the last round (null before the first). */
  readonly dirtyPages: number | null;
  readonly pagesSent: number;
  /** SVQ was switched on by this migration (so rollback switches it off). */
  readonly svqEnabledByUs: boolean;
  /**
   * The shadow data path forwards nothing until it is started again: the drain stopped it (SVQ stop),
   * or a precopy round or the drain failed because a shadow virtqueue broke (`ShadowBroken`).
   */
  readonly dataPathDown: boolean;
  /** The svq-switch child as last seen. */
  readonly svq: SvqView;
  /** The device-lifecycle child as last seen. */
  readonly device: DeviceView;
  /** Source: the saved record; destination: the loaded one. */
  readonly record: MigrationRecord | null;
  /** Destination: the record as received, before validation. */
  readonly incoming: unknown;
  /** Destination: CVQ restore summary. */
  readonly cvq: { readonly applied: number; readonly roundTrips: number } | null;
  readonly error: string | null;
}

/** A child's new snapshot (XState relays them for invokes with `onSnapshot`); phases react to them. */
export type ChildSnapshotEvent =
  | { type: 'xstate.snapshot.svq'; snapshot: SnapshotFrom<typeof svqSwitchMachine> }
  | { type: 'xstate.snapshot.svqRestart'; snapshot: SnapshotFrom<typeof svqSwitchMachine> }
  | { type: 'xstate.snapshot.device'; snapshot: SnapshotFrom<typeof deviceLifecycleMachine> };

export type MigrationEvent =
  | ChildSnapshotEvent
  | { type: 'MIGRATE' }
  | { type: 'INCOMING'; record: unknown }
  | { type: 'CANCEL'; reason?: string }
  /** A completed source whose destination failed: resume the VM here. */
  | { type: 'ROLLBACK'; reason?: string };

export interface DirtyRound {
  /** Pages read (and cleared) from the dirty log this round: what this round sends. */
  readonly pagesSent: number;
  /** Pages dirtied again while the round ran: what is left. */
  readonly dirtyPages: number;
}

/** The destination device's configuration the restore starts from (read in `preparing`). */
export interface PreparedDevice {
  /** The MAC the device was provisioned with (its reset state). */
  readonly mac: string;
}

export interface VerifyInput {
  readonly record: MigrationRecord;
  /** Commands of the restore plan acked OK (a prefix). */
  readonly applied: number;
}

/**
 * An effect's failure that left the shadow data path dead: a shadow virtqueue failed (the device used an
 * id SVQ never made available, a malformed chain …). The source's effects reject with it; the machine
 * then rebuilds SVQ on rollback when it must stay on (x-svq=on).
 */
export interface ShadowBroken {
  readonly _tag: 'ShadowBroken';
  readonly where: string;
  readonly message: string;
}
export const shadowBroken = (where: string, message: string): ShadowBroken => ({ _tag: 'ShadowBroken', where, message });
export const isShadowBroken = (e: unknown): e is ShadowBroken => typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === 'ShadowBroken';

type Snap<M> = { readonly snapshot: SnapshotFrom<M> };
type SvqSnap = Snap<typeof svqSwitchMachine>;
type DeviceSnap = Snap<typeof deviceLifecycleMachine>;

const svqView = (s: SnapshotFrom<typeof svqSwitchMachine>): SvqView =>
  s.matches('passthrough') ? 'passthrough' : s.matches('shadow') ? 'shadow' : s.matches('failed') ? 'failed' : 'switching';
const deviceView = (s: SnapshotFrom<typeof deviceLifecycleMachine>): DeviceView =>
  s.matches('reset')
    ? 'reset'
    : s.matches({ active: { featuresOk: 'accepted' } })
      ? 'accepted'
      : s.matches({ active: { driverOk: 'running' } })
        ? 'running'
        : s.matches({ active: { driverOk: 'suspended' } })
          ? 'suspended'
          : s.matches('failed')
            ? 'failed'
            : s.matches('starting') || s.matches('active')
              ? 'starting'
              : 'other';

/** A phase's reaction to its device-lifecycle child failing: go to `target`, the child's error recorded. */
const deviceFailedTo = <T extends string>(target: T, what = 'device') =>
  ({
    guard: { type: 'deviceIs', params: ({ event }: { event: DeviceSnap }) => ({ ...event, view: 'failed' as const }) },
    target,
    actions: [
      { type: 'trackDevice', params: ({ event }: { event: DeviceSnap }) => event },
      { type: 'childError', params: ({ event }: { event: DeviceSnap }) => ({ what, error: event.snapshot.context.error }) },
    ],
  }) as const;

const cancelled = (reason: string | undefined) => `cancelled${reason ? `: ${reason}` : ''}`;

/** The source's error edge of an effect that may kill the shadow data path: a `ShadowBroken` marks it down. */
const failOrBreakTo = <T extends string>(target: T) =>
  [
    {
      guard: { type: 'shadowBroken', params: ({ event }: { event: { error: unknown } }) => ({ error: event.error }) },
      target,
      actions: [{ type: 'recordError', params: ({ event }: { event: { error: unknown } }) => ({ error: event.error }) }, 'markDataPathDown'],
    },
    failTo(target),
  ] as const;

export const migrationMachine = setup({
  types: {
    context: {} as MigrationContext,
    events: {} as MigrationEvent,
    input: {} as MigrationInput,
  },
  actors: {
    // the machines a migration is made of
    deviceLifecycle: deviceLifecycleMachine,
    svqSwitch: svqSwitchMachine,
    cvqCommand: cvqCommandMachine,
    // source
    /** Attach the dirty log to guest RAM; says whether the data queues are already shadowed (x-svq=on). */
    startDirtyLog: placeholder<{ shadowed: boolean }, void>('startDirtyLog'),
    /** Read and clear the dirty log, send those pages; report what was dirtied meanwhile. */
    syncDirtyLog: placeholder<DirtyRound, { round: number }>('syncDirtyLog'),
    /**
     * SVQ stop on the suspended device: forward what it used, keep the rest in flight for the destination;
     * says whether it stopped the shadow queues (a back end whose SVQs move on as they are does not).
     */
    drainInFlight: placeholder<{ inFlight: number; svqStopped: boolean }, void>('drainInFlight'),
    /** Save the device state, features, vring bases and dirty summary as a record. */
    saveRecord: placeholder<{ record: unknown }, { rounds: number; pagesSent: number; remaining: number }>('saveRecord'),
    /** Detach the dirty log (the first step of every source rollback). */
    stopDirtyLog: placeholder<void, void>('stopDirtyLog'),
    /**
     * After a failed switch (svq-switch `failed`), or x-svq=on's dead shadow data path: hand every shadow
     * queue back to its guest ring at its exact position, free the shadow rings, resume the device.
     */
    recoverSvq: placeholder<void, void>('recoverSvq'),
    // destination
    /** Decode and validate the incoming record (io-ts + the device state codec). */
    loadRecord: placeholder<{ record: MigrationRecord }, { record: unknown }>('loadRecord'),
    /** Shadow CVQ in its own ASID, guest RAM mapped, data rings at the recorded bases (left disabled). */
    prepareDevice: placeholder<PreparedDevice, { record: MigrationRecord }>('prepareDevice'),
    /** Enable the data queues (after DRIVER_OK and the CVQ restore), kick each once. */
    enableDataQueues: placeholder<void, { record: MigrationRecord }>('enableDataQueues'),
    /** Compare the device (and the acked commands' model) with the record through the negotiated features. */
    verifyAgainstRecord: placeholder<{ equal: boolean; differences: string[] }, VerifyInput>('verifyAgainstRecord'),
    /** Wait until device work a cancelled step left running has stopped. */
    quiesceDestination: placeholder<void, void>('quiesceDestination'),
    /** After the reset: drop the shadow CVQ and the guest RAM mapping. */
    teardownDestination: placeholder<void, void>('teardownDestination'),
  },
  guards: {
    converged: ({ context }, params: DirtyRound) => params.dirtyPages <= context.dirtyThresholdPages,
    roundLimitReached: ({ context }) => context.round + 1 >= context.maxRounds,
    recordValid: (_, params: { record: unknown }) => E.isRight(decodeMigrationRecord(params.record)),
    alreadyShadowed: (_, params: { shadowed: boolean }) => params.shadowed,
    /** The effect failed because the shadow data path died (`ShadowBroken`). */
    shadowBroken: (_, params: { error: unknown }) => isShadowBroken(params.error),
    /** The drain stopped the shadow queues: they forward nothing until restarted. */
    svqStopped: (_, params: { svqStopped: boolean }) => params.svqStopped,
    cvqRestored: (_, params: CvqCommandOutput) => params.ok,
    matchesRecord: (_, params: { equal: boolean }) => params.equal,
    // children, by their snapshots
    svqIs: (_, params: SvqSnap & { view: SvqView }) => svqView(params.snapshot) === params.view,
    /** An enable that rolled back to passthrough (its error says why). */
    svqEnableFailed: (_, params: SvqSnap) => params.snapshot.matches('passthrough') && params.snapshot.context.error !== null,
    deviceIs: (_, params: DeviceSnap & { view: DeviceView }) => deviceView(params.snapshot) === params.view,
    /** ATTACH found no running device (back in reset, with the reason). */
    attachRefused: (_, params: DeviceSnap) => params.snapshot.matches('reset') && params.snapshot.context.error !== null,
    /** A SUSPEND the device refused: back to running, with the reason. */
    suspendRefused: (_, params: DeviceSnap) => params.snapshot.matches({ active: { driverOk: 'running' } }) && params.snapshot.context.error !== null,
    /** Negotiation ended at FEATURES_OK with exactly the record's features. */
    featuresMatchRecord: ({ context }, params: DeviceSnap) =>
      deviceView(params.snapshot) === 'accepted' && context.record !== null && BigInt(params.snapshot.context.negotiated) === BigInt(context.record.features.negotiated),
    /** The svq-switch child is back in passthrough; the device suspended (or not). */
    svqOffDeviceSuspended: ({ context }, params: SvqSnap) => svqView(params.snapshot) === 'passthrough' && context.device === 'suspended',
    svqOffDeviceRunning: ({ context }, params: SvqSnap) => svqView(params.snapshot) === 'passthrough' && context.device !== 'suspended',
    /** The restarted svq-switch is in shadow mode; the device suspended (or not). */
    svqOnDeviceSuspended: ({ context }, params: SvqSnap) => svqView(params.snapshot) === 'shadow' && context.device === 'suspended',
    svqOnDeviceRunning: ({ context }, params: SvqSnap) => svqView(params.snapshot) === 'shadow' && context.device !== 'suspended',
    /** What the rollback has to undo, from what the children show. */
    svqOnByUs: ({ context }) => context.svq === 'shadow' && context.svqEnabledByUs,
    svqSwitching: ({ context }) => context.svq === 'switching',
    svqFailed: ({ context }) => context.svq === 'failed',
    /** The shadow data path is dead (drained, or broken); tried after svqOnByUs, so SVQ was on before the migration (x-svq=on): rebuild it. */
    dataPathDown: ({ context }) => context.dataPathDown,
    deviceSuspended: ({ context }) => context.device === 'suspended',
  },
  actions: {
    recordError: assign({ error: ({ self }, params: { error: unknown }) => failureIn(self, params.error) }),
    /** A child's error (in its own words), named after the phase it failed in. */
    childError: assign({ error: ({ self }, params: { what: string; error: string | null }) => failureIn(self, `${params.what}: ${params.error ?? 'failed'}`) }),
    trackSvq: assign({ svq: (_, params: SvqSnap) => svqView(params.snapshot) }),
    trackDevice: assign({ device: (_, params: DeviceSnap) => deviceView(params.snapshot) }),
    markDataPathDown: assign({ dataPathDown: true }),
    countRound: assign(({ context }, params: DirtyRound) => ({
      round: context.round + 1,
      dirtyPages: params.dirtyPages,
      pagesSent: context.pagesSent + params.pagesSent,
    })),
    attach: sendTo('device', ({ context }) => ({ type: 'ATTACH' as const, offered: context.source.offered, negotiated: context.source.negotiated })),
    enableSvq: sendTo('svq', { type: 'ENABLE' as const, trigger: 'migration' as const }),
    disableSvq: sendTo('svq', { type: 'DISABLE' as const, trigger: 'precopy-failed' as const }),
    restartSvq: sendTo('svqRestart', { type: 'ENABLE' as const, trigger: 'x-svq' as const }),
    suspend: sendTo('device', { type: 'SUSPEND' as const }),
    resume: sendTo('device', { type: 'RESUME' as const }),
    negotiate: sendTo('device', ({ context }) => ({ type: 'START' as const, wanted: context.record?.features.negotiated ?? '0x0' })),
    driverOk: sendTo('device', { type: 'DRIVER_OK' as const }),
    resetDevice: sendTo('device', { type: 'RESET' as const }),
    flushCvq: sendTo('cvq', { type: 'FLUSH' as const }),
  },
}).createMachine({
  id: 'migration',
  context: ({ input }) => ({
    role: 'none',
    dirtyThresholdPages: input.dirtyThresholdPages,
    maxRounds: input.maxRounds,
    source: input.source ?? { offered: '0x0', negotiated: '0x0', queues: [] },
    strategy: input.strategy ?? 'parallel',
    ackTimeoutMs: input.ackTimeoutMs ?? 1000,
    round: 0,
    dirtyPages: null,
    pagesSent: 0,
    svqEnabledByUs: false,
    dataPathDown: false,
    svq: 'passthrough',
    device: 'reset',
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
      // the children's progress is tracked wherever the source is; phases waiting for one react first
      invoke: [
        { id: 'device', src: 'deviceLifecycle', input: ({ context }) => ({ wanted: context.source.negotiated }), onSnapshot: { actions: { type: 'trackDevice', params: ({ event }) => event } } },
        { id: 'svq', src: 'svqSwitch', input: ({ context }) => ({ queues: context.source.queues }), onSnapshot: { actions: { type: 'trackSvq', params: ({ event }) => event } } },
      ],
      initial: 'attaching',
      states: {
        /** device-lifecycle takes over the running device (its status must show DRIVER_OK). */
        attaching: {
          entry: 'attach',
          on: {
            // nothing is switched or suspended yet: a cancelled attach leaves the source as it was
            CANCEL: { target: 'cancelled', actions: assign({ error: ({ event }) => cancelled(event.reason) }) },
            'xstate.snapshot.device': [
              { guard: { type: 'deviceIs', params: ({ event }) => ({ ...event, view: 'running' }) }, target: 'active', actions: { type: 'trackDevice', params: ({ event }) => event } },
              {
                guard: { type: 'attachRefused', params: ({ event }) => event },
                target: 'cancelled',
                actions: [
                  { type: 'trackDevice', params: ({ event }) => event },
                  { type: 'childError', params: ({ event }) => ({ what: 'device', error: event.snapshot.context.error }) },
                ],
              },
              { actions: { type: 'trackDevice', params: ({ event }) => event } },
            ],
          },
        },
        active: {
          initial: 'setup',
          entry: assign({ round: 0, dirtyPages: null, pagesSent: 0, record: null, error: null }),
          on: { CANCEL: { target: 'rollingBack', actions: assign({ error: ({ event }) => cancelled(event.reason) }) } },
          states: {
            setup: {
              initial: 'startingLog',
              states: {
                startingLog: {
                  invoke: {
                    src: 'startDirtyLog',
                    onDone: [
                      // x-svq=on: the queues are shadowed already, and stay so after the migration
                      { guard: { type: 'alreadyShadowed', params: ({ event }) => event.output }, target: '#migration.source.active.precopy' },
                      { target: 'switchingSvq' },
                    ],
                    onError: failTo('#migration.source.rollingBack'),
                  },
                },
                /** machines/svq-switch: passthrough → shadow (log_global_start). */
                switchingSvq: {
                  entry: 'enableSvq',
                  on: {
                    'xstate.snapshot.svq': [
                      {
                        guard: { type: 'svqIs', params: ({ event }) => ({ ...event, view: 'shadow' }) },
                        target: '#migration.source.active.precopy',
                        actions: [{ type: 'trackSvq', params: ({ event }) => event }, assign({ svqEnabledByUs: true })],
                      },
                      {
                        guard: { type: 'svqEnableFailed', params: ({ event }) => event },
                        target: '#migration.source.rollingBack',
                        actions: [
                          { type: 'trackSvq', params: ({ event }) => event },
                          { type: 'childError', params: ({ event }) => ({ what: 'switching the data queues to SVQ', error: event.snapshot.context.error }) },
                        ],
                      },
                      {
                        guard: { type: 'svqIs', params: ({ event }) => ({ ...event, view: 'failed' }) },
                        target: '#migration.source.rollingBack',
                        actions: [
                          { type: 'trackSvq', params: ({ event }) => event },
                          { type: 'childError', params: ({ event }) => ({ what: 'switching the data queues to SVQ', error: event.snapshot.context.error }) },
                        ],
                      },
                      { actions: { type: 'trackSvq', params: ({ event }) => event } },
                    ],
                  },
                },
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
                    // a shadow virtqueue that broke during the round fails it: the data path is dead until rebuilt
                    onError: failOrBreakTo('#migration.source.rollingBack'),
                  },
                },
              },
            },
            stopAndCopy: {
              initial: 'suspending',
              states: {
                /** device-lifecycle SUSPEND (vm_stop + VHOST_VDPA_SUSPEND). */
                suspending: {
                  entry: 'suspend',
                  on: {
                    'xstate.snapshot.device': [
                      { guard: { type: 'deviceIs', params: ({ event }) => ({ ...event, view: 'suspended' }) }, target: 'draining', actions: { type: 'trackDevice', params: ({ event }) => event } },
                      {
                        guard: { type: 'suspendRefused', params: ({ event }) => event },
                        target: '#migration.source.rollingBack',
                        actions: [
                          { type: 'trackDevice', params: ({ event }) => event },
                          { type: 'childError', params: ({ event }) => ({ what: 'VHOST_VDPA_SUSPEND', error: event.snapshot.context.error }) },
                        ],
                      },
                      deviceFailedTo('#migration.source.rollingBack'),
                      { actions: { type: 'trackDevice', params: ({ event }) => event } },
                    ],
                  },
                },
                /** SVQ stop (vhost_svq_stop): from here the shadow data path forwards nothing until restarted. */
                draining: {
                  invoke: {
                    src: 'drainInFlight',
                    onDone: [{ guard: { type: 'svqStopped', params: ({ event }) => event.output }, target: 'saving', actions: 'markDataPathDown' }, { target: 'saving' }],
                    // a drain that fails has stopped the call relay, maybe some queues: the data path is down
                    onError: failOrBreakTo('#migration.source.rollingBack'),
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
                    onError: failTo('#migration.source.rollingBack'),
                  },
                },
              },
            },
          },
        },
        /** Undo, in order: the dirty log, SVQ (if this migration switched it on), the suspend. */
        rollingBack: {
          initial: 'stoppingLog',
          states: {
            stoppingLog: {
              invoke: {
                src: 'stopDirtyLog',
                onDone: [
                  { guard: 'svqSwitching', target: 'awaitingSvq' },
                  { guard: 'svqFailed', target: 'recoveringSvq' },
                  { guard: 'svqOnByUs', target: 'switchingSvqOff' },
                  { guard: 'dataPathDown', target: 'restartingSvq' },
                  { guard: 'deviceSuspended', target: 'resuming' },
                  { target: '#migration.source.cancelled' },
                ],
                onError: { target: '#migration.failed', actions: assign({ error: ({ context, event }) => `${context.error ?? 'migration failed'}; rollback failed: ${errorText(event.error)}` }) },
              },
            },
            /** A switch the CANCEL overtook: let it finish, then undo it. */
            awaitingSvq: {
              on: {
                'xstate.snapshot.svq': [
                  { guard: { type: 'svqIs', params: ({ event }) => ({ ...event, view: 'shadow' }) }, target: 'switchingSvqOff', actions: [{ type: 'trackSvq', params: ({ event }) => event }, assign({ svqEnabledByUs: true })] },
                  { guard: { type: 'svqIs', params: ({ event }) => ({ ...event, view: 'failed' }) }, target: 'recoveringSvq', actions: { type: 'trackSvq', params: ({ event }) => event } },
                  { guard: { type: 'svqOffDeviceSuspended', params: ({ event }) => event }, target: 'resuming', actions: { type: 'trackSvq', params: ({ event }) => event } },
                  { guard: { type: 'svqOffDeviceRunning', params: ({ event }) => event }, target: '#migration.source.cancelled', actions: { type: 'trackSvq', params: ({ event }) => event } },
                  { actions: { type: 'trackSvq', params: ({ event }) => event } },
                ],
              },
            },
            /** machines/svq-switch: shadow → passthrough, in-flight chains handed back while suspended. */
            switchingSvqOff: {
              entry: 'disableSvq',
              on: {
                'xstate.snapshot.svq': [
                  {
                    guard: { type: 'svqOffDeviceSuspended', params: ({ event }) => event },
                    target: 'resuming',
                    actions: [{ type: 'trackSvq', params: ({ event }) => event }, assign({ svqEnabledByUs: false, dataPathDown: false })],
                  },
                  {
                    guard: { type: 'svqOffDeviceRunning', params: ({ event }) => event },
                    target: '#migration.source.cancelled',
                    actions: [{ type: 'trackSvq', params: ({ event }) => event }, assign({ svqEnabledByUs: false, dataPathDown: false })],
                  },
                  // a disable that rolled back to shadow, or failed: take the queues back by hand
                  { guard: { type: 'svqIs', params: ({ event }) => ({ ...event, view: 'shadow' }) }, target: 'recoveringSvq', actions: { type: 'trackSvq', params: ({ event }) => event } },
                  { guard: { type: 'svqIs', params: ({ event }) => ({ ...event, view: 'failed' }) }, target: 'recoveringSvq', actions: { type: 'trackSvq', params: ({ event }) => event } },
                  { actions: { type: 'trackSvq', params: ({ event }) => event } },
                ],
              },
            },
            recoveringSvq: {
              invoke: {
                src: 'recoverSvq',
                onDone: [
                  { guard: 'deviceSuspended', target: 'resuming', actions: assign({ svqEnabledByUs: false, dataPathDown: false }) },
                  { target: '#migration.source.cancelled', actions: assign({ svqEnabledByUs: false, dataPathDown: false }) },
                ],
                onError: { target: '#migration.failed', actions: assign({ error: ({ context, event }) => `${context.error ?? 'migration failed'}; rollback failed: ${errorText(event.error)}` }) },
              },
            },
            /**
             * x-svq=on, its shadow data path dead (drained, or broken): SVQ stop by hand, then a fresh
             * svq-switch (x-svq's SVQ is not this migration's child, which never switched it) starts it
             * again from the device's vring bases. Whatever stops it from running again ends `failed`.
             */
            restartingSvq: {
              initial: 'stopping',
              // onSnapshot relays the child's snapshots (`xstate.snapshot.svqRestart`); `starting` reacts to its stable modes
              invoke: { id: 'svqRestart', src: 'svqSwitch', input: ({ context }) => ({ queues: context.source.queues }), onSnapshot: {} },
              states: {
                /** recoverSvq: every queue on its guest ring at its exact position, shadow rings freed, device resumed. */
                stopping: {
                  invoke: {
                    src: 'recoverSvq',
                    onDone: { target: 'starting' },
                    onError: {
                      target: '#migration.failed',
                      actions: assign({ error: ({ context, event }) => `${context.error ?? 'migration failed'}; rollback failed: stopping the dead SVQ (x-svq=on): ${errorText(event.error)}` }),
                    },
                  },
                },
                /** machines/svq-switch ENABLE (trigger x-svq): suspend, read the vring bases, map, point, resume. */
                starting: {
                  entry: 'restartSvq',
                  on: {
                    'xstate.snapshot.svqRestart': [
                      { guard: { type: 'svqOnDeviceSuspended', params: ({ event }) => event }, target: '#migration.source.rollingBack.resuming', actions: assign({ dataPathDown: false }) },
                      { guard: { type: 'svqOnDeviceRunning', params: ({ event }) => event }, target: '#migration.source.cancelled', actions: assign({ dataPathDown: false }) },
                      {
                        guard: { type: 'svqEnableFailed', params: ({ event }) => event },
                        target: '#migration.failed',
                        actions: assign({
                          error: ({ context, event }) =>
                            `${context.error ?? 'migration failed'}; rollback failed: restarting SVQ (x-svq=on): ${event.snapshot.context.error ?? 'failed'}; the data queues run in passthrough`,
                        }),
                      },
                      {
                        guard: { type: 'svqIs', params: ({ event }) => ({ ...event, view: 'failed' }) },
                        target: '#migration.failed',
                        actions: assign({
                          error: ({ context, event }) =>
                            `${context.error ?? 'migration failed'}; rollback failed: restarting SVQ (x-svq=on): ${event.snapshot.context.error ?? 'failed'}; the data queues are in neither mode`,
                        }),
                      },
                    ],
                  },
                },
              },
            },
            /** device-lifecycle RESUME. */
            resuming: {
              entry: 'resume',
              on: {
                'xstate.snapshot.device': [
                  { guard: { type: 'deviceIs', params: ({ event }) => ({ ...event, view: 'running' }) }, target: '#migration.source.cancelled', actions: { type: 'trackDevice', params: ({ event }) => event } },
                  {
                    guard: { type: 'deviceIs', params: ({ event }) => ({ ...event, view: 'failed' }) },
                    target: '#migration.failed',
                    actions: [
                      { type: 'trackDevice', params: ({ event }) => event },
                      assign({ error: ({ context, event }) => `${context.error ?? 'migration failed'}; rollback failed: VHOST_VDPA_RESUME: ${event.snapshot.context.error ?? 'failed'}` }),
                    ],
                  },
                  { actions: { type: 'trackDevice', params: ({ event }) => event } },
                ],
              },
            },
          },
        },
        /** Rolled back: the source runs as before and may try again. */
        cancelled: {
          on: { MIGRATE: { target: 'active' } },
        },
        /** The record is out; the VM stops here unless the destination fails (ROLLBACK resumes it). */
        completed: {
          on: { ROLLBACK: { target: 'rollingBack', actions: assign({ error: ({ event }) => `destination failed${event.reason ? `: ${event.reason}` : ''}` }) } },
        },
      },
    },
    destination: {
      invoke: { id: 'device', src: 'deviceLifecycle', input: () => ({ wanted: '0x0' }), onSnapshot: { actions: { type: 'trackDevice', params: ({ event }) => event } } },
      initial: 'active',
      states: {
        active: {
          initial: 'loading',
          on: { CANCEL: { target: 'rollingBack', actions: assign({ error: ({ event }) => cancelled(event.reason) }) } },
          states: {
            loading: {
              invoke: {
                src: 'loadRecord',
                input: ({ context }) => ({ record: context.incoming }),
                onDone: { target: 'negotiating', actions: assign({ record: ({ event }) => event.output.record }) },
                // nothing touched the device yet: refuse the record, no rollback needed
                onError: failTo('#migration.destination.rejected'),
              },
            },
            /** device-lifecycle START: reset, §3.1.1 up to FEATURES_OK with the record's features. */
            negotiating: {
              entry: 'negotiate',
              on: {
                'xstate.snapshot.device': [
                  {
                    guard: { type: 'featuresMatchRecord', params: ({ event }) => event },
                    target: 'preparing',
                    actions: { type: 'trackDevice', params: ({ event }) => event },
                  },
                  {
                    guard: { type: 'deviceIs', params: ({ event }) => ({ ...event, view: 'accepted' }) },
                    target: '#migration.destination.rollingBack',
                    actions: [
                      { type: 'trackDevice', params: ({ event }) => event },
                      assign({
                        error: ({ self, context, event }) =>
                          failureIn(self, `negotiated ${event.snapshot.context.negotiated} but the record has ${context.record?.features.negotiated ?? '?'}`),
                      }),
                    ],
                  },
                  deviceFailedTo('#migration.destination.rollingBack'),
                  { actions: { type: 'trackDevice', params: ({ event }) => event } },
                ],
              },
            },
            preparing: {
              invoke: {
                src: 'prepareDevice',
                input: ({ context }) => ({ record: context.record! }),
                onDone: { target: 'startingDriver' },
                onError: failTo('#migration.destination.rollingBack'),
              },
            },
            /** device-lifecycle DRIVER_OK (the CVQ runs from here; the data queues stay disabled). */
            startingDriver: {
              entry: 'driverOk',
              on: {
                'xstate.snapshot.device': [
                  { guard: { type: 'deviceIs', params: ({ event }) => ({ ...event, view: 'running' }) }, target: 'restoringCvq', actions: { type: 'trackDevice', params: ({ event }) => event } },
                  deviceFailedTo('#migration.destination.rollingBack'),
                  { actions: { type: 'trackDevice', params: ({ event }) => event } },
                ],
              },
            },
            /** machines/cvq-command with the record's restore plan (vhost_vdpa_net_cvq_load). */
            restoringCvq: {
              entry: 'flushCvq',
              invoke: {
                id: 'cvq',
                src: 'cvqCommand',
                input: ({ context }) => ({
                  strategy: context.strategy,
                  ackTimeoutMs: context.ackTimeoutMs,
                  commands: context.record === null ? [] : E.getOrElseW(() => [])(recordCommands(context.record)),
                }),
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
                onError: failTo('#migration.destination.rollingBack'),
              },
            },
            enablingQueues: {
              invoke: {
                src: 'enableDataQueues',
                input: ({ context }) => ({ record: context.record! }),
                onDone: { target: 'verifying' },
                onError: failTo('#migration.destination.rollingBack'),
              },
            },
            verifying: {
              invoke: {
                src: 'verifyAgainstRecord',
                input: ({ context }) => ({ record: context.record!, applied: context.cvq?.applied ?? 0 }),
                onDone: [
                  { guard: { type: 'matchesRecord', params: ({ event }) => event.output }, target: '#migration.destination.running' },
                  {
                    target: '#migration.destination.rollingBack',
                    actions: assign({ error: ({ self, event }) => failureIn(self, `restored state differs from the record: ${event.output.differences.join('; ')}`) }),
                  },
                ],
                onError: failTo('#migration.destination.rollingBack'),
              },
            },
          },
        },
        /** Stop what a cancelled step left running, reset the device, drop what the restore set up. */
        rollingBack: {
          initial: 'quiescing',
          states: {
            quiescing: {
              invoke: {
                src: 'quiesceDestination',
                onDone: { target: 'resetting' },
                onError: { target: 'resetting' },
              },
            },
            /** device-lifecycle RESET (§2.4: write 0, wait until it reads back 0). */
            resetting: {
              entry: 'resetDevice',
              on: {
                'xstate.snapshot.device': [
                  { guard: { type: 'deviceIs', params: ({ event }) => ({ ...event, view: 'reset' }) }, target: 'tearingDown', actions: { type: 'trackDevice', params: ({ event }) => event } },
                  {
                    guard: { type: 'deviceIs', params: ({ event }) => ({ ...event, view: 'failed' }) },
                    target: '#migration.failed',
                    actions: [
                      { type: 'trackDevice', params: ({ event }) => event },
                      assign({ error: ({ context, event }) => `${context.error ?? 'migration failed'}; rollback failed: reset: ${event.snapshot.context.error ?? 'failed'}` }),
                    ],
                  },
                  { actions: { type: 'trackDevice', params: ({ event }) => event } },
                ],
              },
            },
            tearingDown: {
              invoke: {
                src: 'teardownDestination',
                onDone: { target: '#migration.destination.aborted' },
                onError: { target: '#migration.failed', actions: assign({ error: ({ context, event }) => `${context.error ?? 'migration failed'}; rollback failed: ${errorText(event.error)}` }) },
              },
            },
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
