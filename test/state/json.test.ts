import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { decodeStateJson, encodeStateJson, parseStateJson } from '../../src/state/json.js';
import { DEFAULT_LIMITS, vlanList } from '../../src/state/net-state.js';
import { checkLimits } from '../../src/state/validate.js';
import { arbLimits, arbState } from '../../testkit/fuzz/arbitraries.js';

const example = {
  mac: '52:54:00:12:34:56',
  queuePairs: 4,
  rxMode: { promisc: true, allmulti: false, alluni: false, nomulti: false, nouni: false, nobcast: false },
  macTable: { unicast: ['52:54:00:00:00:01'], multicast: ['01:00:5E:00:00:01'], unicastOverflow: false, multicastOverflow: false },
  vlans: [100, 1],
  guestOffloads: '0x186',
  rss: { hashTypes: 63, indirectionTable: [0, 1, 2, 3], unclassifiedQueue: 0, key: '6d5a56da' },
  hashReport: { hashTypes: 63, key: '6d5a' },
  coalescing: { tx: { maxPackets: 0, maxUsecs: 0 }, rx: { maxPackets: 0, maxUsecs: 0 } },
};

const issues = (u: unknown) => {
  const r = decodeStateJson(u);
  return E.isLeft(r) ? r.left.issues.map((i) => `${i.path}: ${i.message}`) : [];
};

describe('state JSON (io-ts)', () => {
  it('decodes the issue\'s example, normalising MACs', () => {
    const r = decodeStateJson(example);
    expect(E.isRight(r)).toBe(true);
    if (E.isLeft(r)) return;
    expect(r.right.macTable.multicast).toEqual(['01:00:5e:00:00:01']);
    expect(vlanList(r.right.vlanFilter)).toEqual([1, 100]);
    expect(r.right.guestOffloads).toBe(0x186n);
    expect(encodeStateJson(r.right)).toEqual({ ...example, vlans: [1, 100], macTable: { ...example.macTable, multicast: ['01:00:5e:00:00:01'] } });
  });

  it('round-trips any state through JSON text', () => {
    fc.assert(
      fc.property(arbLimits.chain(arbState), (s) => {
        expect(parseStateJson(JSON.stringify(encodeStateJson(s)))).toEqual(E.right(s));
      }),
      { numRuns: 300 },
    );
  });

  it('names the JSON path of every error', () => {
    expect(issues({ ...example, mac: '52:54:00:12:34' })).toEqual(['mac: expected a MAC "xx:xx:xx:xx:xx:xx", got "52:54:00:12:34"']);
    expect(issues({ ...example, macTable: { ...example.macTable, unicast: ['52:54:00:00:00:01', 7] } })).toEqual([
      'macTable.unicast[1]: expected a MAC "xx:xx:xx:xx:xx:xx", got 7',
    ]);
    expect(issues({ ...example, rss: { ...example.rss, indirectionTable: [0, 1, -2, 3] } })).toEqual(['rss.indirectionTable[2]: expected an integer in 0..65535, got -2']);
    expect(issues({ ...example, rss: { ...example.rss, indirectionTable: [0, 1, 2] } })).toEqual(['rss.indirectionTable: length 3 is not a power of two (§5.1.6.5.7.1)']);
    expect(issues({ ...example, rss: { ...example.rss, unclassifiedQueue: 4 } })).toEqual(['rss.unclassifiedQueue: queue 4 ≥ queuePairs 4']);
    expect(issues({ ...example, rss: { ...example.rss, key: 'abc' } })).toEqual(['rss.key: expected an even-length hex string, got "abc"']);
    expect(issues({ ...example, vlans: [1, 4096] })).toEqual(['vlans[1]: expected an integer in 0..4095, got 4096']);
    expect(issues({ ...example, guestOffloads: 390 })).toEqual(['guestOffloads: expected a hex mask "0x…" of at most 64 bits, got 390']);
    expect(issues({ ...example, coalescing: { ...example.coalescing, rx: { maxPackets: 1 } } })).toEqual(['coalescing.rx.maxUsecs: missing (expected u32)']);
    expect(issues({ ...example, rxMode: { ...example.rxMode, promiscuous: true } })).toEqual(['rxMode.promiscuous: unknown key "promiscuous"']);
    const { hashReport: _, ...noHash } = example;
    expect(issues(noHash)).toEqual(['hashReport: missing (expected HashReport | null)']);
    expect(issues([])).toEqual([': expected NetDeviceState, got []']);
  });

  it('reports text that is not JSON at the document', () => {
    const r = parseStateJson('{"mac":');
    expect(E.isLeft(r) && r.left.issues[0]!.path).toBe('');
  });

  it('checks a state against a device\'s limits', () => {
    const s = decodeStateJson(example);
    if (E.isLeft(s)) throw new Error(s.left.message);
    expect(checkLimits(s.right, DEFAULT_LIMITS)).toEqual(E.right(s.right));
    const small = { ...DEFAULT_LIMITS, maxQueuePairs: 2, rssMaxIndirectionTableLength: 2, supportedHashTypes: 1, macTableEntries: 1 };
    const r = checkLimits(s.right, small);
    expect(E.isLeft(r) && r.left.issues.map((i) => i.path)).toEqual(['queuePairs', 'macTable', 'rss.hashTypes', 'hashReport.hashTypes', 'rss.indirectionTable']);
  });
});
