/**
 * VIRTIO_NET_CTRL_NOTF_COAL (virtio 1.2 §5.1.6.5.9, notifications coalescing): TX_SET / RX_SET with
 * `struct virtio_net_ctrl_coal { le32 max_packets; le32 max_usecs; }`, needing NOTF_COAL. QEMU does not
 * restore it; the plan sends each direction after the VLANs, only when not all zero (the reset value).
 */
import { produce } from 'immer';
import * as E from 'fp-ts/lib/Either.js';
import { putU32, shortPayload } from './wire.js';
import { defineClass, type JsonKit } from './types.js';

export const VIRTIO_NET_CTRL_NOTF_COAL = 6;
export const VIRTIO_NET_CTRL_NOTF_COAL_TX_SET = 0;
export const VIRTIO_NET_CTRL_NOTF_COAL_RX_SET = 1;

export interface NotfCoalCommand {
  readonly kind: 'NOTF_COAL_TX_SET' | 'NOTF_COAL_RX_SET';
  readonly maxPackets: number;
  readonly maxUsecs: number;
}

export const notfCoal = defineClass<NotfCoalCommand>()({
  name: 'NOTF_COAL',
  cls: VIRTIO_NET_CTRL_NOTF_COAL,
  section: '§5.1.6.5.9',
  commands: {
    NOTF_COAL_TX_SET: { code: VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, feature: 'NOTF_COAL' },
    NOTF_COAL_RX_SET: { code: VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, feature: 'NOTF_COAL' },
  },

  payloadLength: () => 8,
  encode(cmd, buf, o) {
    putU32(buf, o, cmd.maxPackets);
    putU32(buf, o + 4, cmd.maxUsecs);
    return o + 8;
  },
  decode(r, kind) {
    if (r.remaining < 8) return shortPayload('max_packets / max_usecs');
    return { kind, maxPackets: r.u32(), maxUsecs: r.u32() };
  },
  describe: (cmd) => `${cmd.kind} max_packets=${cmd.maxPackets} max_usecs=${cmd.maxUsecs}`,

  apply(state, cmd) {
    const v = { maxPackets: cmd.maxPackets, maxUsecs: cmd.maxUsecs };
    const tx = cmd.kind === 'NOTF_COAL_TX_SET';
    return E.right(
      produce(state, (d) => {
        const c = d.coalescing ?? { tx: { maxPackets: 0, maxUsecs: 0 }, rx: { maxPackets: 0, maxUsecs: 0 } };
        if (tx) c.tx = v;
        else c.rx = v;
        d.coalescing = c;
      }),
    );
  },

  plan(state, { has }, out) {
    const c = state.coalescing;
    if (!has('NOTF_COAL') || c === null) return;
    if (c.tx.maxPackets !== 0 || c.tx.maxUsecs !== 0) out.push({ kind: 'NOTF_COAL_TX_SET', ...c.tx });
    if (c.rx.maxPackets !== 0 || c.rx.maxUsecs !== 0) out.push({ kind: 'NOTF_COAL_RX_SET', ...c.rx });
  },

  view(state, { has }) {
    const c = state.coalescing;
    return { coalescing: has('NOTF_COAL') && c !== null && (c.tx.maxPackets | c.tx.maxUsecs | c.rx.maxPackets | c.rx.maxUsecs) !== 0 ? c : null };
  },

  maximal: () => ({ coalescing: { tx: { maxPackets: 64, maxUsecs: 32 }, rx: { maxPackets: 16, maxUsecs: 8 } } }),

  json(k: JsonKit) {
    const coal = k.closed({ maxPackets: k.u32, maxUsecs: k.u32 }, 'Coalescing');
    return {
      props: { coalescing: k.nullable(k.closed({ tx: coal, rx: coal }, 'NotfCoal')) },
      fields: { coalescing: 'coalescing' },
      toState: (v) => ({ coalescing: v.coalescing }),
      fromState: (s) => ({ coalescing: s.coalescing === null ? null : { tx: { ...s.coalescing.tx }, rx: { ...s.coalescing.rx } } }),
    };
  },

  arbitraries: ({ fc, small }) => [fc.record({ kind: fc.constantFrom('NOTF_COAL_TX_SET' as const, 'NOTF_COAL_RX_SET' as const), maxPackets: small, maxUsecs: small })],
  arbitraryState({ fc, small }) {
    const coal = fc.record({ maxPackets: small, maxUsecs: small });
    return fc.record({ coalescing: fc.option(fc.record({ tx: coal, rx: coal }), { nil: null }) });
  },
});
