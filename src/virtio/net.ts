/**
 * virtio-net control virtqueue constants and the device config layout (virtio 1.2 §5.1.4, §5.1.6.5;
 * linux/virtio_net.h). Names follow the header without the `VIRTIO_NET_` prefix where it is unambiguous.
 */

/** Ack byte the device writes into the last device-writable byte of a CVQ chain (§5.1.6.5). */
export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;

/**
 * The command classes (VIRTIO_NET_CTRL_RX … NOTF_COAL), their command numbers and payloads are each
 * class module's (src/cvq/classes/<class>.ts, one per §5.1.6.5 section); this file keeps the framing.
 */

/** `struct virtio_net_ctrl_hdr` (u8 class, u8 cmd) and the ack (u8). */
export const CTRL_HDR_LEN = 2;
export const CTRL_ACK_LEN = 1;

/** Ethernet address length and the VLAN id space (§5.1.6.5.3: "up to 4096 VLANs"). */
export const ETH_ALEN = 6;
export const MAX_VLAN = 4096;

/** QEMU's MAC filter table size (hw/net/virtio-net.c MAC_TABLE_ENTRIES), shared by unicast + multicast. */
export const QEMU_MAC_TABLE_ENTRIES = 64;

/** `struct virtio_net_config` byte offsets (packed, §5.1.4). Fields are little-endian (VERSION_1). */
export const NET_CONFIG = {
  mac: 0, // u8[6]
  status: 6, // le16
  maxVirtqueuePairs: 8, // le16
  mtu: 10, // le16
  speed: 12, // le32
  duplex: 16, // u8
  rssMaxKeySize: 17, // u8
  rssMaxIndirectionTableLength: 18, // le16
  supportedHashTypes: 20, // le32
  /** Size up to and including supported_hash_types. */
  size: 24,
} as const;

/** VIRTIO_NET_S_* status bits (§5.1.4). */
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;

/** RSS / hash-report hash types (§5.1.6.4.3.1; VIRTIO_NET_RSS_HASH_TYPE_*). */
export const VIRTIO_NET_RSS_HASH_TYPE = {
  IPv4: 1 << 0,
  TCPv4: 1 << 1,
  UDPv4: 1 << 2,
  IPv6: 1 << 3,
  TCPv6: 1 << 4,
  UDPv6: 1 << 5,
  IP_EX: 1 << 6,
  TCP_EX: 1 << 7,
  UDP_EX: 1 << 8,
} as const;

/** Every hash type the spec defines (bits 0..8). */
export const VIRTIO_NET_RSS_HASH_TYPE_ALL = 0x1ff;

/** VIRTIO_NET_HASH_REPORT_* values of the net header's hash_report (§5.1.6.4.3.4). */
export const VIRTIO_NET_HASH_REPORT = {
  NONE: 0,
  IPv4: 1,
  TCPv4: 2,
  UDPv4: 3,
  IPv6: 4,
  TCPv6: 5,
  UDPv6: 6,
  IPv6_EX: 7,
  TCPv6_EX: 8,
  UDPv6_EX: 9,
} as const;

/** The RSS key length a driver uses in practice (Toeplitz, 40 bytes; §5.1.6.4.3.1 "rss_max_key_size ≥ 40"). */
export const VIRTIO_NET_RSS_KEY_SIZE = 40;
/** rss_max_indirection_table_length is a le16 and a power of two (§5.1.4): 0x8000 is the largest. */
export const VIRTIO_NET_RSS_MAX_TABLE_LEN = 0x8000;

/** Canonical text form of a MAC: "52:54:00:12:34:56" (lower case). */
export type MacString = string;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export const isMacString = (s: string): boolean => MAC_RE.test(s);

/** Normalise a valid MAC string to lower case (callers validate first with `isMacString`). */
export const normaliseMac = (s: string): MacString => s.toLowerCase();

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Format 6 bytes at `o` of `b` as a MAC string. */
export function formatMac(b: Uint8Array, o = 0): MacString {
  return `${HEX[b[o]!]}:${HEX[b[o + 1]!]}:${HEX[b[o + 2]!]}:${HEX[b[o + 3]!]}:${HEX[b[o + 4]!]}:${HEX[b[o + 5]!]}`;
}

/** Write a (valid) MAC string as 6 bytes at `o` of `b`. */
export function writeMac(mac: MacString, b: Uint8Array, o = 0): void {
  for (let i = 0; i < 6; i++) b[o + i] = parseInt(mac.slice(i * 3, i * 3 + 2), 16);
}

export function macBytes(mac: MacString): Uint8Array {
  const b = new Uint8Array(ETH_ALEN);
  writeMac(mac, b);
  return b;
}

/** Multicast bit: the least significant bit of the first octet (IEEE 802). */
export const isMulticastMac = (mac: MacString): boolean => (parseInt(mac.slice(0, 2), 16) & 1) === 1;

/** Lower-case hex of bytes. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}

/** Bytes of an even-length hex string, or undefined when it is not hex. */
export function fromHex(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(s)) return undefined;
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}
