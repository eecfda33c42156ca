/**
 * VIRTIO_NET_CTRL_MAC (virtio 1.2 §5.1.6.5.2, "Setting MAC Address Filtering"): MAC_TABLE_SET (two
 * `struct virtio_net_ctrl_mac { le32 entries; u8 macs[entries][6]; }`, unicast then multicast; needs
 * CTRL_RX) and MAC_ADDR_SET (6 bytes; needs CTRL_MAC_ADDR). QEMU restores both in
 * `vhost_vdpa_net_load_mac`: the address first, then the table unless it is empty (as after reset).
 */
import * as E from 'fp-ts/lib/Either.js';
import { produce } from 'immer';
import * as t from 'io-ts';
import { ETH_ALEN, macBytes, type MacString } from '../../virtio/net.js';
import { putMac, putU32, shortPayload } from './wire.js';
import { defineClass, type JsonKit } from './types.js';

export const VIRTIO_NET_CTRL_MAC = 1;
export const VIRTIO_NET_CTRL_MAC_TABLE_SET = 0;
export const VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;

export interface MacTableSetCommand {
  readonly kind: 'MAC_TABLE_SET';
  readonly unicast: readonly MacString[];
  readonly multicast: readonly MacString[];
}
export interface MacAddrSetCommand {
  readonly kind: 'MAC_ADDR_SET';
  readonly mac: MacString;
}
export type MacCommand = MacTableSetCommand | MacAddrSetCommand;

/** The benchmark's table: `i`-th unicast / multicast address. */
const benchMac = (i: number, multicast: boolean): string =>
  `${multicast ? '01' : '02'}:00:5e:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

export const mac = defineClass<MacCommand>()({
  name: 'MAC',
  cls: VIRTIO_NET_CTRL_MAC,
  section: '§5.1.6.5.2',
  commands: {
    MAC_TABLE_SET: { code: VIRTIO_NET_CTRL_MAC_TABLE_SET, feature: 'CTRL_RX' },
    MAC_ADDR_SET: { code: VIRTIO_NET_CTRL_MAC_ADDR_SET, feature: 'CTRL_MAC_ADDR' },
  },

  payloadLength: (cmd) => (cmd.kind === 'MAC_ADDR_SET' ? ETH_ALEN : 8 + ETH_ALEN * (cmd.unicast.length + cmd.multicast.length)),
  encode(cmd, buf, o) {
    if (cmd.kind === 'MAC_ADDR_SET') return putMac(buf, o, cmd.mac);
    for (const block of [cmd.unicast, cmd.multicast]) {
      putU32(buf, o, block.length);
      o += 4;
      for (const m of block) o = putMac(buf, o, m);
    }
    return o;
  },
  decode(r, kind) {
    if (kind === 'MAC_ADDR_SET') {
      if (r.remaining < ETH_ALEN) return shortPayload('the 6-byte MAC');
      return { kind, mac: r.mac() };
    }
    const blocks: MacString[][] = [];
    for (const which of ['unicast', 'multicast']) {
      if (r.remaining < 4) return shortPayload(`the ${which} entries count`);
      const entries = r.u32();
      // an entries count beyond the bytes is refused before any allocation
      if (r.remaining < entries * ETH_ALEN) {
        return shortPayload(`the ${which} MACs (${entries} entries need ${entries * ETH_ALEN} bytes, ${r.remaining} left)`);
      }
      const macs: MacString[] = [];
      for (let i = 0; i < entries; i++) macs.push(r.mac());
      blocks.push(macs);
    }
    return { kind, unicast: blocks[0]!, multicast: blocks[1]! };
  },
  describe: (cmd) => (cmd.kind === 'MAC_ADDR_SET' ? `MAC_ADDR_SET ${cmd.mac}` : `MAC_TABLE_SET unicast=${cmd.unicast.length} multicast=${cmd.multicast.length}`),

  apply(state, cmd, _negotiated, limits) {
    if (cmd.kind === 'MAC_ADDR_SET') return E.right(produce(state, (d) => void (d.mac = cmd.mac)));
    // QEMU virtio_net_handle_mac: one table of `macTableEntries` shared by both blocks; a block that
    // does not fit is dropped and its overflow flag set (the filter then accepts that whole class).
    const max = limits.macTableEntries;
    const uniFits = cmd.unicast.length <= max;
    const inUse = uniFits ? cmd.unicast.length : 0;
    const multiFits = inUse + cmd.multicast.length <= max;
    return E.right(
      produce(state, (d) => {
        d.macTable = {
          unicast: uniFits ? [...cmd.unicast] : [],
          multicast: multiFits ? [...cmd.multicast] : [],
          unicastOverflow: !uniFits,
          multicastOverflow: !multiFits,
        };
      }),
    );
  },

  plan(state, { has }, out) {
    if (has('CTRL_MAC_ADDR')) out.push({ kind: 'MAC_ADDR_SET', mac: state.mac });
    // the table is empty on reset, so only a non-empty one is sent; its overflow flags are the RX class's
    const t = state.macTable;
    if (has('CTRL_RX') && (t.unicast.length > 0 || t.multicast.length > 0)) out.push({ kind: 'MAC_TABLE_SET', unicast: t.unicast, multicast: t.multicast });
  },

  // The MAC is kept whatever the features: without CTRL_MAC_ADDR the destination's MAC comes from its
  // config space (VIRTIO_NET_F_MAC), which management provisions identical to the source's.
  view(state, { has, reset }) {
    const t = state.macTable;
    const macTable = has('CTRL_RX') && (t.unicast.length > 0 || t.multicast.length > 0)
      ? { unicast: t.unicast, multicast: t.multicast, unicastOverflow: false, multicastOverflow: false }
      : reset.macTable;
    return { mac: state.mac, macTable };
  },

  maximal: () => ({
    mac: '52:54:00:12:34:56',
    macTable: {
      unicast: Array.from({ length: 32 }, (_, i) => benchMac(i, false)),
      multicast: Array.from({ length: 32 }, (_, i) => benchMac(i, true)),
      unicastOverflow: false,
      multicastOverflow: false,
    },
  }),

  json: (k: JsonKit) => ({
    props: {
      mac: k.macString,
      macTable: k.closed(
        { unicast: k.arrayOf(k.macString, 'MAC[]'), multicast: k.arrayOf(k.macString, 'MAC[]'), unicastOverflow: t.boolean, multicastOverflow: t.boolean },
        'MacTable',
      ),
    },
    fields: { mac: 'mac', macTable: 'macTable' },
    toState: (v) => ({ mac: v.mac, macTable: v.macTable }),
    fromState: (s) => ({
      mac: s.mac,
      macTable: {
        unicast: [...s.macTable.unicast],
        multicast: [...s.macTable.multicast],
        unicastOverflow: s.macTable.unicastOverflow,
        multicastOverflow: s.macTable.multicastOverflow,
      },
    }),
  }),

  arbitraries: ({ fc, mac: arbMac }) => [
    fc.record({ kind: fc.constant('MAC_TABLE_SET' as const), unicast: fc.array(arbMac, { maxLength: 70 }), multicast: fc.array(arbMac, { maxLength: 70 }) }),
    fc.record({ kind: fc.constant('MAC_ADDR_SET' as const), mac: arbMac }),
  ],
  arbitraryState: ({ fc, mac: arbMac }, { limits }) =>
    fc.integer({ min: 0, max: limits.macTableEntries }).chain((nUni) =>
      fc.record({
        mac: arbMac,
        macTable: fc.record({
          unicast: fc.array(arbMac, { minLength: nUni, maxLength: nUni }),
          multicast: fc.array(arbMac, { maxLength: limits.macTableEntries - nUni }),
          unicastOverflow: fc.boolean(),
          multicastOverflow: fc.boolean(),
        }),
      }),
    ),

  sim: {
    // the address lands in config space (§5.1.4 mac), which the driver reads back
    applied(cmd, dev) {
      if (cmd.kind === 'MAC_ADDR_SET') dev.configMac.set(macBytes(cmd.mac));
    },
  },
});
