/**
 * machines/svq-switch — passthrough ⇄ shadow virtqueue mode for a device's queues, as QEMU switches
 * vhost-vdpa in and out of SVQ (hw/virtio/vhost-shadow-virtqueue.c, net/vhost-vdpa.c):
 *
 *   enable:  suspend → read each vring base → allocate + map the shadow rings in the IOVA tree →
 *            point the device at the shadow rings (bases from the guest's) → restart
 *   disable: stop → drain / hand back in-flight buffers → write the indexes back to the guest's rings →
 *            unmap → point the device at the guest rings → restart
 *
 * A failure at any step rolls back to the mode the switch came from; `progress` says which steps have
 * taken effect so the rollback actor undoes exactly those (nothing stays mapped that should not be).
 * Triggers (QEMU): migration setup enables, precopy failure disables, `x-svq=on` forces shadow mode.
 */
import { assign, setup } from 'xstate';
import { errorText, failTo, failureIn, placeholder } from './actors.js';

export type SvqMode = 'passthrough' | 'shadow';
export type SvqTrigger = 'migration' | 'x-svq' | 'precopy-failed' | 'request';
/** Steps of a switch that have taken effect (and that a rollback must undo, last first). */
export type SvqStep = 'suspended' | 'bases-read' | 'mapped' | 'pointed' | 'drained' | 'written-back' | 'unmapped';

export interface SvqSwitchInput {
  /** Queue indices to switch (data queues, and the CVQ when it is shadowed too). */
  readonly queues: readonly number[];
}

export interface SvqSwitchContext {
  readonly queues: readonly number[];
  readonly mode: SvqMode;
  readonly trigger: SvqTrigger | null;
  /** vring bases read at suspend (index i ↔ queues[i]). */
  readonly bases: readonly number[];
  /** Steps taken by the switch in progress. */
  readonly progress: readonly SvqStep[];
  /** Buffers handed back to the guest by the last disable. */
  readonly handedBack: number;
  readonly error: string | null;
}

export type SvqSwitchEvent =
  | { type: 'ENABLE'; trigger?: SvqTrigger }
  | { type: 'DISABLE'; trigger?: SvqTrigger }
  | { type: 'RESET' };

export interface QueuesInput {
  readonly queues: readonly number[];
}
export interface BasesInput extends QueuesInput {
  readonly bases: readonly number[];
}
export interface RollbackInput extends QueuesInput {
  /** The mode to return to. */
  readonly to: SvqMode;
  readonly progress: readonly SvqStep[];
  readonly bases: readonly number[];
}


export const svqSwitchMachine = setup({
  types: {
    context: {} as SvqSwitchContext,
    events: {} as SvqSwitchEvent,
    input: {} as SvqSwitchInput,
  },
  actors: {
    /** VHOST_VDPA_SUSPEND (the device stops processing, rings stay as they are). */
    suspendDevice: placeholder<void, void>('suspendDevice'),
    /** VHOST_GET_VRING_BASE per queue. */
    readVringBases: placeholder<{ bases: number[] }, QueuesInput>('readVringBases'),
    /** Allocate the shadow rings, map them in the IOVA tree and the device IOTLB. */
    mapShadowRings: placeholder<void, BasesInput>('mapShadowRings'),
    /** VHOST_SET_VRING_ADDR / _BASE to the shadow rings, start forwarding. */
    pointToShadow: placeholder<void, BasesInput>('pointToShadow'),
    /** VHOST_VDPA_RESUME. */
    resumeDevice: placeholder<void, void>('resumeDevice'),
    /** Drain the shadow rings: forward used buffers, hand in-flight ones back to the guest. */
    drainShadow: placeholder<{ handedBack: number; bases: number[] }, QueuesInput>('drainShadow'),
    /** Write used idx / avail positions back to the guest's rings. */
    writeBackIndexes: placeholder<void, BasesInput>('writeBackIndexes'),
    /** Unmap and free the shadow rings. */
    unmapShadowRings: placeholder<void, QueuesInput>('unmapShadowRings'),
    /** VHOST_SET_VRING_ADDR / _BASE back to the guest rings. */
    pointToGuest: placeholder<void, BasesInput>('pointToGuest'),
    /** Undo the steps in `progress` (last first) and restart the device in mode `to`. */
    rollback: placeholder<void, RollbackInput>('rollback'),
  },
  actions: {
    markStep: assign({ progress: ({ context }, params: { step: SvqStep }) => [...context.progress, params.step] }),
    recordError: assign({ error: ({ self }, params: { error: unknown }) => failureIn(self, params.error) }),
  },
}).createMachine({
  id: 'svq-switch',
  context: ({ input }) => ({
    queues: [...input.queues],
    mode: 'passthrough',
    trigger: null,
    bases: [],
    progress: [],
    handedBack: 0,
    error: null,
  }),
  initial: 'passthrough',
  states: {
    passthrough: {
      entry: assign({ mode: 'passthrough', progress: [] }),
      on: { ENABLE: { target: 'enabling', actions: assign({ trigger: ({ event }) => event.trigger ?? 'request', error: null }) } },
    },
    enabling: {
      initial: 'suspending',
      states: {
        suspending: {
          invoke: { src: 'suspendDevice', onDone: { target: 'readingBases', actions: { type: 'markStep', params: { step: 'suspended' } } }, onError: failTo('#svq-switch.enabling.rollingBack') },
        },
        readingBases: {
          invoke: {
            src: 'readVringBases',
            input: ({ context }) => ({ queues: context.queues }),
            onDone: { target: 'mapping', actions: [assign({ bases: ({ event }) => event.output.bases }), { type: 'markStep', params: { step: 'bases-read' } }] },
            onError: failTo('#svq-switch.enabling.rollingBack'),
          },
        },
        mapping: {
          invoke: {
            src: 'mapShadowRings',
            input: ({ context }) => ({ queues: context.queues, bases: context.bases }),
            onDone: { target: 'pointing', actions: { type: 'markStep', params: { step: 'mapped' } } },
            onError: failTo('#svq-switch.enabling.rollingBack'),
          },
        },
        pointing: {
          invoke: {
            src: 'pointToShadow',
            input: ({ context }) => ({ queues: context.queues, bases: context.bases }),
            onDone: { target: 'restarting', actions: { type: 'markStep', params: { step: 'pointed' } } },
            onError: failTo('#svq-switch.enabling.rollingBack'),
          },
        },
        restarting: {
          invoke: { src: 'resumeDevice', onDone: { target: '#svq-switch.shadow' }, onError: failTo('#svq-switch.enabling.rollingBack') },
        },
        /** Undo what this switch did, back to passthrough mode. */
        rollingBack: {
          invoke: {
            src: 'rollback',
            input: ({ context }) => ({ queues: context.queues, to: 'passthrough' as const, progress: context.progress, bases: context.bases }),
            onDone: { target: '#svq-switch.passthrough' },
            onError: {
              target: '#svq-switch.failed',
              actions: assign({ error: ({ context, event }) => `${context.error ?? 'switch failed'}; rollback to passthrough failed: ${errorText(event.error)}` }),
            },
          },
        },
      },
    },
    shadow: {
      entry: assign({ mode: 'shadow', progress: [] }),
      on: { DISABLE: { target: 'disabling', actions: assign({ trigger: ({ event }) => event.trigger ?? 'request', error: null }) } },
    },
    disabling: {
      initial: 'stopping',
      states: {
        stopping: {
          invoke: { src: 'suspendDevice', onDone: { target: 'draining', actions: { type: 'markStep', params: { step: 'suspended' } } }, onError: failTo('#svq-switch.disabling.rollingBack') },
        },
        draining: {
          invoke: {
            src: 'drainShadow',
            input: ({ context }) => ({ queues: context.queues }),
            onDone: {
              target: 'writingBack',
              actions: [assign({ handedBack: ({ event }) => event.output.handedBack, bases: ({ event }) => event.output.bases }), { type: 'markStep', params: { step: 'drained' } }],
            },
            onError: failTo('#svq-switch.disabling.rollingBack'),
          },
        },
        writingBack: {
          invoke: {
            src: 'writeBackIndexes',
            input: ({ context }) => ({ queues: context.queues, bases: context.bases }),
            onDone: { target: 'unmapping', actions: { type: 'markStep', params: { step: 'written-back' } } },
            onError: failTo('#svq-switch.disabling.rollingBack'),
          },
        },
        unmapping: {
          invoke: {
            src: 'unmapShadowRings',
            input: ({ context }) => ({ queues: context.queues }),
            onDone: { target: 'pointing', actions: { type: 'markStep', params: { step: 'unmapped' } } },
            onError: failTo('#svq-switch.disabling.rollingBack'),
          },
        },
        pointing: {
          invoke: {
            src: 'pointToGuest',
            input: ({ context }) => ({ queues: context.queues, bases: context.bases }),
            onDone: { target: 'restarting', actions: { type: 'markStep', params: { step: 'pointed' } } },
            onError: failTo('#svq-switch.disabling.rollingBack'),
          },
        },
        restarting: {
          invoke: { src: 'resumeDevice', onDone: { target: '#svq-switch.passthrough' }, onError: failTo('#svq-switch.disabling.rollingBack') },
        },
        /** Undo what this switch did, back to shadow mode. */
        rollingBack: {
          invoke: {
            src: 'rollback',
            input: ({ context }) => ({ queues: context.queues, to: 'shadow' as const, progress: context.progress, bases: context.bases }),
            onDone: { target: '#svq-switch.shadow' },
            onError: {
              target: '#svq-switch.failed',
              actions: assign({ error: ({ context, event }) => `${context.error ?? 'switch failed'}; rollback to shadow failed: ${errorText(event.error)}` }),
            },
          },
        },
      },
    },
    /** Neither mode could be restored: the device needs a reset by its owner. */
    failed: {
      on: { RESET: { target: 'passthrough', actions: assign({ bases: [], handedBack: 0 }) } },
    },
  },
});

export type SvqSwitchMachine = typeof svqSwitchMachine;
