/**
 * A short, bounded description of an arbitrary decoded-JSON value for error messages. Never recurses:
 * a value nested thousands of levels deep (valid JSON that `JSON.parse` accepts) must not overflow the
 * stack while we say what was wrong with it. Strings and keys are cut and escaped (`escapeText`);
 * numbers no double holds show the file's own text.
 */
import { escapeText, quoteText } from './escape.js';
import { InexactNumber } from './json-text.js';

export function showValue(u: unknown, max = 60): string {
  if (Array.isArray(u)) return u.length === 0 ? '[]' : `an array of ${u.length}`;
  if (u === null) return 'null';
  if (u instanceof InexactNumber) return `${escapeText(u.text, max)} (no double holds it exactly)`;
  if (typeof u === 'object') {
    const keys = Object.keys(u);
    const shown = keys.slice(0, 4).map((k) => quoteText(k, 20));
    return keys.length === 0 ? '{}' : `an object with keys ${shown.join(', ')}${keys.length > 4 ? ', …' : ''}`;
  }
  if (typeof u === 'bigint') return `${u}n`;
  if (u === undefined) return 'undefined';
  if (typeof u === 'number') return Number.isFinite(u) ? String(u) : `${u} (not a finite number)`;
  if (typeof u === 'string') return quoteText(u, max);
  return escapeText(String(u), max);
}
