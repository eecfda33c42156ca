/**
 * A fuzz target: an arbitrary of hostile inputs and the check one input must pass. `check` returns
 * `undefined` when the code under test behaved (a typed error is good behaviour), or a sentence saying
 * which rule it broke; an exception escaping `check` is itself a failure ("exception escaped").
 * The same targets run in `npm test` (a fixed-seed slice) and in `npm run fuzz` (long runs, table).
 */
import type fc from 'fast-check';

export type Verdict = string | undefined;

export interface FuzzTarget<T> {
  /** Row name in the fuzz table, e.g. "ring/split pop". */
  readonly kind: string;
  readonly arbitrary: fc.Arbitrary<T>;
  check(input: T): Verdict | Promise<Verdict>;
  /** Cases per run are multiplied by this (child-process targets are slow: < 1). */
  readonly weight?: number;
}

/** A target of any input type, for lists of targets. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFuzzTarget = FuzzTarget<any>;

/** Run `check`, turning an escaping exception into a verdict (with the first frames of its stack). */
export async function judge<T>(t: FuzzTarget<T>, input: T): Promise<Verdict> {
  try {
    return await t.check(input);
  } catch (e) {
    const stack = e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 4).join(' | ') : String(e);
    return `exception escaped: ${stack}`;
  }
}

/** Collects rule violations of one case; the first one is the verdict. */
export class Violations {
  private first: string | undefined;
  expect(ok: boolean, what: () => string): boolean {
    if (!ok && this.first === undefined) this.first = what();
    return ok;
  }
  fail(what: string): void {
    if (this.first === undefined) this.first = what;
  }
  get verdict(): Verdict {
    return this.first;
  }
  get failed(): boolean {
    return this.first !== undefined;
  }
}
