/**
 * Every virtio-net control virtqueue command (virtio 1.2 §5.1.6.5), encoded and decoded byte-exact.
 *
 * On the wire a command is `struct virtio_net_ctrl_hdr { u8 class; u8 command; }`, the command-specific
 * data, then one device-writable ack byte. `encodeCommand` produces the device-readable part (header +
 * payload); `decodeCommand` reads it back from any number of pieces, as a device sees it in a descriptor
 * chain (Linux sends header, payload pieces and ack as separate buffers). Short, long and malformed
 * payloads decode to a `CvqDecodeError`, never a throw.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  CTRL_HDR_LEN,
  ETH_ALEN,
  VIRTIO_NET_CTRL_ANNOUNCE,
  VIRTIO_NET_CTRL_ANNOUNCE_ACK,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_ADDR_SET,
  VIRTIO_NET_CTRL_MAC_TABLE_SET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_HASH_CONFIG,
  VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_CTRL_NOTF_COAL,
  VIRTIO_NET_CTRL_NOTF_COAL_RX_SET,
  VIRTIO_NET_CTRL_NOTF_COAL_TX_SET,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_VLAN,
  VIRTIO_NET_CTRL_VLAN_ADD,
  VIRTIO_NET_CTRL_VLAN_DEL,
  formatMac,
  writeMac,
  type MacString,
} from './net.js';

/** The six VIRTIO_NET_CTRL_RX commands, in command-code order (§5.1.6.5.1). */
export const RX_KINDS = ['RX_PROMISC', 'RX_ALLMULTI', 'RX_ALLUNI', 'RX_NOMULTI', 'RX_NOUNI', 'RX_NOBCAST'] as const;
export type RxKind = (typeof RX_KINDS)[number];

/** u8 on/off of a VIRTIO_NET_CTRL_RX command (§5.1.6.5.1). */
export interface RxCommand {
  readonly kind: RxKind;
  readonly on: boolean;
}
/** Two `struct virtio_net_ctrl_mac { le32 entries; u8 macs[entries][6]; }`, unicast then multicast (§5.1.6.5.2). */
export interface MacTableSetCommand {
  readonly kind: 'MAC_TABLE_SET';
  readonly unicast: readonly MacString[];
  readonly multicast: readonly MacString[];
}
export interface MacAddrSetCommand {
  readonly kind: 'MAC_ADDR_SET';
  readonly mac: MacString;
}
/** le16 vid (§5.1.6.5.3). The codec carries any u16; the device refuses vid ≥ 4096. */
export interface VlanCommand {
  readonly kind: 'VLAN_ADD' | 'VLAN_DEL';
  readonly vid: number;
}
export interface AnnounceAckCommand {
  readonly kind: 'ANNOUNCE_ACK';
}
/** `struct virtio_net_ctrl_mq { le16 virtqueue_pairs; }` (§5.1.6.5.5). */
export interface MqVqPairsSetCommand {
  readonly kind: 'MQ_VQ_PAIRS_SET';
  readonly pairs: number;
}
/**
 * `struct virtio_net_rss_config` (§5.1.6.5.7.1): le32 hash_types, le16 indirection_table_mask,
 * le16 unclassified_queue, le16 indirection_table[mask + 1], le16 max_tx_vq, u8 hash_key_length,
 * u8 hash_key_data[hash_key_length]. The mask is `indirectionTable.length - 1` on encode.
 */
export interface MqRssConfigCommand {
  readonly kind: 'MQ_RSS_CONFIG';
  readonly hashTypes: number;
  readonly indirectionTable: readonly number[];
  readonly unclassifiedQueue: number;
  readonly maxTxVq: number;
  readonly key: Uint8Array;
}
/**
 * `struct virtio_net_hash_config` (§5.1.6.5.7.3): le32 hash_types, le16 reserved[4] (zero),
 * u8 hash_key_length, u8 hash_key_data[hash_key_length].
 */
export interface MqHashConfigCommand {
  readonly kind: 'MQ_HASH_CONFIG';
  readonly hashTypes: number;
  readonly key: Uint8Array;
}
/** le64 offloads: bit i = guest-offload feature bit i (§5.1.6.5.6.1). */
export interface GuestOffloadsSetCommand {
  readonly kind: 'GUEST_OFFLOADS_SET';
  readonly offloads: bigint;
}
/** `struct virtio_net_ctrl_coal_{tx,rx} { le32 max_packets; le32 max_usecs; }` (§5.1.6.5.9). */
export interface NotfCoalCommand {
  readonly kind: 'NOTF_COAL_TX_SET' | 'NOTF_COAL_RX_SET';
  readonly maxPackets: number;
  readonly maxUsecs: number;
}

export type NetCtrlCommand =
  | RxCommand
  | MacTableSetCommand
  | MacAddrSetCommand
  | VlanCommand
  | AnnounceAckCommand
  | MqVqPairsSetCommand
  | MqRssConfigCommand
  | MqHashConfigCommand
  | GuestOffloadsSetCommand
  | NotfCoalCommand;

export type CommandKind = NetCtrlCommand['kind'];

/** (class, command) of every kind. */
export const COMMAND_CODES: { readonly [K in CommandKind]: readonly [cls: number, cmd: number] } = {
  RX_PROMISC: [VIRTIO_NET_CTRL_RX, 0],
  RX_ALLMULTI: [VIRTIO_NET_CTRL_RX, 1],
  RX_ALLUNI: [VIRTIO_NET_CTRL_RX, 2],
  RX_NOMULTI: [VIRTIO_NET_CTRL_RX, 3],
  RX_NOUNI: [VIRTIO_NET_CTRL_RX, 4],
  RX_NOBCAST: [VIRTIO_NET_CTRL_RX, 5],
  MAC_TABLE_SET: [VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET],
  MAC_ADDR_SET: [VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET],
  VLAN_ADD: [VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD],
  VLAN_DEL: [VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL],
  ANNOUNCE_ACK: [VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK],
  MQ_VQ_PAIRS_SET: [VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET],
  MQ_RSS_CONFIG: [VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG],
  MQ_HASH_CONFIG: [VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG],
  GUEST_OFFLOADS_SET: [VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET],
  NOTF_COAL_TX_SET: [VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET],
  NOTF_COAL_RX_SET: [VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET],
};

const KIND_BY_CODE = new Map<number, CommandKind>(
  (Object.entries(COMMAND_CODES) as [CommandKind, readonly [number, number]][]).map(([k, [c, m]]) => [(c << 8) | m, k]),
);

/** The kind named by (class, command), or undefined for a code the spec does not define. */
export const kindOf = (cls: number, cmd: number): CommandKind | undefined => KIND_BY_CODE.get((cls << 8) | cmd);

export const commandName = (cmd: NetCtrlCommand): CommandKind => cmd.kind;
export const commandClass = (cmd: NetCtrlCommand): number => COMMAND_CODES[cmd.kind][0];
export const commandCode = (cmd: NetCtrlCommand): number => COMMAND_CODES[cmd.kind][1];

const isRx = (cmd: NetCtrlCommand): cmd is RxCommand => (RX_KINDS as readonly string[]).includes(cmd.kind);

/** Bytes of the command-specific data (without the 2-byte header). */
export function payloadLength(cmd: NetCtrlCommand): number {
  switch (cmd.kind) {
    case 'MAC_TABLE_SET':
      return 8 + ETH_ALEN * (cmd.unicast.length + cmd.multicast.length);
    case 'MAC_ADDR_SET':
      return ETH_ALEN;
    case 'VLAN_ADD':
    case 'VLAN_DEL':
    case 'MQ_VQ_PAIRS_SET':
      return 2;
    case 'ANNOUNCE_ACK':
      return 0;
    case 'MQ_RSS_CONFIG':
      return 4 + 2 + 2 + 2 * cmd.indirectionTable.length + 2 + 1 + cmd.key.length;
    case 'MQ_HASH_CONFIG':
      return 4 + 8 + 1 + cmd.key.length;
    case 'GUEST_OFFLOADS_SET':
    case 'NOTF_COAL_TX_SET':
    case 'NOTF_COAL_RX_SET':
      return 8;
    default:
      return 1; // RX_*
  }
}

/** Header + payload bytes: the device-readable length of the command's chain. */
export const encodedLength = (cmd: NetCtrlCommand): number => CTRL_HDR_LEN + payloadLength(cmd);

const putU16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
};
const putU32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
};

/**
 * Write header + payload at `off` of `buf` (which must have `encodedLength(cmd)` bytes of room);
 * returns the bytes written. Allocation-free (the CVQ engine encodes straight into its out buffer).
 * Field values are written modulo their width; the reducers, not the codec, judge ranges.
 */
export function encodeCommandInto(cmd: NetCtrlCommand, buf: Uint8Array, off: number): number {
  const [cls, code] = COMMAND_CODES[cmd.kind];
  buf[off] = cls;
  buf[off + 1] = code;
  let o = off + CTRL_HDR_LEN;
  switch (cmd.kind) {
    case 'MAC_TABLE_SET':
      putU32(buf, o, cmd.unicast.length);
      o += 4;
      for (const m of cmd.unicast) {
        writeMac(m, buf, o);
        o += ETH_ALEN;
      }
      putU32(buf, o, cmd.multicast.length);
      o += 4;
      for (const m of cmd.multicast) {
        writeMac(m, buf, o);
        o += ETH_ALEN;
      }
      break;
    case 'MAC_ADDR_SET':
      writeMac(cmd.mac, buf, o);
      o += ETH_ALEN;
      break;
    case 'VLAN_ADD':
    case 'VLAN_DEL':
      putU16(buf, o, cmd.vid);
      o += 2;
      break;
    case 'ANNOUNCE_ACK':
      break;
    case 'MQ_VQ_PAIRS_SET':
      putU16(buf, o, cmd.pairs);
      o += 2;
      break;
    case 'MQ_RSS_CONFIG': {
      putU32(buf, o, cmd.hashTypes);
      putU16(buf, o + 4, cmd.indirectionTable.length - 1);
      putU16(buf, o + 6, cmd.unclassifiedQueue);
      o += 8;
      const t = cmd.indirectionTable;
      for (let i = 0; i < t.length; i++, o += 2) putU16(buf, o, t[i]!);
      putU16(buf, o, cmd.maxTxVq);
      buf[o + 2] = cmd.key.length;
      buf.set(cmd.key, o + 3);
      o += 3 + cmd.key.length;
      break;
    }
    case 'MQ_HASH_CONFIG':
      putU32(buf, o, cmd.hashTypes);
      buf.fill(0, o + 4, o + 12); // reserved[4]
      buf[o + 12] = cmd.key.length;
      buf.set(cmd.key, o + 13);
      o += 13 + cmd.key.length;
      break;
    case 'GUEST_OFFLOADS_SET':
      putU32(buf, o, Number(cmd.offloads & 0xffffffffn));
      putU32(buf, o + 4, Number((cmd.offloads >> 32n) & 0xffffffffn));
      o += 8;
      break;
    case 'NOTF_COAL_TX_SET':
    case 'NOTF_COAL_RX_SET':
      putU32(buf, o, cmd.maxPackets);
      putU32(buf, o + 4, cmd.maxUsecs);
      o += 8;
      break;
    default:
      buf[o] = cmd.on ? 1 : 0;
      o += 1;
  }
  return o - off;
}

/** The device-readable bytes of the command: class, command, payload. */
export function encodeCommand(cmd: NetCtrlCommand): Uint8Array {
  const b = new Uint8Array(encodedLength(cmd));
  encodeCommandInto(cmd, b, 0);
  return b;
}

/** The command-specific data alone (no header). */
export const encodePayload = (cmd: NetCtrlCommand): Uint8Array => encodeCommand(cmd).subarray(CTRL_HDR_LEN);

// ---------------------------------------------------------------------------------------------
// Decoding

export type CvqDecodeReason =
  | 'short-header' // fewer than 2 readable bytes
  | 'unknown-command' // (class, command) not defined by the spec
  | 'short-payload' // the payload ends before its structure does
  | 'long-payload' // bytes left after the structure
  | 'bad-value' // a field outside its encoding (RX on/off not 0/1, key longer than the bytes …)
  | 'reserved-nonzero'; // a reserved field the driver must zero is not zero

export interface CvqDecodeError {
  readonly _tag: 'CvqDecodeError';
  readonly reason: CvqDecodeReason;
  /** Class and command when the header was read. */
  readonly cls?: number;
  readonly cmd?: number;
  /** The command kind when (class, command) is known. */
  readonly kind?: CommandKind;
  readonly message: string;
}

const decodeError = (reason: CvqDecodeReason, message: string, cls?: number, cmd?: number, kind?: CommandKind): CvqDecodeError => ({
  _tag: 'CvqDecodeError',
  reason,
  ...(cls === undefined ? {} : { cls }),
  ...(cmd === undefined ? {} : { cmd }),
  ...(kind === undefined ? {} : { kind }),
  message,
});

/** A little-endian cursor over bytes split across any number of pieces. */
class SegmentReader {
  private seg = 0;
  private pos = 0;
  remaining: number;

  constructor(private readonly segs: readonly Uint8Array[]) {
    let n = 0;
    for (const s of segs) n += s.length;
    this.remaining = n;
  }

  /** Next byte; callers check `remaining` first. */
  u8(): number {
    let s = this.segs[this.seg]!;
    while (this.pos >= s.length) {
      this.seg++;
      this.pos = 0;
      s = this.segs[this.seg]!;
    }
    this.remaining--;
    return s[this.pos++]!;
  }
  u16(): number {
    const lo = this.u8();
    return lo | (this.u8() << 8);
  }
  u32(): number {
    const lo = this.u16();
    return (lo + this.u16() * 0x10000) >>> 0;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u8();
    return b;
  }
  mac(): MacString {
    const b = this.bytes(ETH_ALEN);
    return formatMac(b);
  }
}

/** Why a body did not decode (allocated only on failure). */
interface BodyFail {
  readonly reason: CvqDecodeReason;
  readonly what: string;
}
const decodeFail = (reason: CvqDecodeReason, what: string): BodyFail => ({ reason, what });
const shortPayload = (what: string): BodyFail => decodeFail('short-payload', `payload ends inside ${what}`);
const isFail = (x: NetCtrlCommand | BodyFail): x is BodyFail => (x as BodyFail).reason !== undefined;

/** The command-specific data of `kind`, read from `r`. */
function decodeBody(r: SegmentReader, kind: CommandKind): NetCtrlCommand | BodyFail {
  switch (kind) {
    case 'MAC_TABLE_SET': {
      const blocks: MacString[][] = [];
      for (const which of ['unicast', 'multicast']) {
        if (r.remaining < 4) return shortPayload(`the ${which} entries count`);
        const entries = r.u32();
        if (r.remaining < entries * ETH_ALEN) {
          return shortPayload(`the ${which} MACs (${entries} entries need ${entries * ETH_ALEN} bytes, ${r.remaining} left)`);
        }
        const macs: MacString[] = [];
        for (let i = 0; i < entries; i++) macs.push(r.mac());
        blocks.push(macs);
      }
      return { kind, unicast: blocks[0]!, multicast: blocks[1]! };
    }
    case 'MAC_ADDR_SET':
      if (r.remaining < ETH_ALEN) return shortPayload('the 6-byte MAC');
      return { kind, mac: r.mac() };
    case 'VLAN_ADD':
    case 'VLAN_DEL':
      if (r.remaining < 2) return shortPayload('the le16 vid');
      return { kind, vid: r.u16() };
    case 'ANNOUNCE_ACK':
      return { kind };
    case 'MQ_VQ_PAIRS_SET':
      if (r.remaining < 2) return shortPayload('the le16 virtqueue_pairs');
      return { kind, pairs: r.u16() };
    case 'MQ_RSS_CONFIG': {
      if (r.remaining < 8) return shortPayload('hash_types / indirection_table_mask / unclassified_queue');
      const hashTypes = r.u32();
      const mask = r.u16();
      const unclassifiedQueue = r.u16();
      const len = mask + 1;
      if (r.remaining < 2 * len + 3) return shortPayload(`the ${len}-entry indirection table, max_tx_vq and hash_key_length`);
      const indirectionTable: number[] = new Array<number>(len);
      for (let i = 0; i < len; i++) indirectionTable[i] = r.u16();
      const maxTxVq = r.u16();
      const keyLen = r.u8();
      if (r.remaining < keyLen) return shortPayload(`the ${keyLen}-byte hash key`);
      return { kind, hashTypes, indirectionTable, unclassifiedQueue, maxTxVq, key: r.bytes(keyLen) };
    }
    case 'MQ_HASH_CONFIG': {
      if (r.remaining < 13) return shortPayload('hash_types / reserved / hash_key_length');
      const hashTypes = r.u32();
      let reserved = 0;
      for (let i = 0; i < 4; i++) reserved |= r.u16();
      if (reserved !== 0) return decodeFail('reserved-nonzero', 'reserved[4] must be zero (§5.1.6.5.7.3)');
      const keyLen = r.u8();
      if (r.remaining < keyLen) return shortPayload(`the ${keyLen}-byte hash key`);
      return { kind, hashTypes, key: r.bytes(keyLen) };
    }
    case 'GUEST_OFFLOADS_SET': {
      if (r.remaining < 8) return shortPayload('the le64 offloads');
      const lo = r.u32();
      const hi = r.u32();
      return { kind, offloads: (BigInt(hi) << 32n) | BigInt(lo) };
    }
    case 'NOTF_COAL_TX_SET':
    case 'NOTF_COAL_RX_SET':
      if (r.remaining < 8) return shortPayload('max_packets / max_usecs');
      return { kind, maxPackets: r.u32(), maxUsecs: r.u32() };
    default: {
      if (r.remaining < 1) return shortPayload('the u8 on/off');
      const v = r.u8();
      if (v > 1) return decodeFail('bad-value', `on/off byte is ${v}, not 0 or 1 (§5.1.6.5.1)`);
      return { kind, on: v === 1 };
    }
  }
}

/**
 * Decode the device-readable bytes of a CVQ chain (header + payload, split across any number of
 * pieces) into a command.
 */
export function decodeCommand(segments: readonly Uint8Array[]): E.Either<CvqDecodeError, NetCtrlCommand> {
  const r = new SegmentReader(segments);
  if (r.remaining < CTRL_HDR_LEN) return E.left(decodeError('short-header', `CVQ command of ${r.remaining} byte(s): the header is 2`));
  const cls = r.u8();
  const code = r.u8();
  const kind = kindOf(cls, code);
  if (kind === undefined) {
    return E.left(decodeError('unknown-command', `unknown CVQ command class ${cls} command ${code}`, cls, code));
  }
  const body = decodeBody(r, kind);
  if (isFail(body)) return E.left(decodeError(body.reason, `${kind}: ${body.what}`, cls, code, kind));
  if (r.remaining !== 0) return E.left(decodeError('long-payload', `${kind}: ${r.remaining} byte(s) after the command data`, cls, code, kind));
  return E.right(body);
}

/** A one-line human form of a command, e.g. `VLAN_ADD vid=100`. */
export function describeCommand(cmd: NetCtrlCommand): string {
  switch (cmd.kind) {
    case 'MAC_TABLE_SET':
      return `MAC_TABLE_SET unicast=${cmd.unicast.length} multicast=${cmd.multicast.length}`;
    case 'MAC_ADDR_SET':
      return `MAC_ADDR_SET ${cmd.mac}`;
    case 'VLAN_ADD':
    case 'VLAN_DEL':
      return `${cmd.kind} vid=${cmd.vid}`;
    case 'ANNOUNCE_ACK':
      return 'ANNOUNCE_ACK';
    case 'MQ_VQ_PAIRS_SET':
      return `MQ_VQ_PAIRS_SET pairs=${cmd.pairs}`;
    case 'MQ_RSS_CONFIG':
      return `MQ_RSS_CONFIG hash_types=0x${cmd.hashTypes.toString(16)} table=${cmd.indirectionTable.length} unclassified=${cmd.unclassifiedQueue} max_tx_vq=${cmd.maxTxVq} key=${cmd.key.length}B`;
    case 'MQ_HASH_CONFIG':
      return `MQ_HASH_CONFIG hash_types=0x${cmd.hashTypes.toString(16)} key=${cmd.key.length}B`;
    case 'GUEST_OFFLOADS_SET':
      return `GUEST_OFFLOADS_SET 0x${cmd.offloads.toString(16)}`;
    case 'NOTF_COAL_TX_SET':
    case 'NOTF_COAL_RX_SET':
      return `${cmd.kind} max_packets=${cmd.maxPackets} max_usecs=${cmd.maxUsecs}`;
    default:
      return `${cmd.kind} ${cmd.on ? 1 : 0}`;
  }
}

export { isRx as isRxCommand };
