/**
 * VIRTIO_NET_CTRL_ANNOUNCE (virtio 1.2 §5.1.6.5.4, "Gratuitous Packet Sending"): ANNOUNCE_ACK, no
 * payload, needing GUEST_ANNOUNCE. It clears VIRTIO_NET_S_ANNOUNCE in config status, which
 * `NetDeviceState` does not hold: nothing to restore (a migrated guest is asked to announce itself
 * again), so the plan step and the view are empty; the simulator keeps the pending flag.
 */
import * as E from 'fp-ts/lib/Either.js';
import { defineClass, type JsonKit } from './types.js';

export const VIRTIO_NET_CTRL_ANNOUNCE = 3;
export const VIRTIO_NET_CTRL_ANNOUNCE_ACK = 0;

export interface AnnounceAckCommand {
  readonly kind: 'ANNOUNCE_ACK';
}

export const announce = defineClass<AnnounceAckCommand>()({
  name: 'ANNOUNCE',
  cls: VIRTIO_NET_CTRL_ANNOUNCE,
  section: '§5.1.6.5.4',
  commands: { ANNOUNCE_ACK: { code: VIRTIO_NET_CTRL_ANNOUNCE_ACK, feature: 'GUEST_ANNOUNCE' } },

  payloadLength: () => 0,
  encode: (_cmd, _buf, o) => o,
  decode: (_r, kind) => ({ kind }),
  describe: () => 'ANNOUNCE_ACK',

  apply: (state) => E.right(state),
  plan() {},
  view: () => ({}),
  maximal: () => ({}),

  json: (_k: JsonKit) => ({ props: {}, fields: {}, toState: () => ({}), fromState: () => ({}) }),

  arbitraries: ({ fc }) => [fc.constant({ kind: 'ANNOUNCE_ACK' as const })],
  arbitraryState: ({ fc }) => fc.constant({}),

  sim: {
    // QEMU virtio_net_handle_announce: OK only while an announcement is pending, which it ends
    refuse: (_cmd, dev) => (dev.announcePending ? undefined : 'ANNOUNCE_ACK with no announcement pending'),
    applied(_cmd, dev) {
      dev.announcePending = false;
    },
  },
});
