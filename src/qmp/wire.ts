/**
 * QMP's wire format (QEMU docs/interop/qmp-spec.rst): JSON objects on a stream, one command per object,
 * answered by `{"return": …}` or `{"error": {"class", "desc"}}` carrying the command's `id`, and
 * asynchronous `{"event", "data", "timestamp": {"seconds", "microseconds"}}` messages. Every server
 * message ends in CRLF as QEMU's do.
 *
 * Input is split into top-level JSON values by a bounded scanner (QEMU's JSON lexer does not need a
 * newline between commands either): a value larger than `maxBytes` or nested deeper than `maxDepth` is a
 * GenericError, and the scanner resynchronises at the next top-level value.
 */

/** Error classes QEMU's QMP uses (qapi/error.json ErrorClass). */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotActive' | 'DeviceNotFound' | 'KVMMissingCap';

export interface QmpError {
  readonly class: QmpErrorClass;
  readonly desc: string;
}

export const qmpError = (cls: QmpErrorClass, desc: string): QmpError => ({ class: cls, desc });

export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

export interface Limits {
  /** Bytes of one top-level JSON value. */
  readonly maxBytes: number;
  /** Nesting depth of objects and arrays. */
  readonly maxDepth: number;
}

export const QMP_LIMITS: Limits = { maxBytes: 64 << 10, maxDepth: 32 };

export type Scanned = { readonly kind: 'value'; readonly text: string } | { readonly kind: 'error'; readonly desc: string };

/**
 * Splits a byte stream into top-level JSON values without parsing them: tracks strings, escapes and
 * bracket depth. Holds at most `maxBytes` of a pending value.
 */
export class JsonSplitter {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escape = false;
  /** Discarding the rest of an oversized or too-deep value until its depth returns to 0. */
  private skipping = false;

  constructor(private readonly limits: Limits = QMP_LIMITS) {}

  push(chunk: string): Scanned[] {
    const out: Scanned[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.depth === 0 && !this.inString) {
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
        if (c !== '{' && c !== '[') {
          // a bare scalar at top level: QEMU answers "QMP input must be a JSON object"
          out.push({ kind: 'error', desc: 'QMP input must be a JSON object' });
          continue;
        }
      }
      if (!this.skipping) this.buf += c;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === '\\') this.escape = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') {
        this.depth++;
        if (this.depth > this.limits.maxDepth && !this.skipping) {
          this.skipping = true;
          this.buf = '';
          out.push({ kind: 'error', desc: `JSON parse error, nesting deeper than ${this.limits.maxDepth}` });
        }
      } else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) {
          if (!this.skipping) out.push({ kind: 'value', text: this.buf });
          this.buf = '';
          this.skipping = false;
        }
      }
      if (!this.skipping && this.buf.length > this.limits.maxBytes) {
        this.skipping = true;
        this.buf = '';
        out.push({ kind: 'error', desc: `JSON parse error, input longer than ${this.limits.maxBytes} bytes` });
      }
    }
    return out;
  }

  /** Characters held for an unfinished value. */
  get pending(): number {
    return this.buf.length;
  }
}

export interface QmpCommand {
  readonly execute: string;
  readonly arguments: { readonly [k: string]: Json };
  /** Echoed back in the reply, any JSON value (absent: not echoed). */
  readonly id?: Json;
}

/** A scanned value as a command, or the error QEMU gives for it (with the id when one was readable). */
export function parseCommand(text: string): { ok: true; cmd: QmpCommand } | { ok: false; error: QmpError; id?: Json } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: qmpError('GenericError', `JSON parse error, ${(e as Error).message}`) };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: qmpError('GenericError', 'QMP input must be a JSON object') };
  const o = v as Record<string, Json>;
  const id = 'id' in o ? { id: o.id! } : {};
  for (const k of Object.keys(o)) {
    if (k !== 'execute' && k !== 'arguments' && k !== 'id' && k !== 'exec-oob') return { ok: false, error: qmpError('GenericError', `QMP input member '${k}' is unexpected`), ...id };
  }
  if ('exec-oob' in o) return { ok: false, error: qmpError('GenericError', 'QMP input member \'exec-oob\' is unexpected: out-of-band execution was not negotiated'), ...id };
  if (!('execute' in o)) return { ok: false, error: qmpError('GenericError', "QMP input lacks member 'execute'"), ...id };
  if (typeof o.execute !== 'string') return { ok: false, error: qmpError('GenericError', "QMP input member 'execute' must be a string"), ...id };
  const args = o.arguments ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return { ok: false, error: qmpError('GenericError', "QMP input member 'arguments' must be an object"), ...id };
  return { ok: true, cmd: { execute: o.execute, arguments: args as Record<string, Json>, ...id } };
}

const line = (v: unknown): string => `${JSON.stringify(v)}\r\n`;

export const replyReturn = (value: Json, id: Json | undefined): string => line(id === undefined ? { return: value } : { return: value, id });
export const replyError = (e: QmpError, id: Json | undefined): string => line(id === undefined ? { error: e } : { error: e, id });

/** Wall-clock time in µs (performance's origin + its monotonic clock: sub-ms resolution). */
const nowUs = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000);

export function eventMessage(event: string, data: Json | undefined, atUs = nowUs()): string {
  const timestamp = { seconds: Math.floor(atUs / 1e6), microseconds: atUs % 1e6 };
  return line(data === undefined ? { event, timestamp } : { event, data, timestamp });
}

/** The greeting (qmp-spec "Server Greeting"): version as QEMU's {qemu: {major, minor, micro}, package}. */
export function greeting(version: string): string {
  const [major = 0, minor = 0, micro = 0] = version.split('.').map((x) => Number.parseInt(x, 10) || 0);
  return line({ QMP: { version: { qemu: { major, minor, micro }, package: `shadowvq-${version}` }, capabilities: [] } });
}

// ---- arguments: QEMU's messages for missing, unexpected and mistyped parameters ----

export type ArgType = 'str' | 'bool' | 'int' | 'number' | 'array-of-str';
export type ArgSpec = Readonly<Record<string, { readonly type: ArgType; readonly required?: boolean }>>;

const typeName: Record<ArgType, string> = { str: 'string', bool: 'boolean', int: 'integer', number: 'number', 'array-of-str': 'array of string' };

function fits(t: ArgType, v: Json): boolean {
  switch (t) {
    case 'str':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'array-of-str':
      return Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === 'string');
  }
}

/** Check `args` against `spec`: the first problem as QEMU words it, or null. */
export function checkArgs(spec: ArgSpec, args: { readonly [k: string]: Json }): QmpError | null {
  for (const k of Object.keys(args)) if (!(k in spec)) return qmpError('GenericError', `Parameter '${k}' is unexpected`);
  for (const [k, s] of Object.entries(spec)) {
    if (!(k in args)) {
      if (s.required === true) return qmpError('GenericError', `Parameter '${k}' is missing`);
      continue;
    }
    if (!fits(s.type, args[k]!)) return qmpError('GenericError', `Invalid parameter type for '${k}', expected: ${typeName[s.type]}`);
  }
  return null;
}
