/**
 * Strict parsing of the CLI's numbers and echoing of its inputs. Every count has a documented maximum
 * (docs/limits.md); a value is a plain decimal integer in range or a usage error (exit 2) naming the
 * flag, its range and the text given — cut and escaped, never re-printed from a lossy double
 * (`1e400` is not "null", 2^53+1 is not 9007199254740992). Empty strings, signs, hex, exponents,
 * fractions and whitespace inside are all refused.
 */
import { InvalidArgumentError } from 'commander';
import { escapeText, quoteText } from '../state/escape.js';

/** The counts the CLI takes and their bounds (also the table in docs/limits.md). */
export const COUNT_LIMITS = {
  '--ram': { min: 4, max: 1024, unit: 'MiB of guest RAM' },
  '--max-rounds': { min: 1, max: 1000, unit: 'precopy rounds' },
  '--threshold': { min: 0, max: 1 << 30, unit: 'dirty pages' },
  '--chains': { min: 1, max: 10_000_000, unit: 'chains per layout' },
  '--size': { min: 8, max: 32768, unit: 'descriptors (a power of two)' },
  '--seed': { min: 0, max: 0xffffffff, unit: '(a u32)' },
  '--simple-limit': { min: 0, max: 100_000, unit: 'simple paths per machine' },
} as const satisfies Record<string, { min: number; max: number; unit: string }>;

export type CountFlag = keyof typeof COUNT_LIMITS;

/** The usage message for a bad value of `flag`. */
export const badCount = (flag: string, min: number, max: number, v: string, why = ''): string =>
  `${flag} must be a decimal integer in ${min}..${max}${why}, got ${quoteText(v, 40)}`;

/** Parse `v` for `flag`: a decimal integer in [min, max] (defaults: the flag's COUNT_LIMITS); else throws a message. */
export function parseCount(flag: string, v: string, min?: number, max?: number): number {
  const lim = (COUNT_LIMITS as Record<string, { min: number; max: number }>)[flag];
  const lo = min ?? lim?.min ?? 0;
  const hi = max ?? lim?.max ?? Number.MAX_SAFE_INTEGER;
  const s = v.trim();
  // digits only, at most 16 of them (beyond that no count is in range and Number() would round)
  if (!/^\d{1,16}$/.test(s)) throw new InvalidArgumentError(badCount(flag, lo, hi, v));
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(badCount(flag, lo, hi, v));
  return n;
}

/** A commander argParser for a count flag. */
export const countOpt = (flag: CountFlag) => (v: string): number => parseCount(flag, v);

/**
 * A usage message as commander composed it, made safe to print: commander echoes the raw argument
 * (`option '--x <n>' argument '<anything, any length>' is invalid.`) — replaced by the flag alone when
 * our own message already shows the value (cut and escaped), else by the cut, escaped value; any other
 * raw text (unknown options, commands, choices) is escaped line by line and long lines are cut.
 */
export function sanitizeUsage(s: string): string {
  const m = /^(error: )?(option '[^'\n]*'|command-argument value) (?:argument )?'([\s\S]*)' is invalid(?: for argument '([^'\n]*)')?\.\s?([\s\S]*)$/.exec(s);
  if (m !== null) {
    const [, pre = '', what, value = '', arg, tail = ''] = m;
    const head = arg !== undefined ? `argument '${arg}'` : what;
    const msg = / got /.test(tail) ? `${pre}${head}: ${tail}` : `${pre}${head}: ${quoteText(value, 40)} is invalid. ${tail}`;
    return sanitizeLines(msg);
  }
  return sanitizeLines(s);
}

/** Every line of a message cut (400 characters) and escaped: for messages that may carry input text. */
export function sanitizeLines(s: string): string {
  return s
    .split('\n')
    .map((l) => escapeText(l, 400))
    .join('\n');
}
