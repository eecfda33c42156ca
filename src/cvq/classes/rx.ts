/**
 * VIRTIO_NET_CTRL_RX (virtio 1.2 §5.1.6.5.1, "Packet Receive Filtering"): six u8 on/off switches.
 * PROMISC and ALLMULTI need CTRL_RX, the other four CTRL_RX_EXTRA. QEMU restores them in
 * `vhost_vdpa_net_load_rx` against the reset defaults (promiscuous on, everything else off).
 */
import * as E from 'fp-ts/lib/Either.js';
import { produce } from 'immer';
import * as t from 'io-ts';
import type { RxMode } from '../../state/net-state.js';
import { decodeFail, shortPayload } from './wire.js';
import { defineClass, type JsonKit } from './types.js';

export const VIRTIO_NET_CTRL_RX = 0;
export const VIRTIO_NET_CTRL_RX_PROMISC = 0;
export const VIRTIO_NET_CTRL_RX_ALLMULTI = 1;
export const VIRTIO_NET_CTRL_RX_ALLUNI = 2;
export const VIRTIO_NET_CTRL_RX_NOMULTI = 3;
export const VIRTIO_NET_CTRL_RX_NOUNI = 4;
export const VIRTIO_NET_CTRL_RX_NOBCAST = 5;

/** The six commands, in command-code order. */
export const RX_KINDS = ['RX_PROMISC', 'RX_ALLMULTI', 'RX_ALLUNI', 'RX_NOMULTI', 'RX_NOUNI', 'RX_NOBCAST'] as const;
export type RxKind = (typeof RX_KINDS)[number];

/** u8 on/off of a VIRTIO_NET_CTRL_RX command. */
export interface RxCommand {
  readonly kind: RxKind;
  readonly on: boolean;
}

/** The `RxMode` field each command switches. */
export const RX_FIELD: { readonly [K in RxKind]: keyof RxMode } = {
  RX_PROMISC: 'promisc',
  RX_ALLMULTI: 'allmulti',
  RX_ALLUNI: 'alluni',
  RX_NOMULTI: 'nomulti',
  RX_NOUNI: 'nouni',
  RX_NOBCAST: 'nobcast',
};

export const isRxCommand = (cmd: { readonly kind: string }): cmd is RxCommand => (RX_KINDS as readonly string[]).includes(cmd.kind);

export const rx = defineClass<RxCommand>()({
  name: 'RX',
  cls: VIRTIO_NET_CTRL_RX,
  section: '§5.1.6.5.1',
  commands: {
    RX_PROMISC: { code: VIRTIO_NET_CTRL_RX_PROMISC, feature: 'CTRL_RX' },
    RX_ALLMULTI: { code: VIRTIO_NET_CTRL_RX_ALLMULTI, feature: 'CTRL_RX' },
    RX_ALLUNI: { code: VIRTIO_NET_CTRL_RX_ALLUNI, feature: 'CTRL_RX_EXTRA' },
    RX_NOMULTI: { code: VIRTIO_NET_CTRL_RX_NOMULTI, feature: 'CTRL_RX_EXTRA' },
    RX_NOUNI: { code: VIRTIO_NET_CTRL_RX_NOUNI, feature: 'CTRL_RX_EXTRA' },
    RX_NOBCAST: { code: VIRTIO_NET_CTRL_RX_NOBCAST, feature: 'CTRL_RX_EXTRA' },
  },

  payloadLength: () => 1,
  encode(cmd, buf, o) {
    buf[o] = cmd.on ? 1 : 0;
    return o + 1;
  },
  decode(r, kind) {
    if (r.remaining < 1) return shortPayload('the u8 on/off');
    const v = r.u8();
    if (v > 1) return decodeFail('bad-value', `on/off byte is ${v}, not 0 or 1 (§5.1.6.5.1)`);
    return { kind, on: v === 1 };
  },
  describe: (cmd) => `${cmd.kind} ${cmd.on ? 1 : 0}`,

  apply(state, cmd) {
    const field = RX_FIELD[cmd.kind];
    const on = cmd.on;
    return state.rxMode[field] === on ? E.right(state) : E.right(produce(state, (d) => void (d.rxMode[field] = on)));
  },

  plan(state, { has }, out) {
    const r = state.rxMode;
    const t = state.macTable;
    // against the reset defaults (promisc on, allmulti off); a table overflow keeps its class open
    if (has('CTRL_RX')) {
      if (!r.promisc && !t.unicastOverflow) out.push({ kind: 'RX_PROMISC', on: false });
      if (r.allmulti || t.multicastOverflow) out.push({ kind: 'RX_ALLMULTI', on: true });
    }
    // the extra modes, all off at reset
    if (has('CTRL_RX_EXTRA')) {
      if (r.alluni) out.push({ kind: 'RX_ALLUNI', on: true });
      if (r.nomulti) out.push({ kind: 'RX_NOMULTI', on: true });
      if (r.nouni) out.push({ kind: 'RX_NOUNI', on: true });
      if (r.nobcast) out.push({ kind: 'RX_NOBCAST', on: true });
    }
  },

  view(state, { has }) {
    const ctrlRx = has('CTRL_RX');
    const extra = has('CTRL_RX_EXTRA');
    const t = state.macTable;
    const r = state.rxMode;
    // A MAC table overflow is restored as the mode it implies: PROMISC on (unicast), ALLMULTI on (multicast).
    return {
      rxMode: {
        promisc: ctrlRx ? r.promisc || t.unicastOverflow : true,
        allmulti: ctrlRx ? r.allmulti || t.multicastOverflow : false,
        alluni: extra && r.alluni,
        nomulti: extra && r.nomulti,
        nouni: extra && r.nouni,
        nobcast: extra && r.nobcast,
      },
    };
  },

  maximal: () => ({ rxMode: { promisc: false, allmulti: true, alluni: false, nomulti: false, nouni: false, nobcast: true } }),

  json: (k: JsonKit) => ({
    props: { rxMode: k.closed({ promisc: t.boolean, allmulti: t.boolean, alluni: t.boolean, nomulti: t.boolean, nouni: t.boolean, nobcast: t.boolean }, 'RxMode') },
    fields: { rxMode: 'rxMode' },
    toState: (v) => ({ rxMode: v.rxMode }),
    fromState: (s) => ({ rxMode: { ...s.rxMode } }),
  }),

  arbitraries: ({ fc }) => [fc.record({ kind: fc.constantFrom(...RX_KINDS), on: fc.boolean() })],
  arbitraryState: ({ fc }) =>
    fc.record({ rxMode: fc.record({ promisc: fc.boolean(), allmulti: fc.boolean(), alluni: fc.boolean(), nomulti: fc.boolean(), nouni: fc.boolean(), nobcast: fc.boolean() }) }),
});
