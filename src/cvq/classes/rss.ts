/**
 * VIRTIO_NET_CTRL_MQ's RSS_CONFIG and HASH_CONFIG (virtio 1.2 §5.1.6.5.7, receive-side scaling and hash
 * reporting): the same class number as mq.ts, their own spec section and QEMU function
 * (`vhost_vdpa_net_load_rss`, called from `load_mq`).
 *
 * - RSS_CONFIG, needing RSS: `struct virtio_net_rss_config` — le32 hash_types, le16
 *   indirection_table_mask, le16 unclassified_queue, le16 indirection_table[mask + 1], le16 max_tx_vq,
 *   u8 hash_key_length, u8 hash_key_data[hash_key_length]. The mask is `indirectionTable.length - 1`.
 * - HASH_CONFIG, needing HASH_REPORT: `struct virtio_net_hash_config` (§5.1.6.5.7.3) — le32 hash_types,
 *   le16 reserved[4] (zero), u8 hash_key_length, u8 hash_key_data[hash_key_length].
 */
import * as E from 'fp-ts/lib/Either.js';
import { produce } from 'immer';
import { VIRTIO_NET_RSS_HASH_TYPE_ALL, fromHex, toHex } from '../../virtio/net.js';
import { hasFeature } from '../../virtio/features.js';
import type { DeviceLimits, NetDeviceState } from '../../state/net-state.js';
import { decodeFail, putU16, putU32, shortPayload } from './wire.js';
import { defineClass, refuse, type Applied, type JsonIssue, type JsonKit } from './types.js';
import { VIRTIO_NET_CTRL_MQ } from './mq.js';

export const VIRTIO_NET_CTRL_MQ_RSS_CONFIG = 1;
export const VIRTIO_NET_CTRL_MQ_HASH_CONFIG = 2;

export interface MqRssConfigCommand {
  readonly kind: 'MQ_RSS_CONFIG';
  readonly hashTypes: number;
  readonly indirectionTable: readonly number[];
  readonly unclassifiedQueue: number;
  readonly maxTxVq: number;
  readonly key: Uint8Array;
}
export interface MqHashConfigCommand {
  readonly kind: 'MQ_HASH_CONFIG';
  readonly hashTypes: number;
  readonly key: Uint8Array;
}
export type RssCommand = MqRssConfigCommand | MqHashConfigCommand;

/** The Toeplitz key of the RSS test vectors (Microsoft's default, 40 bytes). */
const BENCH_KEY = '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa';

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;
const keyBytes = (hex: string): Uint8Array => fromHex(hex) ?? new Uint8Array(0);

/** Hash types and key of an RSS / hash config against the device (§5.1.6.5.7). */
function checkHash(kind: string, limits: DeviceLimits, hashTypes: number, keyLen: number): Applied | undefined {
  if ((hashTypes & ~limits.supportedHashTypes) !== 0) {
    return refuse(kind, 'hash-types', `hash types 0x${hashTypes.toString(16)} outside supported 0x${limits.supportedHashTypes.toString(16)}`);
  }
  if (keyLen > limits.rssMaxKeySize) return refuse(kind, 'key-size', `${keyLen}-byte key exceeds rss_max_key_size ${limits.rssMaxKeySize}`);
  return undefined;
}

function applyRss(state: NetDeviceState, cmd: MqRssConfigCommand, negotiated: bigint, limits: DeviceLimits): Applied {
  const kind = cmd.kind;
  const len = cmd.indirectionTable.length;
  if (!isPowerOfTwo(len) || len > limits.rssMaxIndirectionTableLength) {
    return refuse(kind, 'rss-table', `indirection table of ${len} entries: not a power of two ≤ ${limits.rssMaxIndirectionTableLength}`);
  }
  const pairs = cmd.maxTxVq;
  if (pairs < 1 || pairs > limits.maxQueuePairs) return refuse(kind, 'queue-pairs', `max_tx_vq ${pairs} outside 1..${limits.maxQueuePairs}`);
  if (cmd.unclassifiedQueue >= pairs) return refuse(kind, 'rss-queue', `unclassified_queue ${cmd.unclassifiedQueue} ≥ ${pairs} queue pairs`);
  for (let i = 0; i < len; i++) {
    if (cmd.indirectionTable[i]! >= pairs) return refuse(kind, 'rss-queue', `indirection_table[${i}] = ${cmd.indirectionTable[i]} ≥ ${pairs} queue pairs`);
  }
  const bad = checkHash(kind, limits, cmd.hashTypes, cmd.key.length);
  if (bad !== undefined) return bad;
  const key = toHex(cmd.key);
  const on = cmd.hashTypes !== 0;
  // RSS_CONFIG also sets the hash the device reports when HASH_REPORT is negotiated (QEMU rss_data).
  const report = on && hasFeature(negotiated, 'HASH_REPORT');
  return E.right(
    produce(state, (d) => {
      d.queuePairs = pairs;
      d.rss = on ? { hashTypes: cmd.hashTypes, indirectionTable: [...cmd.indirectionTable], unclassifiedQueue: cmd.unclassifiedQueue, key } : null;
      d.hashReport = report ? { hashTypes: cmd.hashTypes, key } : null;
    }),
  );
}

/** What any reachable RSS state satisfies: a power-of-two table, queues below `queuePairs`. */
function rssIssues(r: { indirectionTable: readonly number[]; unclassifiedQueue: number }, queuePairs: number): JsonIssue[] {
  const issues: JsonIssue[] = [];
  const len = r.indirectionTable.length;
  if (len === 0 || (len & (len - 1)) !== 0) issues.push({ path: 'rss.indirectionTable', message: `length ${len} is not a power of two (§5.1.6.5.7.1)` });
  // the first 18 listed, the rest counted in one issue, within the decoder's 20 (a 4 MiB file holds ~2M entries)
  let more = 0;
  r.indirectionTable.forEach((q, i) => {
    if (q < queuePairs) return;
    if (issues.length < 18) issues.push({ path: `rss.indirectionTable[${i}]`, message: `queue ${q} ≥ queuePairs ${queuePairs}` });
    else more++;
  });
  if (more > 0) issues.push({ path: 'rss.indirectionTable', message: `and ${more} more entries ≥ queuePairs ${queuePairs}` });
  if (r.unclassifiedQueue >= queuePairs) issues.push({ path: 'rss.unclassifiedQueue', message: `queue ${r.unclassifiedQueue} ≥ queuePairs ${queuePairs}` });
  return issues;
}

export const rss = defineClass<RssCommand>()({
  name: 'RSS',
  cls: VIRTIO_NET_CTRL_MQ,
  section: '§5.1.6.5.7',
  commands: {
    MQ_RSS_CONFIG: { code: VIRTIO_NET_CTRL_MQ_RSS_CONFIG, feature: 'RSS' },
    MQ_HASH_CONFIG: { code: VIRTIO_NET_CTRL_MQ_HASH_CONFIG, feature: 'HASH_REPORT' },
  },

  payloadLength: (cmd) => (cmd.kind === 'MQ_RSS_CONFIG' ? 4 + 2 + 2 + 2 * cmd.indirectionTable.length + 2 + 1 + cmd.key.length : 4 + 8 + 1 + cmd.key.length),
  encode(cmd, buf, o) {
    putU32(buf, o, cmd.hashTypes);
    if (cmd.kind === 'MQ_HASH_CONFIG') {
      buf.fill(0, o + 4, o + 12); // reserved[4]
      buf[o + 12] = cmd.key.length;
      buf.set(cmd.key, o + 13);
      return o + 13 + cmd.key.length;
    }
    const t = cmd.indirectionTable;
    putU16(buf, o + 4, t.length - 1);
    putU16(buf, o + 6, cmd.unclassifiedQueue);
    o += 8;
    for (let i = 0; i < t.length; i++, o += 2) putU16(buf, o, t[i]!);
    putU16(buf, o, cmd.maxTxVq);
    buf[o + 2] = cmd.key.length;
    buf.set(cmd.key, o + 3);
    return o + 3 + cmd.key.length;
  },
  decode(r, kind) {
    if (kind === 'MQ_HASH_CONFIG') {
      if (r.remaining < 13) return shortPayload('hash_types / reserved / hash_key_length');
      const hashTypes = r.u32();
      let reserved = 0;
      for (let i = 0; i < 4; i++) reserved |= r.u16();
      if (reserved !== 0) return decodeFail('reserved-nonzero', 'reserved[4] must be zero (§5.1.6.5.7.3)');
      const keyLen = r.u8();
      if (r.remaining < keyLen) return shortPayload(`the ${keyLen}-byte hash key`);
      return { kind, hashTypes, key: r.bytes(keyLen) };
    }
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
  },
  describe: (cmd) =>
    cmd.kind === 'MQ_RSS_CONFIG'
      ? `MQ_RSS_CONFIG hash_types=0x${cmd.hashTypes.toString(16)} table=${cmd.indirectionTable.length} unclassified=${cmd.unclassifiedQueue} max_tx_vq=${cmd.maxTxVq} key=${cmd.key.length}B`
      : `MQ_HASH_CONFIG hash_types=0x${cmd.hashTypes.toString(16)} key=${cmd.key.length}B`,

  apply(state, cmd, negotiated, limits) {
    if (cmd.kind === 'MQ_RSS_CONFIG') return applyRss(state, cmd, negotiated, limits);
    const bad = checkHash(cmd.kind, limits, cmd.hashTypes, cmd.key.length);
    if (bad !== undefined) return bad;
    // Hash reporting without steering: RSS steering is off after it (QEMU: redirect = false).
    return E.right(
      produce(state, (d) => {
        d.rss = null;
        d.hashReport = cmd.hashTypes !== 0 ? { hashTypes: cmd.hashTypes, key: toHex(cmd.key) } : null;
      }),
    );
  },

  // RSS with max_tx_vq = the queue pairs, else the hash report alone; a disabled one is not sent
  plan(state, { has }, out) {
    const r = state.rss;
    const hr = state.hashReport;
    if (has('RSS') && r !== null && r.hashTypes !== 0) {
      out.push({ kind: 'MQ_RSS_CONFIG', hashTypes: r.hashTypes, indirectionTable: r.indirectionTable, unclassifiedQueue: r.unclassifiedQueue, maxTxVq: state.queuePairs, key: keyBytes(r.key) });
    } else if (has('HASH_REPORT') && hr !== null && hr.hashTypes !== 0) {
      out.push({ kind: 'MQ_HASH_CONFIG', hashTypes: hr.hashTypes, key: keyBytes(hr.key) });
    }
  },

  view(state, { has }) {
    const r = has('RSS') && state.rss !== null && state.rss.hashTypes !== 0 ? state.rss : null;
    // RSS_CONFIG carries the reported hash too; otherwise HASH_CONFIG restores the hash report alone.
    const hr = state.hashReport;
    const hashReport = !has('HASH_REPORT') ? null : r !== null ? { hashTypes: r.hashTypes, key: r.key } : hr !== null && hr.hashTypes !== 0 ? hr : null;
    // RSS_CONFIG's max_tx_vq sets the queue pairs, with or without MQ
    return r !== null ? { rss: r, hashReport, queuePairs: state.queuePairs } : { rss: r, hashReport };
  },

  /** A 128-entry table over 8 queues with a 40-byte key. */
  maximal: () => ({ rss: { hashTypes: 0x3f, indirectionTable: Array.from({ length: 128 }, (_, i) => i % 8), unclassifiedQueue: 0, key: BENCH_KEY }, hashReport: null }),

  json: (k: JsonKit) => ({
    props: {
      rss: k.nullable(
        k.closed({ hashTypes: k.hashTypes, indirectionTable: k.arrayOf(k.intIn('queue', 0, 0xffff), 'queue[]'), unclassifiedQueue: k.intIn('queue', 0, 0xffff), key: k.keyHex }, 'Rss'),
      ),
      hashReport: k.nullable(k.closed({ hashTypes: k.hashTypes, key: k.keyHex }, 'HashReport')),
    },
    fields: { rss: 'rss', hashReport: 'hashReport' },
    toState: (v) => ({ rss: v.rss, hashReport: v.hashReport }),
    fromState: (s) => ({
      rss: s.rss === null ? null : { ...s.rss, indirectionTable: [...s.rss.indirectionTable] },
      hashReport: s.hashReport === null ? null : { ...s.hashReport },
    }),
    check: (v, doc) => (v.rss === null ? [] : rssIssues(v.rss, doc.queuePairs as number)),
  }),

  arbitraries: ({ fc, u16, u32, key }) => [
    fc.integer({ min: 0, max: 8 }).chain((lg) =>
      fc.record({
        kind: fc.constant('MQ_RSS_CONFIG' as const),
        hashTypes: fc.oneof(fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }), u32),
        indirectionTable: fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), u16), { minLength: 1 << lg, maxLength: 1 << lg }),
        unclassifiedQueue: fc.oneof(fc.integer({ min: 0, max: 9 }), u16),
        maxTxVq: fc.oneof(fc.integer({ min: 0, max: 10 }), u16),
        key: key(64),
      }),
    ),
    fc.record({ kind: fc.constant('MQ_HASH_CONFIG' as const), hashTypes: fc.oneof(fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }), u32), key: key(64) }),
  ],
  arbitraryState({ fc, key: keyArb }, { limits, queuePairs }) {
    const queue = fc.integer({ min: 0, max: queuePairs - 1 });
    const hash = fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }).map((h) => h & limits.supportedHashTypes);
    const key = keyArb(limits.rssMaxKeySize).map((b) => toHex(b));
    const tableLen = fc.integer({ min: 0, max: Math.log2(limits.rssMaxIndirectionTableLength) }).map((lg) => 1 << lg);
    return fc.record({
      rss: fc.option(
        tableLen.chain((n) => fc.record({ hashTypes: hash, indirectionTable: fc.array(queue, { minLength: n, maxLength: n }), unclassifiedQueue: queue, key })),
        { nil: null },
      ),
      hashReport: fc.option(fc.record({ hashTypes: hash, key }), { nil: null }),
    });
  },
});
