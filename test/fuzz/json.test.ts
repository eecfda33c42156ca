import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { checkFloodCase, checkRecordCase, checkStateCase, floodCaseArb, floodText, jsonTargets } from '../../testkit/fuzz/json.js';
import { parseStateJson } from '../../src/state/json.js';
import { parseMigrationRecord } from '../../src/state/migration-record.js';
import { resetNetState } from '../../src/state/net-state.js';
import { assertTarget } from './helpers.js';

const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);

describe('fuzz: state files and migration records', () => {
  for (const t of jsonTargets(20000)) {
    it(`${t.kind}: a typed error naming the path, or a value that round-trips`, async () => {
      await assertTarget(t, Math.max(10, Math.round(200 * (t.weight ?? 1))));
    }, 60_000);
  }

  it('a flood is listed 20 deep and counted in full; a hostile key is escaped; 1e400 is shown as written', () => {
    const c = { state: fc.sample(floodCaseArb(), { numRuns: 1, seed: 1 })[0]!.state, field: 'vlans' as const, count: 30_000, key: '\u001b[2J\u009b', literal: '1e400' };
    expect(checkFloodCase(c)).toBeUndefined();
    const text = floodText(c);
    expect(text).toContain('"queuePairs":1e400');
  });

  it('a mutation is reported at its path (the check is not vacuous)', () => {
    const state = resetNetState('52:54:00:12:34:56');
    expect(checkStateCase({ state, json: [{ op: 'replace', pick: 1, with: { kind: 'value', value: 'nope' } }], text: [] })).toBeUndefined();
    expect(checkRecordCase({ state, vrings: [{ index: 0, base: 5 }], json: [{ op: 'version', value: 2 }], text: [] })).toBeUndefined();
    const r = parseStateJson('{"mac": 5}');
    expect(E.isLeft(r) && r.left.issues.map((i) => i.path)).toContain('mac');
  });

  it('prototype-pollution keys are unknown keys, and pollute nothing', () => {
    const r = parseStateJson('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}');
    expect(E.isLeft(r) && r.left.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['__proto__', 'constructor']));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  // Was a bug: error texts were built with JSON.stringify of the offending value, so a value nested a few
  // thousand levels deep overflowed the stack and a RangeError escaped. Error texts now describe values
  // without recursion (src/state/show-value.ts).
  it('a deeply nested value in a state file is a typed error naming its path, not a RangeError', () => {
    const r = parseStateJson(`{"mac":${deep(5000)}}`);
    expect(E.isLeft(r) && r.left.issues.find((i) => i.path === 'mac')?.message).toMatch(/array of 1/);
  });

  it('a deeply nested value in a migration record is a typed error naming its path, not a RangeError', () => {
    const r = parseMigrationRecord(`{"format":"shadowvq-migration","version":1,"device":{},"features":${deep(5000)},"vrings":[],"dirty":{}}`);
    expect(E.isLeft(r) && r.left.paths).toContain('features');
  });
});
