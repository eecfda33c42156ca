/**
 * VIRTIO_NET_CTRL_VLAN (virtio 1.2 §5.1.6.5.3, "VLAN Filtering"): VLAN_ADD / VLAN_DEL with a le16 vid,
 * needing CTRL_VLAN. The device keeps a 4096-bit filter; QEMU's `vhost_vdpa_net_load_vlan` restores it
 * with one VLAN_ADD per set bit, ascending — the restore's bulk (4094 commands in the benchmark).
 */
import * as E from 'fp-ts/lib/Either.js';
import { MAX_VLAN } from '../../virtio/net.js';
import { vlanFilterOf, vlanList } from '../../state/net-state.js';
import { putU16, shortPayload } from './wire.js';
import { defineClass, refuse, type JsonKit } from './types.js';

export const VIRTIO_NET_CTRL_VLAN = 2;
export const VIRTIO_NET_CTRL_VLAN_ADD = 0;
export const VIRTIO_NET_CTRL_VLAN_DEL = 1;

/** le16 vid. The codec carries any u16; the device refuses vid ≥ 4096. */
export interface VlanCommand {
  readonly kind: 'VLAN_ADD' | 'VLAN_DEL';
  readonly vid: number;
}

export const vlan = defineClass<VlanCommand>()({
  name: 'VLAN',
  cls: VIRTIO_NET_CTRL_VLAN,
  section: '§5.1.6.5.3',
  commands: {
    VLAN_ADD: { code: VIRTIO_NET_CTRL_VLAN_ADD, feature: 'CTRL_VLAN' },
    VLAN_DEL: { code: VIRTIO_NET_CTRL_VLAN_DEL, feature: 'CTRL_VLAN' },
  },

  payloadLength: () => 2,
  encode(cmd, buf, o) {
    putU16(buf, o, cmd.vid);
    return o + 2;
  },
  decode(r, kind) {
    if (r.remaining < 2) return shortPayload('the le16 vid');
    return { kind, vid: r.u16() };
  },
  describe: (cmd) => `${cmd.kind} vid=${cmd.vid}`,

  apply(state, cmd) {
    const vid = cmd.vid;
    if (vid >= MAX_VLAN) return refuse(cmd.kind, 'vlan-id', `vid ${vid} ≥ ${MAX_VLAN}`);
    const w = vid >> 5;
    const bit = 1 << (vid & 31);
    const word = state.vlanFilter[w]!;
    const next = (cmd.kind === 'VLAN_ADD' ? word | bit : word & ~bit) >>> 0;
    if (next === word) return E.right(state);
    // The restore's bulk (one VLAN_ADD per vid): structural sharing by hand, as immer would produce
    // it (a new frozen filter and top-level object, every other field shared) at a fraction of the cost.
    // (Spread, not slice: V8 copies a frozen array far faster this way.)
    const filter = [...state.vlanFilter];
    filter[w] = next;
    return E.right(Object.freeze({ ...state, vlanFilter: Object.freeze(filter) }));
  },

  plan(state, { has }, out) {
    if (has('CTRL_VLAN')) for (const vid of vlanList(state.vlanFilter)) out.push({ kind: 'VLAN_ADD', vid });
  },

  view: (state, { has, reset }) => ({ vlanFilter: has('CTRL_VLAN') ? state.vlanFilter : reset.vlanFilter }),

  /** Every VLAN id but 0 and 4095: 4094 VLAN_ADDs. */
  maximal: () => ({ vlanFilter: vlanFilterOf(Array.from({ length: 4094 }, (_, i) => i + 1)) }),

  json: (k: JsonKit) => ({
    props: { vlans: k.arrayOf(k.intIn('vid', 0, MAX_VLAN - 1), 'vid[]') },
    fields: { vlans: 'vlanFilter' },
    toState: (v) => ({ vlanFilter: vlanFilterOf(v.vlans as number[]) }),
    fromState: (s) => ({ vlans: vlanList(s.vlanFilter) }),
  }),

  arbitraries: ({ fc, u16 }) => [
    fc.record({ kind: fc.constantFrom('VLAN_ADD' as const, 'VLAN_DEL' as const), vid: fc.oneof(fc.integer({ min: 0, max: 4095 }), fc.constantFrom(4096, 0xffff), u16) }),
  ],
  /** Filters with the edge ids 0 and 4095. */
  arbitraryState: ({ fc }) =>
    fc.record({
      vlanFilter: fc
        .oneof(fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 40 }), fc.constant([0, 4095]), fc.constant([]))
        .map((v) => vlanFilterOf(v)),
    }),
});
