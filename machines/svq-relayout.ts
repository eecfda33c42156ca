/**
 * machines/svq-relayout — a live change of the shadow rings' geometry (entries per ring) while SVQ
 * stays on: shadow → shadow. machines/svq-switch moves a queue between the guest's ring and a shadow
 * ring; this one moves it from one shadow ring onto another, for a back end with no passthrough (a
 * VDUSE device's rings cannot be handed to vhost-vdpa: docs/vduse.md) or to shrink/grow the rings:
 *
 *   suspend → drain (SVQ stop: used entries returned to the guest, chains in flight kept as the
 *   hand-over, stash included) → map the new shadow rings → point the device's queues at them (base 0;
 *   SVQs rebuilt on them from the hand-over) → forward (SVQs started: the handed-over chains go first)
 *   → resume → release the old rings
 *
 * The suspended device has used every chain it consumed, so nothing is forwarded twice. A failure
 * before the device resumes rolls back onto the old rings (`progress` says what the switch did);
 * once it runs on the new ones, a failure to release the old rings is recorded and the new geometry
 * stays. A rollback that fails leaves `failed`: the owner must reset the device.
 */
import { assign, setup } from 'xstate';
import { errorText, failTo, failureIn, placeholder } from './actors.js';
import type { QueuesInput } from './svq-switch.js';

/** Steps of a relayout that have taken effect (what a rollback undoes, last first). */
export type RelayoutStep = 'suspended' | 'drained' | 'mapped' | 'pointed' | 'forwarding';

export interface SvqRelayoutInput {
  /** Queue indices whose shadow rings change. */
  readonly queues: readonly number[];
  /** Entries of the shadow rings in use at the start. */
  readonly size: number;
}

export interface SvqRelayoutContext {
  readonly queues: readonly number[];
  /** Entries of the shadow rings the device works on. */
  readonly size: number;
  /** Entries of the rings a relayout in progress moves to. */
  readonly target: number | null;
  readonly progress: readonly RelayoutStep[];
  /** Guest chains handed over by the last drain (in flight on the old rings or stashed). */
  readonly handedOver: number;
  /** Relayouts completed. */
  readonly relayouts: number;
  readonly error: string | null;
}

export type SvqRelayoutEvent = { type: 'RELAYOUT'; size: number } | { type: 'RESET' };

export interface RingsInput extends QueuesInput {
  /** Entries per shadow ring. */
  readonly size: number;
}
export interface RelayoutRollbackInput extends QueuesInput {
  /** The rings to return to. */
  readonly size: number;
  /** The rings the failed relayout moved to. */
  readonly target: number;
  readonly progress: readonly RelayoutStep[];
}

export const svqRelayoutMachine = setup({
  types: {
    context: {} as SvqRelayoutContext,
    events: {} as SvqRelayoutEvent,
    input: {} as SvqRelayoutInput,
  },
  actors: {
    /** VHOST_VDPA_SUSPEND. */
    suspendDevice: placeholder<void, void>('suspendDevice'),
    /** SVQ stop per queue: used entries returned to the guest, the chains in flight kept as the hand-over. */
    drainShadow: placeholder<{ handedOver: number }, QueuesInput>('drainShadow'),
    /** Allocate the new shadow rings and map them (IOVA tree, device IOTLB). */
    mapShadowRings: placeholder<void, RingsInput>('mapShadowRings'),
    /** VHOST_SET_VRING_NUM / _ADDR / _BASE 0 onto the new rings; SVQs rebuilt on them from the hand-over. */
    pointToShadow: placeholder<void, RingsInput>('pointToShadow'),
    /** Start the SVQs: the handed-over chains first, then the guest's new ones. */
    startForwarding: placeholder<void, QueuesInput>('startForwarding'),
    /** VHOST_VDPA_RESUME. */
    resumeDevice: placeholder<void, void>('resumeDevice'),
    /** Unmap and free the rings the device left. */
    unmapShadowRings: placeholder<void, RingsInput>('unmapShadowRings'),
    /** Undo the steps in `progress` (last first): back on the old rings, forwarding, device resumed. */
    rollback: placeholder<void, RelayoutRollbackInput>('rollback'),
  },
  actions: {
    markStep: assign({ progress: ({ context }, params: { step: RelayoutStep }) => [...context.progress, params.step] }),
    recordError: assign({ error: ({ self }, params: { error: unknown }) => failureIn(self, params.error) }),
  },
}).createMachine({
  id: 'svq-relayout',
  context: ({ input }) => ({
    queues: [...input.queues],
    size: input.size,
    target: null,
    progress: [],
    handedOver: 0,
    relayouts: 0,
    error: null,
  }),
  initial: 'shadow',
  states: {
    shadow: {
      entry: assign({ progress: [], target: null }),
      on: { RELAYOUT: { target: 'relayouting', actions: assign({ target: ({ event }) => event.size, error: null }) } },
    },
    relayouting: {
      initial: 'suspending',
      states: {
        suspending: {
          invoke: { src: 'suspendDevice', onDone: { target: 'draining', actions: { type: 'markStep', params: { step: 'suspended' } } }, onError: failTo('#svq-relayout.relayouting.rollingBack') },
        },
        draining: {
          invoke: {
            src: 'drainShadow',
            input: ({ context }) => ({ queues: context.queues }),
            onDone: { target: 'mapping', actions: [assign({ handedOver: ({ event }) => event.output.handedOver }), { type: 'markStep', params: { step: 'drained' } }] },
            onError: failTo('#svq-relayout.relayouting.rollingBack'),
          },
        },
        mapping: {
          invoke: {
            src: 'mapShadowRings',
            input: ({ context }) => ({ queues: context.queues, size: context.target! }),
            onDone: { target: 'pointing', actions: { type: 'markStep', params: { step: 'mapped' } } },
            onError: failTo('#svq-relayout.relayouting.rollingBack'),
          },
        },
        pointing: {
          invoke: {
            src: 'pointToShadow',
            input: ({ context }) => ({ queues: context.queues, size: context.target! }),
            onDone: { target: 'forwarding', actions: { type: 'markStep', params: { step: 'pointed' } } },
            onError: failTo('#svq-relayout.relayouting.rollingBack'),
          },
        },
        forwarding: {
          invoke: {
            src: 'startForwarding',
            input: ({ context }) => ({ queues: context.queues }),
            onDone: { target: 'resuming', actions: { type: 'markStep', params: { step: 'forwarding' } } },
            onError: failTo('#svq-relayout.relayouting.rollingBack'),
          },
        },
        resuming: {
          invoke: {
            src: 'resumeDevice',
            // the device runs on the new rings from here
            onDone: { target: 'releasing', actions: assign(({ context }) => ({ size: context.target!, target: context.size, relayouts: context.relayouts + 1 })) },
            onError: failTo('#svq-relayout.relayouting.rollingBack'),
          },
        },
        /** The old rings (now `target`) go; a failure here leaks them but the new geometry stays. */
        releasing: {
          invoke: {
            src: 'unmapShadowRings',
            input: ({ context }) => ({ queues: context.queues, size: context.target! }),
            onDone: { target: '#svq-relayout.shadow' },
            onError: { target: '#svq-relayout.shadow', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
          },
        },
        /** Undo what this relayout did: the old rings again, SVQs forwarding on them, device resumed. */
        rollingBack: {
          invoke: {
            src: 'rollback',
            input: ({ context }) => ({ queues: context.queues, size: context.size, target: context.target!, progress: context.progress }),
            onDone: { target: '#svq-relayout.shadow' },
            onError: {
              target: '#svq-relayout.failed',
              actions: assign({ error: ({ context, event }) => `${context.error ?? 'relayout failed'}; rollback to ${context.size} entries failed: ${errorText(event.error)}` }),
            },
          },
        },
      },
    },
    /** Neither geometry could be restored: the owner resets the device and starts it again. */
    failed: {
      on: { RESET: { target: 'shadow', actions: assign({ handedOver: 0 }) } },
    },
  },
});

export type SvqRelayoutMachine = typeof svqRelayoutMachine;
