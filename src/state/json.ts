/**
 * The JSON form of `NetDeviceState`, written by hand or by tools:
 *
 *   { "mac": "52:54:00:12:34:56", "queuePairs": 4,
 *     "rxMode": { "promisc": true, "allmulti": false, "alluni": false, "nomulti": false, "nouni": false, "nobcast": false },
 *     "macTable": { "unicast": [...], "multicast": [...], "unicastOverflow": false, "multicastOverflow": false },
 *     "vlans": [1, 100], "guestOffloads": "0x186",
 *     "rss": { "hashTypes": 63, "indirectionTable": [0,1,2,3], "unclassifiedQueue": 0, "key": "6d5a56da…" } | null,
 *     "hashReport": { "hashTypes": 63, "key": "6d5a…" } | null,
 *     "coalescing": { "tx": { "maxPackets": 0, "maxUsecs": 0 }, "rx": { … } } | null }
 *
 * Decoded with io-ts; every object is closed (an unknown key is an error, so typos do not pass
 * silently) and every error names its JSON path, e.g. `rss.indirectionTable[2]`. Besides the types,
 * the decoder checks what holds for any state a device can be in: a power-of-two indirection table,
 * RSS queues below `queuePairs`, hash types within the spec's, keys of at most 255 bytes.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { CLASSES, CVQ_CLASSES } from '../cvq/classes/index.js';
import type { JsonKit } from '../cvq/classes/types.js';
import { VIRTIO_NET_RSS_HASH_TYPE_ALL, fromHex, isMacString, normaliseMac } from '../virtio/net.js';
import { NET_STATE_FIELDS, type NetDeviceState } from './net-state.js';
import { escapeText, quoteText } from './escape.js';
import { parseJsonText } from './json-text.js';
import { showValue } from './show-value.js';

/**
 * At most this many problems are listed (per array / object while decoding, and in the report); the
 * rest are counted ("and N more"), so a file of a million bad entries costs a few lines and no memory.
 */
export const MAX_LISTED_ISSUES = 20;

export interface StateJsonIssue {
  /** JSON path, e.g. `macTable.unicast[3]`; empty for the document itself. */
  readonly path: string;
  readonly message: string;
}

export interface StateJsonError {
  readonly _tag: 'StateJsonError';
  /** The first `MAX_LISTED_ISSUES` problems. */
  readonly issues: readonly StateJsonIssue[];
  /** Problems found but not listed. */
  readonly more: number;
  readonly message: string;
}

const stateJsonError = (all: readonly StateJsonIssue[], uncounted = 0): StateJsonError => {
  const issues = all.slice(0, MAX_LISTED_ISSUES);
  const more = all.length - issues.length + uncounted;
  return {
    _tag: 'StateJsonError',
    issues,
    more,
    message: issues.map((i) => `${i.path === '' ? '(document)' : i.path}: ${i.message}`).join('; ') + (more > 0 ? `; and ${more} more` : ''),
  };
};

/** The issue lines of an error (indented), with the "and N more" line when some were not listed. */
export function formatIssues(e: { readonly issues: readonly StateJsonIssue[]; readonly more?: number }, indent = '  '): string {
  const lines = e.issues.map((i) => `${indent}${i.path === '' ? '(document)' : i.path}: ${i.message}`);
  if ((e.more ?? 0) > 0) lines.push(`${indent}… and ${e.more} more problem(s) not listed`);
  return lines.join('\n');
}

/** Synthetic errors standing for `n` problems not listed (a decoder's cap), by identity. */
const unlisted = new WeakMap<t.ValidationError, number>();
const moreError = (u: unknown, c: t.Context, n: number): t.ValidationError => {
  const e: t.ValidationError = { value: u, context: c, message: `${n} more` };
  unlisted.set(e, n);
  return e;
};

// ---------------------------------------------------------------------------------------------
// Codecs

/** Integer in [min, max]. */
const intIn = (name: string, min: number, max: number): t.Type<number, number, unknown> =>
  new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= min && u <= max,
    (u, c) =>
      typeof u === 'number' && Number.isInteger(u) && u >= min && u <= max
        ? t.success(u)
        : t.failure(u, c, `expected an integer in ${min}..${max}, got ${showValue(u)}`),
    t.identity,
  );

const macString = new t.Type<string, string, unknown>(
  'MAC',
  (u): u is string => typeof u === 'string' && isMacString(u),
  (u, c) => (typeof u === 'string' && isMacString(u) ? t.success(normaliseMac(u)) : t.failure(u, c, `expected a MAC "xx:xx:xx:xx:xx:xx", got ${showValue(u)}`)),
  t.identity,
);

/** Hex bytes (lower-cased), at most 255 of them (u8 hash_key_length). */
const keyHex = new t.Type<string, string, unknown>(
  'HexKey',
  (u): u is string => typeof u === 'string' && fromHex(u) !== undefined && u.length <= 510,
  (u, c) => {
    if (typeof u !== 'string' || fromHex(u) === undefined) return t.failure(u, c, `expected an even-length hex string, got ${showValue(u)}`);
    if (u.length > 510) return t.failure(u, c, `key of ${u.length / 2} bytes exceeds 255 (u8 hash_key_length)`);
    return t.success(u.toLowerCase());
  },
  t.identity,
);

/**
 * "0x…" le64 guest offloads. Any 64-bit mask decodes; only the guest-offload features the destination
 * negotiates (GUEST_CSUM … GUEST_USO6) can be restored, and `viewThrough` / `planRestore` mask the rest.
 */
const offloadsHex = new t.Type<bigint, string, unknown>(
  'GuestOffloads',
  (u): u is bigint => typeof u === 'bigint',
  (u, c) =>
    typeof u === 'string' && /^0x[0-9a-f]{1,16}$/i.test(u) ? t.success(BigInt(u)) : t.failure(u, c, `expected a hex mask "0x…" of at most 64 bits, got ${showValue(u)}`),
  (v) => `0x${v.toString(16)}`,
);

/** An array of `item`, errors at `[i]`: the first MAX_LISTED_ISSUES listed, the rest counted. */
const arrayOf = <A>(item: t.Type<A, unknown, unknown>, name: string): t.Type<A[], unknown[], unknown> =>
  new t.Type<A[], unknown[], unknown>(
    name,
    (u): u is A[] => Array.isArray(u) && u.every((x) => item.is(x)),
    (u, c) => {
      if (!Array.isArray(u)) return t.failure(u, c);
      const out = new Array<A>(u.length);
      const errs: t.ValidationError[] = [];
      let dropped = 0;
      for (let i = 0; i < u.length; i++) {
        const x: unknown = u[i];
        // once the array has failed its values are not needed: judge the rest with `is`, no context built
        if (errs.length > 0 && item.is(x)) continue;
        if (errs.length >= MAX_LISTED_ISSUES) {
          dropped++;
          continue;
        }
        const r = item.validate(x, [...c, { key: String(i), type: item, actual: x }]);
        if (E.isRight(r)) out[i] = r.right;
        else errs.push(...r.left);
      }
      if (dropped > 0) errs.push(moreError(u, c, dropped));
      return errs.length > 0 ? t.failures(errs) : t.success(out);
    },
    (a) => a.map((x) => item.encode(x)),
  );

/** `codec | null` without a union's extra path entry. */
const nullable = <A, O>(codec: t.Type<A, O, unknown>): t.Type<A | null, O | null, unknown> =>
  new t.Type<A | null, O | null, unknown>(
    `${codec.name} | null`,
    (u): u is A | null => u === null || codec.is(u),
    (u, c) => (u === null ? t.success(null) : codec.validate(u, c)),
    (a) => (a === null ? null : codec.encode(a)),
  );

/** An object with exactly these keys: missing and unknown keys are errors at their path. */
const closed = <P extends t.Props>(props: P, name: string): t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown> => {
  const inner = t.type(props, name);
  return new t.Type(
    name,
    inner.is,
    (u, c) => {
      const base = inner.validate(u, c);
      if (typeof u !== 'object' || u === null || Array.isArray(u)) return base;
      const extra = Object.keys(u).filter((k) => !Object.prototype.hasOwnProperty.call(props, k));
      if (extra.length === 0) return base;
      const errs: t.ValidationError[] = extra
        .slice(0, MAX_LISTED_ISSUES)
        .map((k) => ({ value: (u as Record<string, unknown>)[k], context: [...c, { key: k, type: t.never, actual: (u as Record<string, unknown>)[k] }], message: `unknown key ${quoteText(k, 40)}` }));
      if (extra.length > MAX_LISTED_ISSUES) errs.push(moreError(u, c, extra.length - MAX_LISTED_ISSUES));
      return E.isLeft(base) ? t.failures([...base.left, ...errs]) : t.failures(errs);
    },
    inner.encode,
  );
};

const u32 = intIn('u32', 0, 0xffffffff);
const hashTypes = intIn('hashTypes', 0, VIRTIO_NET_RSS_HASH_TYPE_ALL);

/** The codecs above, handed to each class module for its fields of the document. */
const kit: JsonKit = { intIn, u32, hashTypes, macString, keyHex, offloadsHex, arrayOf, nullable, closed };

/** Each class's JSON fields (src/cvq/classes/<class>.ts `json`). */
const CLASS_JSON = CLASSES.map((c) => c.json(kit));

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type StateJsonProps = UnionToIntersection<ReturnType<(typeof CVQ_CLASSES)[number]['json']>['props']>;

/** JSON keys in the document's order: the order of the state fields they hold (`NET_STATE_FIELDS`). */
const JSON_KEYS: readonly string[] = CLASS_JSON.flatMap((j) => Object.keys(j.props).map((key) => ({ key, at: NET_STATE_FIELDS.indexOf(j.fields[key]!) })))
  .sort((a, b) => a.at - b.at)
  .map((k) => k.key);

const inDocumentOrder = <V>(o: Readonly<Record<string, V>>): Record<string, V> => Object.fromEntries(JSON_KEYS.map((k) => [k, o[k]!]));

export const StateJsonCodec = closed(inDocumentOrder(Object.assign({}, ...CLASS_JSON.map((j) => j.props))) as StateJsonProps, 'NetDeviceState');

export type StateJson = t.OutputOf<typeof StateJsonCodec>;

// ---------------------------------------------------------------------------------------------

/** An object key as a path shows it: a plain name as is, anything else quoted, cut and escaped. */
export const pathKey = (k: string): string => (/^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(k) ? k : quoteText(k, 40));

/** The JSON path of a context; keys from the file are cut and escaped (they may be anything). */
function pathOf(context: t.Context): string {
  let p = '';
  for (const entry of context.slice(1)) {
    if (/^\d+$/.test(entry.key)) p += `[${entry.key}]`;
    else {
      const k = pathKey(entry.key);
      p += p === '' ? k : `.${k}`;
    }
  }
  return p;
}

function describeError(e: t.ValidationError): string {
  const expected = e.context[e.context.length - 1]?.type.name ?? 'a value';
  if (e.value === undefined) return `missing (expected ${expected})`;
  return e.message ?? `expected ${escapeText(expected)}, got ${showValue(e.value)}`;
}

/** Checks beyond the types: what any reachable device state satisfies (each class's `check`). */
function semanticIssues(s: t.TypeOf<typeof StateJsonCodec>): StateJsonIssue[] {
  const doc: Readonly<Record<string, unknown>> = { ...s };
  return CLASS_JSON.flatMap((j) => j.check?.(doc, doc) ?? []);
}

/** Decode the JSON form (already parsed) into a state. */
export function decodeStateJson(u: unknown): E.Either<StateJsonError, NetDeviceState> {
  const r = StateJsonCodec.decode(u);
  if (E.isLeft(r)) {
    let uncounted = 0;
    const issues: StateJsonIssue[] = [];
    for (const e of r.left) {
      const n = unlisted.get(e);
      if (n !== undefined) uncounted += n;
      else if (issues.length < MAX_LISTED_ISSUES) issues.push({ path: pathOf(e.context), message: describeError(e) });
      else uncounted++;
    }
    return E.left(stateJsonError(issues, uncounted));
  }
  const s = r.right;
  const issues = semanticIssues(s);
  if (issues.length > 0) return E.left(stateJsonError(issues));
  const state: Record<string, unknown> = {};
  for (const j of CLASS_JSON) Object.assign(state, j.toState(s));
  return E.right(Object.fromEntries(NET_STATE_FIELDS.map((f) => [f, state[f]])) as NetDeviceState);
}

/** Parse and decode JSON text; a syntax error is an issue at the document. */
export function parseStateJson(text: string): E.Either<StateJsonError, NetDeviceState> {
  if (text.trim() === '') return E.left(stateJsonError([{ path: '', message: 'empty input (expected a JSON object)' }]));
  const u = parseJsonText(text);
  if (E.isLeft(u)) return E.left(stateJsonError([{ path: '', message: u.left.startsWith('duplicate key') ? u.left : `not JSON: ${escapeText(u.left, 120)}` }]));
  return decodeStateJson(u.right);
}

/** The JSON form of a state (round-trips through `decodeStateJson`). */
export function encodeStateJson(state: NetDeviceState): StateJson {
  return inDocumentOrder(Object.assign({}, ...CLASS_JSON.map((j) => j.fromState(state)))) as StateJson;
}
