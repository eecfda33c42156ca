/**
 * VIRTIO_NET_CTRL_MQ's VQ_PAIRS_SET (virtio 1.2 §5.1.6.5.5, "Device operation in multiqueue mode"):
 * `struct virtio_net_ctrl_mq { le16 virtqueue_pairs; }`, needing MQ. QEMU's `vhost_vdpa_net_load_mq`
 * sends it whenever MQ is negotiated, then `load_rss` (./rss.ts, the same class's other commands).
 */
import * as E from 'fp-ts/lib/Either.js';
import { produce } from 'immer';
import { putU16, shortPayload } from './wire.js';
import { defineClass, refuse, type JsonKit } from './types.js';

export const VIRTIO_NET_CTRL_MQ = 4;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;

export interface MqVqPairsSetCommand {
  readonly kind: 'MQ_VQ_PAIRS_SET';
  readonly pairs: number;
}

export const mq = defineClass<MqVqPairsSetCommand>()({
  name: 'MQ',
  cls: VIRTIO_NET_CTRL_MQ,
  section: '§5.1.6.5.5',
  commands: { MQ_VQ_PAIRS_SET: { code: VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, feature: 'MQ' } },

  payloadLength: () => 2,
  encode(cmd, buf, o) {
    putU16(buf, o, cmd.pairs);
    return o + 2;
  },
  decode(r, kind) {
    if (r.remaining < 2) return shortPayload('the le16 virtqueue_pairs');
    return { kind, pairs: r.u16() };
  },
  describe: (cmd) => `MQ_VQ_PAIRS_SET pairs=${cmd.pairs}`,

  apply(state, cmd, _negotiated, limits) {
    const p = cmd.pairs;
    if (p < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || p > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX || p > limits.maxQueuePairs) {
      return refuse(cmd.kind, 'queue-pairs', `${p} queue pairs outside 1..${limits.maxQueuePairs}`);
    }
    return p === state.queuePairs ? E.right(state) : E.right(produce(state, (d) => void (d.queuePairs = p)));
  },

  plan(state, { has }, out) {
    if (has('MQ')) out.push({ kind: 'MQ_VQ_PAIRS_SET', pairs: state.queuePairs });
  },

  // (RSS_CONFIG's max_tx_vq carries the queue pairs too: see rss.ts's view)
  view: (state, { has }) => (has('MQ') ? { queuePairs: state.queuePairs } : {}),

  maximal: () => ({ queuePairs: 8 }),

  json: (k: JsonKit) => ({
    props: { queuePairs: k.intIn('queuePairs', 1, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX) },
    fields: { queuePairs: 'queuePairs' },
    toState: (v) => ({ queuePairs: v.queuePairs }),
    fromState: (s) => ({ queuePairs: s.queuePairs }),
  }),

  /** Values near the limits (0, 0x8000, 0x8001) and over the whole le16. */
  arbitraries: ({ fc, u16 }) => [
    fc.record({ kind: fc.constant('MQ_VQ_PAIRS_SET' as const), pairs: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(0x8000, 0x8001, 0xffff), u16) }),
  ],
  arbitraryState: ({ fc }, { queuePairs }) => fc.constant({ queuePairs }),
});
