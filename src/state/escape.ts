/**
 * Echoing untrusted text in messages: cut to a bound first (so a 10 MB key costs nothing), then every
 * character a terminal could act on is written as an escape — C0 controls and DEL as `\xNN`, C1
 * controls (U+0080–U+009F: 0x9B is a one-byte CSI), line/paragraph separators, bidi overrides and lone
 * surrogates as `\uNNNN`. The result is printable, single-line and at most `max` characters of the input.
 */

/** Characters a message never carries raw (ESC, CR, CSI, RLO …). */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const escapeChar = (c: string): string => {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
};

/** `s` cut to `max` characters (an ellipsis and the full length when cut) with unsafe characters escaped. */
export function escapeText(s: string, max = 80): string {
  let cut = s.length > max ? s.slice(0, max) : s;
  // never end on half a surrogate pair
  if (cut.length > 0 && /[\ud800-\udbff]$/.test(cut) && s.length > cut.length) cut = cut.slice(0, -1);
  const esc = cut.replace(UNSAFE, escapeChar);
  return s.length > cut.length ? `${esc}… (${s.length} characters)` : esc;
}

/** `escapeText` in double quotes, for a value echoed in an error message. */
export const quoteText = (s: string, max = 80): string => `"${escapeText(s.replace(/["\\]/g, (c) => `\\${c}`), max)}"`;
