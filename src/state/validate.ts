/**
 * Whether a state fits a device's limits: the destination of a restore must hold it all, or some
 * restore command is refused (an RSS table longer than rss_max_indirection_table_length, a MAC table
 * larger than the device's …).
 */
import * as E from 'fp-ts/lib/Either.js';
import type { DeviceLimits, NetDeviceState } from './net-state.js';
import type { StateJsonIssue } from './json.js';

export interface StateLimitError {
  readonly _tag: 'StateLimitError';
  readonly issues: readonly StateJsonIssue[];
  readonly message: string;
}

export function checkLimits(state: NetDeviceState, limits: DeviceLimits): E.Either<StateLimitError, NetDeviceState> {
  const issues: StateJsonIssue[] = [];
  if (state.queuePairs > limits.maxQueuePairs) issues.push({ path: 'queuePairs', message: `${state.queuePairs} > max_virtqueue_pairs ${limits.maxQueuePairs}` });
  const t = state.macTable;
  if (t.unicast.length + t.multicast.length > limits.macTableEntries) {
    issues.push({ path: 'macTable', message: `${t.unicast.length} + ${t.multicast.length} entries exceed the device's ${limits.macTableEntries}` });
  }
  for (const [path, h] of [['rss', state.rss], ['hashReport', state.hashReport]] as const) {
    if (h === null) continue;
    // with HASH_REPORT, RSS_CONFIG carries the reported hash: the same key and types, judged once as rss's
    if (path === 'hashReport' && state.rss !== null && h.key === state.rss.key && h.hashTypes === state.rss.hashTypes) continue;
    if ((h.hashTypes & ~limits.supportedHashTypes) !== 0) {
      issues.push({ path: `${path}.hashTypes`, message: `0x${h.hashTypes.toString(16)} outside supported_hash_types 0x${limits.supportedHashTypes.toString(16)}` });
    }
    if (h.key.length / 2 > limits.rssMaxKeySize) issues.push({ path: `${path}.key`, message: `${h.key.length / 2} bytes > rss_max_key_size ${limits.rssMaxKeySize}` });
  }
  if (state.rss !== null && state.rss.indirectionTable.length > limits.rssMaxIndirectionTableLength) {
    issues.push({ path: 'rss.indirectionTable', message: `${state.rss.indirectionTable.length} entries > rss_max_indirection_table_length ${limits.rssMaxIndirectionTableLength}` });
  }
  return issues.length === 0
    ? E.right(state)
    : E.left({ _tag: 'StateLimitError', issues, message: issues.map((i) => `${i.path}: ${i.message}`).join('; ') });
}
