/**
 * A small test runner for the real-device suite. Runs inside the QEMU guest (and, for the host-side
 * checks, on the host): tests run one after another, each result goes out as a protocol line at once
 * (so a guest that dies mid-suite still reports what ran), metrics likewise.
 */
import * as E from 'fp-ts/lib/Either.js';
import { encodeRecord, type MetricRecord, type TestRecord } from './protocol.js';

export class SkipTest extends Error {}

/** Thrown by the assertion helpers; a test fails on any exception. */
export class AssertionFailed extends Error {}

export type TestFn<C> = (ctx: C) => void | Promise<void>;

interface Entry<C> {
  readonly name: string;
  readonly fn: TestFn<C>;
  readonly timeoutMs: number;
}

export class Suite<C> {
  private readonly tests: Entry<C>[] = [];

  constructor(readonly prefix: string) {}

  test(name: string, fn: TestFn<C>, opts: { timeoutMs?: number } = {}): void {
    this.tests.push({ name: `${this.prefix}: ${name}`, fn, timeoutMs: opts.timeoutMs ?? 60_000 });
  }

  names(): string[] {
    return this.tests.map((t) => t.name);
  }

  /** Run every test whose name contains `filter`; `emit` prints a protocol line. */
  async run(ctx: C, emit: (line: string) => void, filter?: string): Promise<{ passed: number; failed: number; skipped: number }> {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const t of this.tests) {
      if (filter !== undefined && !t.name.includes(filter)) continue;
      const t0 = performance.now();
      let rec: TestRecord;
      try {
        await withTimeout(Promise.resolve().then(() => t.fn(ctx)), t.timeoutMs, t.name);
        rec = { name: t.name, status: 'pass', ms: round(performance.now() - t0) };
        passed++;
      } catch (e) {
        if (e instanceof SkipTest) {
          rec = { name: t.name, status: 'skip', ms: round(performance.now() - t0), detail: e.message };
          skipped++;
        } else {
          const msg = e instanceof Error ? `${e.message}${e instanceof AssertionFailed ? '' : `\n${e.stack ?? ''}`}` : String(e);
          rec = { name: t.name, status: 'fail', ms: round(performance.now() - t0), detail: msg };
          failed++;
        }
      }
      emit(encodeRecord({ kind: 'TEST', body: rec }));
    }
    return { passed, failed, skipped };
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AssertionFailed(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const metricLine = (m: MetricRecord): string => encodeRecord({ kind: 'METRIC', body: m });

// ------------------------------------------------------------------------------------------------
// assertions

export function ok(cond: unknown, what: string): asserts cond {
  if (!cond) throw new AssertionFailed(what);
}

export function eq<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected)) throw new AssertionFailed(`${what}: expected ${fmt(expected)}, got ${fmt(actual)}`);
}

export function bytesEq(actual: Uint8Array, expected: Uint8Array | readonly number[], what: string): void {
  const exp = expected instanceof Uint8Array ? expected : Uint8Array.from(expected);
  if (actual.length !== exp.length || actual.some((b, i) => b !== exp[i])) {
    throw new AssertionFailed(`${what}: expected [${hex(exp)}], got [${hex(actual)}]`);
  }
}

/** Unwrap a Right or fail the test with the Left's message. */
export function right<L, R>(e: E.Either<L, R>, what: string): R {
  if (E.isLeft(e)) throw new AssertionFailed(`${what}: ${describe(e.left)}`);
  return e.right;
}

/** Unwrap a Left or fail the test. */
export function left<L, R>(e: E.Either<L, R>, what: string): L {
  if (E.isRight(e)) throw new AssertionFailed(`${what}: expected an error, got ${fmt(e.right)}`);
  return e.left;
}

export function describe(x: unknown): string {
  if (typeof x === 'object' && x !== null && 'message' in x) {
    const o = x as { message: unknown; errnoName?: unknown; kind?: unknown };
    return `${String(o.message)}${o.kind !== undefined ? ` [${String(o.kind)}]` : ''}`;
  }
  return fmt(x);
}

export const hex = (b: ArrayLike<number>): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

const fmt = (x: unknown): string => (typeof x === 'bigint' ? `0x${x.toString(16)}` : typeof x === 'number' ? String(x) : JSON.stringify(x) ?? String(x));
