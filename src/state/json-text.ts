/**
 * JSON text → value, keeping the truth about numbers. `JSON.parse` turns `1e400` into Infinity (which
 * prints as `null`), `9007199254740993` into 9007199254740992 and `1.0000000000000000001` into 1 — a
 * value the decoder would then accept or misreport. Here every number literal whose double is not
 * exactly the literal's value becomes an `InexactNumber` holding the literal's text, so a codec refuses
 * it and the message shows what the file said.
 */
import * as E from 'fp-ts/lib/Either.js';
import { quoteText } from './escape.js';

/** A JSON number literal no double holds exactly (kept as its text, cut to 80 characters). */
export class InexactNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/**
 * Whether the double `JSON.parse` makes of the literal is exactly its value. Integers up to 2^53 and
 * ordinary fractions (0.5, 1.25e-3 …) are exact or harmless; the literals that lie are those beyond the
 * double range, integers beyond 2^53 that do not round-trip, and fractions that collapse to an integer.
 */
export function literalIsExact(lit: string): boolean {
  const n = Number(lit);
  if (!Number.isFinite(n)) return false;
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(lit);
  if (m === null) return true; // not a number literal JSON accepts; JSON.parse reports it
  const [, , int, frac = '', exp = '0'] = m;
  if (!Number.isInteger(n)) return true; // a fraction stays a fraction: intIn refuses it with its value
  // the literal's exact value is digits × 10^(e − |frac|); an integer double must equal it exactly
  const digits = (int! + frac).replace(/^0+/, '') || '0';
  const e = Number(exp) - frac.length;
  if (digits === '0') return n === 0;
  if (n === 0) return false; // 1e-999 underflows to 0
  if (e < 0) {
    // integral only when the last −e digits are zeros
    const k = -e;
    if (k >= digits.length || !/^0+$/.test(digits.slice(-k))) return false;
    return BigInt(digits.slice(0, -k)) === BigInt(Math.abs(n));
  }
  if (e > 400) return false;
  const exact = BigInt(digits) * 10n ** BigInt(e);
  return exact === BigInt(Math.abs(n));
}

const NUMBER_AT = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Parse JSON text; Left: the syntax error, or a key given twice in one object (`JSON.parse` would keep
 * the last silently). Inexact number literals become `InexactNumber`s. (Long: one recursive-descent
 * parser whose value, string and number readers share the cursor.)
 */
export function parseJsonText(text: string): E.Either<string, unknown> {
  // one linear scan outside strings: inexact number literals, and each object's keys
  const inexact: string[] = [];
  const spans: [number, number][] = [];
  const objects: (Set<string> | null)[] = [];
  let inString = false;
  let stringStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) {
        inString = false;
        const keys = objects[objects.length - 1];
        if (keys === undefined || keys === null) continue;
        let j = i + 1;
        while (j < text.length && (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x0a || text.charCodeAt(j) === 0x0d || text.charCodeAt(j) === 0x09)) j++;
        if (text.charCodeAt(j) !== 0x3a) continue; // not followed by ':' — a value, not a key
        let key: string;
        try {
          key = JSON.parse(text.slice(stringStart, i + 1)) as string;
        } catch {
          continue; // a bad string: JSON.parse reports it
        }
        if (keys.has(key)) {
          const line = text.slice(0, stringStart).split('\n').length;
          return E.left(`duplicate key ${quoteText(key, 40)} on line ${line} (an object gives each key once; JSON.parse would keep only the last)`);
        }
        keys.add(key);
      }
      continue;
    }
    if (c === 0x22) {
      inString = true;
      stringStart = i;
      continue;
    }
    if (c === 0x7b) objects.push(new Set());
    else if (c === 0x5b) objects.push(null);
    else if (c === 0x7d || c === 0x5d) objects.pop();
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) continue; // '-' or a digit starts a number
    NUMBER_AT.lastIndex = i;
    const m = NUMBER_AT.exec(text);
    if (m === null) continue;
    const lit = m[0];
    if (!literalIsExact(lit)) {
      spans.push([i, i + lit.length]);
      inexact.push(lit.length > 80 ? `${lit.slice(0, 80)}…` : lit);
    }
    i += lit.length - 1;
  }
  let src = text;
  const tag = `\u0000inexact-${Math.random().toString(36).slice(2)}:`;
  if (spans.length > 0) {
    const parts: string[] = [];
    let at = 0;
    spans.forEach(([a, b], k) => {
      parts.push(text.slice(at, a), JSON.stringify(`${tag}${k}`));
      at = b;
    });
    parts.push(text.slice(at));
    src = parts.join('');
  }
  try {
    const u: unknown =
      spans.length === 0
        ? JSON.parse(src)
        : JSON.parse(src, (_k, v: unknown) => (typeof v === 'string' && v.startsWith(tag) ? new InexactNumber(inexact[Number(v.slice(tag.length))]!) : v));
    return E.right(u);
  } catch (e) {
    return E.left((e as Error).message);
  }
}
