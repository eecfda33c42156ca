/**
 * State files and migration records under hostile JSON: valid documents mutated at a random path
 * (key deleted, wrong type, out-of-range number, huge array, deep nesting, extra keys including
 * `__proto__` / `constructor`, wrong version) or as text (truncated, a byte changed). Decoding must
 * return a typed error whose every issue names a path — the mutated one among them for a structural
 * mutation — or a value that re-encodes and decodes to itself; it must never throw, never touch its
 * input, never pollute a prototype, and never hand back part of a state.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { decodeStateJson, encodeStateJson, parseStateJson, pathKey } from '../../src/state/json.js';
import { MIGRATION_RECORD_VERSION, encodeMigrationRecord, makeMigrationRecord, parseMigrationRecord } from '../../src/state/migration-record.js';
import { DEFAULT_LIMITS, type NetDeviceState } from '../../src/state/net-state.js';
import { FULL_PROFILE_FEATURES } from '../../src/virtio/features.js';
import { arbState } from './arbitraries.js';
import { show } from './runner.js';
import { Violations, type AnyFuzzTarget, type Verdict } from './target.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type PathKey = string | number;

export type JsonMutation =
  | { readonly op: 'delete'; readonly pick: number }
  | { readonly op: 'replace'; readonly pick: number; readonly with: Replacement }
  | { readonly op: 'add-key'; readonly pick: number; readonly key: string; readonly with: Replacement }
  | { readonly op: 'version'; readonly value: Json };

export type Replacement =
  | { readonly kind: 'value'; readonly value: Json }
  | { readonly kind: 'huge-array'; readonly length: number }
  | { readonly kind: 'deep'; readonly depth: number }
  | { readonly kind: 'proto' };

export interface TextMutation {
  readonly op: 'truncate' | 'byte';
  readonly at: number;
  readonly value: number;
}

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'polluted', '', ' mac', 'MAC'];

export const replacementArb = (maxDepth: number): fc.Arbitrary<Replacement> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .oneof(
          fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, '', 'x', '0x', '0xzz', '52:54:00:12:34:5g', '52:54:00:12:34:56', [], {}, [null], { a: 1 }),
          fc.string({ maxLength: 12 }),
          fc.integer(),
        )
        .map((value): Replacement => ({ kind: 'value', value })),
    },
    { weight: 1, arbitrary: fc.constantFrom(1000, 100_000).map((length): Replacement => ({ kind: 'huge-array', length })) },
    { weight: 1, arbitrary: fc.integer({ min: 2, max: maxDepth }).map((depth): Replacement => ({ kind: 'deep', depth })) },
    { weight: 1, arbitrary: fc.constant<Replacement>({ kind: 'proto' }) },
  );

export const jsonMutationArb = (maxDepth: number): fc.Arbitrary<JsonMutation> =>
  fc.oneof(
    fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('replace' as const), pick: fc.nat(), with: replacementArb(maxDepth) }),
    fc.record({ op: fc.constant('add-key' as const), pick: fc.nat(), key: fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 6 })), with: replacementArb(maxDepth) }),
    fc.record({ op: fc.constant('version' as const), value: fc.constantFrom<Json>(0, 2, -1, 1.5, '1', null, MIGRATION_RECORD_VERSION + 1) }),
  );

export const textMutationArb: fc.Arbitrary<TextMutation> = fc.record({ op: fc.constantFrom('truncate' as const, 'byte' as const), at: fc.nat(), value: fc.integer({ min: 0x20, max: 0x7e }) });

function build(r: Replacement): Json {
  switch (r.kind) {
    case 'value':
      return r.value;
    case 'huge-array':
      return new Array<Json>(r.length).fill(0);
    case 'deep':
      // spliced into the text after serialization (see `serialize`): our own JSON.stringify must not recurse
      return `${DEEP}${r.depth}${DEEP}`;
    case 'proto':
      return JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}') as Json;
  }
}

/** Every path of a JSON value (objects' keys and arrays' indexes), parents before children. */
function paths(x: Json, at: PathKey[] = [], out: PathKey[][] = []): PathKey[][] {
  out.push(at);
  if (Array.isArray(x)) x.slice(0, 8).forEach((v, i) => paths(v, [...at, i], out));
  else if (x !== null && typeof x === 'object') for (const k of Object.keys(x)) paths(x[k]!, [...at, k], out);
  return out;
}

function get(x: Json, p: readonly PathKey[]): Json {
  let c: Json = x;
  for (const k of p) c = (c as Record<string, Json>)[k as string]!;
  return c;
}

/** Apply a mutation in place; returns the path it touched. */
export function mutateJson(doc: Json, m: JsonMutation): PathKey[] | undefined {
  if (m.op === 'version') {
    if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
      doc['version'] = m.value;
      return ['version'];
    }
    return undefined;
  }
  const all = paths(doc);
  if (m.op === 'add-key') {
    const objs = all.filter((p) => {
      const v = get(doc, p);
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    });
    const p = objs[m.pick % objs.length]!;
    Object.defineProperty(get(doc, p), m.key, { value: build(m.with), enumerable: true, writable: true, configurable: true });
    return [...p, m.key];
  }
  const inner = all.filter((p) => p.length > 0);
  if (inner.length === 0) return undefined;
  const p = inner[m.pick % inner.length]!;
  const parent = get(doc, p.slice(0, -1)) as Record<string, Json> | Json[];
  const key = p[p.length - 1]!;
  if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
  } else (parent as Record<string, Json>)[key as string] = build(m.with);
  return p;
}

export function mutateText(text: string, ms: readonly TextMutation[]): string {
  let t = text;
  for (const m of ms) {
    const at = m.at % (t.length + 1);
    t = m.op === 'truncate' ? t.slice(0, at) : t.slice(0, at) + String.fromCharCode(m.value) + t.slice(at + 1);
  }
  return t;
}

const DEEP = '\u0000deep\u0000';
const DEEP_RE = /"\\u0000deep\\u0000(\d+)\\u0000deep\\u0000"/g;

/** JSON text of a mutated document, deep-nesting placeholders expanded to `[[[…]]]`. */
export const serialize = (doc: Json): string => JSON.stringify(doc).replace(DEEP_RE, (_m, n: string) => '['.repeat(Number(n)) + ']'.repeat(Number(n)));

const prototypeClean = (): boolean =>
  (({}) as Record<string, unknown>)['polluted'] === undefined && Object.getOwnPropertyNames(Object.prototype).every((k) => k !== 'polluted');

/** `a.b[3].c` / `a.b.3.c` forms of a path, to find it among an error's issue paths. */
const dotted = (p: readonly PathKey[]): string => p.join('.');
const tokens = (path: string): string[] => path.split(/[.[\]]+/).filter((t) => t !== '');
/** A state-file path as the decoder writes it (object keys through `pathKey`: quoted and escaped unless plain). */
const bracketed = (p: readonly PathKey[]): string =>
  p.reduce<string>((s, k) => (typeof k === 'number' || /^\d+$/.test(k) ? `${s}[${k}]` : s === '' ? pathKey(k) : `${s}.${pathKey(k)}`), '');

// ───────────────────────────── state files ─────────────────────────────

export interface StateCase {
  readonly state: NetDeviceState;
  readonly json: readonly JsonMutation[];
  readonly text: readonly TextMutation[];
}

export const stateCaseArb = (maxDepth: number): fc.Arbitrary<StateCase> =>
  fc.record({
    state: arbState(DEFAULT_LIMITS),
    json: fc.array(jsonMutationArb(maxDepth).filter((m) => m.op !== 'version'), { maxLength: 3 }),
    text: fc.array(textMutationArb, { maxLength: 2 }),
  });

export function checkStateCase(c: StateCase): Verdict {
  const v = new Violations();
  const doc = JSON.parse(JSON.stringify(encodeStateJson(c.state))) as Json;
  const touched = c.json.map((m) => mutateJson(doc, m)).filter((p): p is PathKey[] => p !== undefined);
  const text = mutateText(serialize(doc), c.text);
  const r = parseStateJson(text);
  v.expect(prototypeClean(), () => 'decoding polluted Object.prototype');
  if (E.isLeft(r)) {
    const e = r.left;
    v.expect(e._tag === 'StateJsonError' && e.issues.length > 0 && e.issues.every((i) => typeof i.path === 'string' && i.message.length > 0), () => `untyped error: ${show(e)}`);
    // a structural mutation alone (text intact) is reported at its path or one above it
    if (c.text.length === 0 && touched.length === 1) {
      // compared token-wise: the codec writes a numeric-looking object key ("0") as "[0]", like an index
      const want = tokens(bracketed(touched[0]!));
      const named = e.issues.some((i) => {
        const got = tokens(i.path);
        const n = Math.min(got.length, want.length);
        return got.slice(0, n).every((t, k) => t === want[k]);
      });
      const p = touched[0]!;
      v.expect(named, () => `mutation at ${bracketed(p)} reported only at ${e.issues.map((i) => i.path).join(', ')}`);
    }
    return v.verdict;
  }
  // accepted: the state round-trips (nothing partial, nothing extra)
  const again = decodeStateJson(JSON.parse(JSON.stringify(encodeStateJson(r.right))));
  v.expect(E.isRight(again) && JSON.stringify(encodeStateJson(again.right)) === JSON.stringify(encodeStateJson(r.right)), () => 'an accepted state does not round-trip');
  if (c.json.length === 0 && c.text.length === 0) {
    v.expect(JSON.stringify(encodeStateJson(r.right)) === JSON.stringify(encodeStateJson(c.state)), () => 'a valid state file decoded to a different state');
  }
  return v.verdict;
}

// ───────────────────────────── migration records ─────────────────────────────

export interface RecordCase {
  readonly state: NetDeviceState;
  readonly vrings: readonly { index: number; base: number }[];
  readonly json: readonly JsonMutation[];
  readonly text: readonly TextMutation[];
}

export const recordCaseArb = (maxDepth: number): fc.Arbitrary<RecordCase> =>
  fc.record({
    state: arbState(DEFAULT_LIMITS),
    vrings: fc.uniqueArray(fc.record({ index: fc.integer({ min: 0, max: 16 }), base: fc.integer({ min: 0, max: 0xffffffff }) }), { selector: (x) => x.index, maxLength: 5 }),
    json: fc.array(jsonMutationArb(maxDepth), { maxLength: 3 }),
    text: fc.array(textMutationArb, { maxLength: 2 }),
  });

const decodeDevice = (u: unknown) => decodeStateJson(u);

export function checkRecordCase(c: RecordCase): Verdict {
  const v = new Violations();
  const made = makeMigrationRecord(
    {
      device: encodeStateJson(c.state),
      offered: FULL_PROFILE_FEATURES,
      negotiated: FULL_PROFILE_FEATURES,
      backend: 0x3en,
      vrings: c.vrings,
      dirty: { pageSize: 4096, rounds: 3, pagesSent: 100, remaining: 2 },
    },
    decodeDevice,
  );
  if (E.isLeft(made)) return `a valid record was refused: ${made.left.message}`;
  const doc = JSON.parse(encodeMigrationRecord(made.right)) as Json;
  const touched = c.json.map((m) => mutateJson(doc, m)).filter((p): p is PathKey[] => p !== undefined);
  const text = mutateText(serialize(doc), c.text);
  const r = parseMigrationRecord(text, decodeDevice);
  v.expect(prototypeClean(), () => 'decoding polluted Object.prototype');
  if (E.isLeft(r)) {
    const e = r.left;
    v.expect(e._tag === 'MigrationRecordError' && Array.isArray(e.paths) && e.paths.every((p) => typeof p === 'string') && e.message.length > 0, () => `untyped error: ${show(e)}`);
    if (c.text.length === 0 && c.json.length === 1 && c.json[0]!.op === 'version' && c.json[0]!.value !== MIGRATION_RECORD_VERSION) {
      v.expect(e.paths.includes('version'), () => `a wrong version reported at ${e.paths.join(', ')}`);
    } else if (c.text.length === 0 && touched.length === 1) {
      const p = touched[0]!;
      // the device state is checked by its own codec and reported at "device"
      const named = e.paths.some((q) => dotted(p).startsWith(q) || q.startsWith(dotted(p)));
      v.expect(named, () => `mutation at ${dotted(p)} reported only at ${e.paths.join(', ')}`);
    }
    return v.verdict;
  }
  const again = parseMigrationRecord(encodeMigrationRecord(r.right), decodeDevice);
  v.expect(E.isRight(again) && encodeMigrationRecord(again.right) === encodeMigrationRecord(r.right), () => 'an accepted record does not round-trip');
  return v.verdict;
}

/**
 * `maxDepth` bounds the nesting the mutators build (deep nesting once made a RangeError escape the error
 * text; fixed by src/state/show-value.ts, found by this target).
 */
// ---- floods, escapes and numbers no double holds (issue 17) ----

export interface FloodCase {
  readonly state: NetDeviceState;
  /** Which array is flooded, with how many bad entries. */
  readonly field: 'vlans' | 'unicast' | 'indirectionTable' | 'unknown-keys';
  readonly count: number;
  /** A hostile key added to the document (ANSI escapes, control characters, bidi overrides, very long). */
  readonly key: string;
  /** A number literal no double holds, written over `queuePairs` (as text). */
  readonly literal: string | undefined;
}

const HOSTILE_KEY = fc.oneof(
  fc.constantFrom('\u001b[31mred\u001b[0m', '\r\u0007\u009b2J', '\u202eevil', 'x'.repeat(100_000), '\ud800', '\u0000'),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const INEXACT = fc.constantFrom('1e400', '-1e400', '9007199254740993', '1.0000000000000000001', '123456789012345678901234567890', '1e-999');

export const floodCaseArb = (): fc.Arbitrary<FloodCase> =>
  fc.record({
    state: arbState(DEFAULT_LIMITS),
    field: fc.constantFrom('vlans', 'unicast', 'indirectionTable', 'unknown-keys'),
    count: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1000, max: 50_000 })),
    key: HOSTILE_KEY,
    literal: fc.option(INEXACT, { nil: undefined }),
  });

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** The flooded document as text. */
export function floodText(c: FloodCase): string {
  const doc = encodeStateJson(c.state) as unknown as Record<string, any>;
  if (c.field === 'vlans') doc.vlans = Array.from({ length: c.count }, () => 5000);
  else if (c.field === 'unicast') doc.macTable = { ...doc.macTable, unicast: Array.from({ length: c.count }, () => 'zz') };
  else if (c.field === 'indirectionTable') doc.rss = { hashTypes: 1, indirectionTable: Array.from({ length: c.count }, () => 'q'), unclassifiedQueue: 0, key: '' };
  else for (let i = 0; i < c.count; i++) doc[`unknown${i}`] = i;
  doc[c.key] = 1;
  const text = JSON.stringify(doc);
  return c.literal === undefined ? text : text.replace(/"queuePairs":\d+/, `"queuePairs":${c.literal}`);
}

/**
 * A flood of bad entries, a hostile key and maybe a number no double holds: a typed error listing at
 * most 20 issues and counting the rest (at least the flood), with every echoed value escaped, a bounded
 * message, and the literal shown as written (never "null").
 */
export function checkFloodCase(c: FloodCase): Verdict {
  const v = new Violations();
  const r = parseStateJson(floodText(c));
  if (E.isRight(r)) {
    v.expect(false, () => 'a flooded document decoded');
    return v.verdict;
  }
  const e = r.left;
  v.expect(e.issues.length <= 20, () => `${e.issues.length} issues listed, more than 20`);
  v.expect(e.issues.length + e.more >= Math.min(c.count, 1), () => `${e.issues.length} + ${e.more} problems counted for a flood of ${c.count}`);
  if (c.field !== 'indirectionTable') v.expect(e.issues.length + e.more >= c.count, () => `only ${e.issues.length} + ${e.more} problems counted for ${c.count} bad entries`);
  v.expect(e.message.length < 16_384, () => `a ${e.message.length}-character message`);
  v.expect(!RAW_CONTROL.test(e.message), () => `a raw control character in ${JSON.stringify(e.message.slice(0, 200))}`);
  v.expect(e.issues.every((i) => !RAW_CONTROL.test(i.path)), () => 'a raw control character in a path');
  v.expect(!/got null\b/.test(e.message), () => '"got null" in the message');
  if (c.literal !== undefined && e.issues.some((i) => i.path === 'queuePairs')) {
    v.expect(e.message.includes(`got ${c.literal}`), () => `queuePairs ${c.literal} not shown as written: ${e.message.slice(0, 300)}`);
  }
  return v.verdict;
}

export const jsonTargets = (maxDepth = 20000): AnyFuzzTarget[] => [
  { kind: 'state file JSON (mutated)', arbitrary: stateCaseArb(maxDepth), check: checkStateCase },
  { kind: 'state file JSON (floods, escapes, inexact numbers)', arbitrary: floodCaseArb(), check: checkFloodCase, weight: 0.05 },
  { kind: 'migration record JSON (mutated)', arbitrary: recordCaseArb(maxDepth), check: checkRecordCase },
];
