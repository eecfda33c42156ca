/**
 * VIRTIO_NET_CTRL_GUEST_OFFLOADS (virtio 1.2 §5.1.6.5.6.1, offloads state configuration):
 * GUEST_OFFLOADS_SET with a le64 mask (bit i = guest-offload feature bit i), needing
 * CTRL_GUEST_OFFLOADS. Reset enables every negotiated guest offload, so QEMU's
 * `vhost_vdpa_net_load_offloads` sends only a difference.
 */
import * as E from 'fp-ts/lib/Either.js';
import { produce } from 'immer';
import { GUEST_OFFLOAD_FEATURES } from '../../virtio/features.js';
import { putU32, shortPayload } from './wire.js';
import { defineClass, refuse, type JsonKit } from './types.js';

export const VIRTIO_NET_CTRL_GUEST_OFFLOADS = 5;
export const VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET = 0;

export interface GuestOffloadsSetCommand {
  readonly kind: 'GUEST_OFFLOADS_SET';
  readonly offloads: bigint;
}

export const offloads = defineClass<GuestOffloadsSetCommand>()({
  name: 'GUEST_OFFLOADS',
  cls: VIRTIO_NET_CTRL_GUEST_OFFLOADS,
  section: '§5.1.6.5.6',
  commands: { GUEST_OFFLOADS_SET: { code: VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, feature: 'CTRL_GUEST_OFFLOADS' } },

  payloadLength: () => 8,
  encode(cmd, buf, o) {
    putU32(buf, o, Number(cmd.offloads & 0xffffffffn));
    putU32(buf, o + 4, Number((cmd.offloads >> 32n) & 0xffffffffn));
    return o + 8;
  },
  decode(r, kind) {
    if (r.remaining < 8) return shortPayload('the le64 offloads');
    const lo = r.u32();
    const hi = r.u32();
    return { kind, offloads: (BigInt(hi) << 32n) | BigInt(lo) };
  },
  describe: (cmd) => `GUEST_OFFLOADS_SET 0x${cmd.offloads.toString(16)}`,

  apply(state, cmd, negotiated) {
    const allowed = negotiated & GUEST_OFFLOAD_FEATURES;
    const extra = cmd.offloads & ~allowed;
    if (extra !== 0n) {
      return refuse(cmd.kind, 'offloads', `offloads 0x${extra.toString(16)} not among the negotiated guest offloads 0x${allowed.toString(16)} (§5.1.6.5.6.1)`);
    }
    return E.right(produce(state, (d) => void (d.guestOffloads = cmd.offloads)));
  },

  // only offloads the destination negotiated can be enabled; equal to the reset value = nothing to send
  plan(state, { has, negotiated }, out) {
    if (!has('CTRL_GUEST_OFFLOADS')) return;
    const negotiatedOffloads = negotiated & GUEST_OFFLOAD_FEATURES;
    const offloads = state.guestOffloads & negotiatedOffloads;
    if (offloads !== negotiatedOffloads) out.push({ kind: 'GUEST_OFFLOADS_SET', offloads });
  },

  view: (state, { has, negotiated, reset }) => ({
    guestOffloads: has('CTRL_GUEST_OFFLOADS') ? state.guestOffloads & negotiated & GUEST_OFFLOAD_FEATURES : reset.guestOffloads,
  }),

  maximal: () => ({ guestOffloads: 0x182n }),

  /**
   * "0x…" le64. Any 64-bit mask decodes; only the guest-offload features the destination negotiates
   * (GUEST_CSUM … GUEST_USO6) can be restored, and the view and the plan mask the rest.
   */
  json: (k: JsonKit) => ({
    props: { guestOffloads: k.offloadsHex },
    fields: { guestOffloads: 'guestOffloads' },
    toState: (v) => ({ guestOffloads: v.guestOffloads }),
    fromState: (s) => ({ guestOffloads: `0x${s.guestOffloads.toString(16)}` }),
  }),

  arbitraries: ({ fc, u64, subsetOf }) => [fc.record({ kind: fc.constant('GUEST_OFFLOADS_SET' as const), offloads: fc.oneof(u64, subsetOf(GUEST_OFFLOAD_FEATURES)) })],
  /** The profile's offloads or any 64 bits (the device keeps what it was given). */
  arbitraryState: ({ fc, u64, subsetOf }) => fc.record({ guestOffloads: fc.oneof(subsetOf(GUEST_OFFLOAD_FEATURES), u64) }),
});
