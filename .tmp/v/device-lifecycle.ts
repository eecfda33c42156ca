/**
 * machines/device-lifecycle — the virtio status life of a device as its driver drives it
 * (virtio 1.2 §2.1 device status, §3.1.1 driver initialization, §2.4 reset):
 *
 *   reset → ACKNOWLEDGE → DRIVER → negotiation (read offer, write accepted) → FEATURES_OK (write, re-read:
 *   the device may refuse; accepted: the driver sets up its queues) → DRIVER_OK (write, running ⇄
 *   suspended via vDPA SUSPEND/RESUME)
 *
 * START resets the device first (§3.1.1 step 1) and may name the features to negotiate (a migration
 * destination learns them from the record). ATTACH takes over a device another driver instance brought
 * up (a migration source: its status is read, and must show DRIVER_OK).
 * plus NEEDS_RESET (the device reports an error), FAILED (the driver gives up) and RESET from anywhere.
 * Pure: every status/feature access is an actor bound with `provide`; guards come from the reducers of
 * src/state/lifecycle.ts. Context is JSON (feature masks as `0x…` strings).
 */
import * as E from 'fp-ts/lib/Either.js';
import { assign, setup } from 'xstate';
import { STATUS, featuresAccepted, fromHex, negotiate, toHex } from '../../src/state/lifecycle.js';
import { failTo, failureIn, placeholder } from './actors.js';

export interface LifecycleInput {
  /** Features the driver wants (`0x…`). */
  readonly wanted: string;
  /** Features negotiation must keep, or it fails (`0x…`; default VERSION_1). */
  readonly required?: string;
  /** Bound for the reset handshake (§2.4.2: wait until status reads back 0). */
  readonly resetTimeoutMs?: number;
}

export interface LifecycleContext {
  readonly wanted: string;
  readonly required: string;
  readonly resetTimeoutMs: number;
  /** Device features read in negotiation. */
  readonly offered: string;
  /** Features written to the device (offered ∩ wanted, dependencies honoured). */
  readonly negotiated: string;
  /** Last status byte written or read. */
  readonly status: number;
  readonly error: string | null;
}

export type LifecycleEvent =
  /** Reset, then initialize; `wanted` / `required` (`0x…`) replace the input's. */
  | { type: 'START'; wanted?: string; required?: string }
  /** Take over a running device whose features were negotiated as given. */
  | { type: 'ATTACH'; offered: string; negotiated: string }
  /** The driver finished its setup after FEATURES_OK: set DRIVER_OK. */
  | { type: 'DRIVER_OK' }
  | { type: 'DEVICE_ERROR' }
  | { type: 'FAIL'; reason?: string }
  | { type: 'SUSPEND' }
  | { type: 'RESUME' }
  | { type: 'RESET' };

export interface StatusOutput {
  readonly status: number;
}
export interface FeaturesOutput {
  readonly features: string;
}

const negotiated = (ctx: LifecycleContext, offered: string) =>
  E.chain((o: bigint) =>
    E.chain((w: bigint) => E.chain((r: bigint) => E.mapLeft((e: { message: string }) => e.message)(negotiate(o, w, r)))(fromHex(ctx.required)))(fromHex(ctx.wanted)),
  )(fromHex(offered));

export const deviceLifecycleMachine = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
  },
  actors: {
    /** Write status 0 and wait until it reads back 0 (§2.4.2). */
    resetDevice: placeholder<StatusOutput, { timeoutMs: number }>('resetDevice'),
    /** VHOST_VDPA_SET_STATUS; outputs the status written. */
    writeStatus: placeholder<StatusOutput, { status: number }>('writeStatus'),
    /** VHOST_VDPA_GET_STATUS. */
    readStatus: placeholder<StatusOutput, void>('readStatus'),
    /** VHOST_GET_FEATURES. */
    readFeatures: placeholder<FeaturesOutput, void>('readFeatures'),
    /** VHOST_SET_FEATURES. */
    writeFeatures: placeholder<FeaturesOutput, { features: string }>('writeFeatures'),
    /** VHOST_VDPA_SUSPEND / VHOST_VDPA_RESUME. */
    suspendDevice: placeholder<void, void>('suspendDevice'),
    resumeDevice: placeholder<void, void>('resumeDevice'),
  },
  guards: {
    /** §3.1.1 step 4 + §5.1.3.1: the offer leaves a valid subset with every required feature. */
    negotiable: ({ context }, params: { offered: string }) => E.isRight(negotiated(context, params.offered)),
    /** §3.1.1 step 6: FEATURES_OK still set on re-read. */
    featuresAccepted: (_, params: { status: number }) => E.isRight(featuresAccepted(params.status)),
    /** A running device: DRIVER_OK set, neither FAILED nor NEEDS_RESET (§2.1). */
    driverOkSet: (_, params: { status: number }) =>
      (params.status & STATUS.DRIVER_OK) !== 0 && (params.status & (STATUS.FAILED | STATUS.NEEDS_RESET)) === 0,
  },
  actions: {
    recordError: assign({ error: ({ self }, params: { error: unknown }) => failureIn(self, params.error) }),
    setStatus: assign({ status: (_, params: { status: number }) => params.status }),
  },
}).createMachine({
  id: 'device-lifecycle',
  context: ({ input }) => ({
    wanted: input.wanted,
    required: input.required ?? toHex(1n << 32n),
    resetTimeoutMs: input.resetTimeoutMs ?? 1000,
    offered: '0x0',
    negotiated: '0x0',
    status: 0,
    error: null,
  }),
  initial: 'reset',
  // §2.4: the driver may reset the device from any state.
  on: { RESET: { target: '.resetting' } },
  states: {
    reset: {
      on: {
        START: {
          target: 'starting',
          actions: assign(({ context, event }) => ({ error: null, wanted: event.wanted ?? context.wanted, required: event.required ?? context.required })),
        },
        ATTACH: { target: 'attaching', actions: assign(({ event }) => ({ error: null, offered: event.offered, negotiated: event.negotiated })) },
      },
    },
    // §3.1.1 step 1: reset the device (write 0, wait until it reads back 0)
    starting: {
      invoke: {
        src: 'resetDevice',
        input: ({ context }) => ({ timeoutMs: context.resetTimeoutMs }),
        onDone: { target: 'active', actions: assign({ status: 0, offered: '0x0', negotiated: '0x0' }) },
        onError: failTo('failed'),
      },
    },
    attaching: {
      invoke: {
        src: 'readStatus',
        onDone: [
          { guard: { type: 'driverOkSet', params: ({ event }) => event.output }, target: '#device-lifecycle.active.driverOk.running', actions: { type: 'setStatus', params: ({ event }) => event.output } },
          {
            target: 'reset',
            actions: assign(({ event }) => ({ status: event.output.status, offered: '0x0', negotiated: '0x0', error: `cannot attach: device status 0x${event.output.status.toString(16)} is not running (DRIVER_OK)` })),
          },
        ],
        onError: failTo('reset'),
      },
    },
    resetting: {
      invoke: {
        src: 'resetDevice',
        input: ({ context }) => ({ timeoutMs: context.resetTimeoutMs }),
        onDone: { target: 'reset', actions: assign({ status: 0, offered: '0x0', negotiated: '0x0', error: null }) },
        onError: failTo('failed'),
      },
    },
    active: {
      initial: 'acknowledge',
      on: {
        // §2.1.2: the device sets NEEDS_RESET and notifies a configuration change.
        DEVICE_ERROR: { target: 'needsReset' },
        FAIL: { target: 'failed', actions: assign({ error: ({ event }) => event.reason ?? 'driver gave up' }) },
      },
      states: {
        acknowledge: {
          invoke: {
            src: 'writeStatus',
            input: () => ({ status: STATUS.ACKNOWLEDGE }),
            onDone: { target: 'driver', actions: { type: 'setStatus', params: ({ event }) => event.output } },
            onError: failTo('#device-lifecycle.failed'),
          },
        },
        driver: {
          invoke: {
            src: 'writeStatus',
            input: ({ context }) => ({ status: context.status | STATUS.DRIVER }),
            onDone: { target: 'negotiation', actions: { type: 'setStatus', params: ({ event }) => event.output } },
            onError: failTo('#device-lifecycle.failed'),
          },
        },
        negotiation: {
          initial: 'readFeatures',
          states: {
            readFeatures: {
              invoke: {
                src: 'readFeatures',
                onDone: [
                  {
                    guard: { type: 'negotiable', params: ({ event }) => ({ offered: event.output.features }) },
                    target: 'writeFeatures',
                    actions: assign(({ context, event }) => ({
                      offered: event.output.features,
                      negotiated: E.getOrElse(() => '0x0')(E.map(toHex)(negotiated(context, event.output.features))),
                    })),
                  },
                  {
                    target: '#device-lifecycle.failed',
                    actions: assign(({ context, event }) => ({
                      offered: event.output.features,
                      error: E.fold((m: string) => m, () => '')(negotiated(context, event.output.features)),
                    })),
                  },
                ],
                onError: failTo('#device-lifecycle.failed'),
              },
            },
            writeFeatures: {
              invoke: {
                src: 'writeFeatures',
                input: ({ context }) => ({ features: context.negotiated }),
                onDone: { target: '#device-lifecycle.active.featuresOk' },
                onError: failTo('#device-lifecycle.failed'),
              },
            },
          },
        },
        featuresOk: {
          initial: 'write',
          states: {
            write: {
              invoke: {
                src: 'writeStatus',
                input: ({ context }) => ({ status: context.status | STATUS.FEATURES_OK }),
                onDone: { target: 'reread', actions: { type: 'setStatus', params: ({ event }) => event.output } },
                onError: failTo('#device-lifecycle.failed'),
              },
            },
            reread: {
              invoke: {
                src: 'readStatus',
                onDone: [
                  {
                    guard: { type: 'featuresAccepted', params: ({ event }) => event.output },
                    target: 'accepted',
                    actions: { type: 'setStatus', params: ({ event }) => event.output },
                  },
                  {
                    target: '#device-lifecycle.failed',
                    actions: assign(({ event }) => ({
                      status: event.output.status,
                      error: E.fold((e: { message: string }) => e.message, () => '')(featuresAccepted(event.output.status)),
                    })),
                  },
                ],
                onError: failTo('#device-lifecycle.failed'),
              },
            },
            // §3.1.1 step 7: device-specific setup (virtqueues, the shadow CVQ, ASIDs) before DRIVER_OK
            accepted: {
              on: { DRIVER_OK: { target: '#device-lifecycle.active.driverOk' } },
            },
          },
        },
        driverOk: {
          initial: 'write',
          states: {
            write: {
              invoke: {
                src: 'writeStatus',
                input: ({ context }) => ({ status: context.status | STATUS.DRIVER_OK }),
                onDone: { target: 'running', actions: { type: 'setStatus', params: ({ event }) => event.output } },
                onError: failTo('#device-lifecycle.failed'),
              },
            },
            running: {
              on: { SUSPEND: { target: 'suspending', actions: assign({ error: null }) } },
            },
            suspending: {
              invoke: {
                src: 'suspendDevice',
                onDone: { target: 'suspended' },
                // a device without SUSPEND keeps running; the caller sees why
                onError: failTo('running'),
              },
            },
            suspended: {
              on: { RESUME: { target: 'resuming' } },
            },
            resuming: {
              invoke: {
                src: 'resumeDevice',
                onDone: { target: 'running' },
                onError: failTo('#device-lifecycle.failed'),
              },
            },
          },
        },
      },
    },
    needsReset: {
      entry: assign({ status: ({ context }) => context.status | STATUS.NEEDS_RESET, error: 'device set NEEDS_RESET' }),
    },
    failed: {
      initial: 'reporting',
      states: {
        // §2.1: the driver sets FAILED when it gives up on the device.
        reporting: {
          invoke: {
            src: 'writeStatus',
            input: ({ context }) => ({ status: context.status | STATUS.FAILED }),
            onDone: { target: 'givenUp', actions: { type: 'setStatus', params: ({ event }) => event.output } },
            onError: { target: 'givenUp' },
          },
        },
        givenUp: {},
      },
    },
  },
});

export type DeviceLifecycleMachine = typeof deviceLifecycleMachine;
