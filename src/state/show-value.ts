/**
 * A short, bounded description of an arbitrary decoded-JSON value for error messages. Never recurses:
 * a value nested thousands of levels deep (valid JSON that `JSON.parse` accepts) must not overflow the
 * stack while we say what was wrong with it.
 */
export function showValue(u: unknown, max = 60): string {
  if (Array.isArray(u)) return u.length === 0 ? '[]' : `an array of ${u.length}`;
  if (u === null) return 'null';
  if (typeof u === 'object') {
    const keys = Object.keys(u);
    const shown = keys.slice(0, 4).map((k) => JSON.stringify(k.length > 20 ? `${k.slice(0, 20)}…` : k));
    return keys.length === 0 ? '{}' : `an object with keys ${shown.join(', ')}${keys.length > 4 ? ', …' : ''}`;
  }
  if (typeof u === 'bigint') return `${u}n`;
  if (u === undefined) return 'undefined';
  const s = typeof u === 'string' || typeof u === 'number' || typeof u === 'boolean' ? JSON.stringify(u) : String(u);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
