/**
 * The line protocol between the in-guest suite and the host runner, carried over the serial console.
 * One record per line: `SVQ-<KIND> <json>`. Kernel messages or stray output may interleave on the
 * console; anything that does not parse as a record is kept as log text only.
 */

export type TestStatus = 'pass' | 'fail' | 'skip';

export interface TestRecord {
  readonly name: string;
  readonly status: TestStatus;
  readonly ms: number;
  /** Failure message or skip reason. */
  readonly detail?: string;
}

export interface MetricRecord {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}

export interface EndRecord {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly ms: number;
}

export type Record_ =
  | { readonly kind: 'TEST'; readonly body: TestRecord }
  | { readonly kind: 'METRIC'; readonly body: MetricRecord }
  | { readonly kind: 'END'; readonly body: EndRecord }
  | { readonly kind: 'HARNESS-ERROR'; readonly body: string };

export const encodeRecord = (r: Record_): string =>
  r.kind === 'HARNESS-ERROR' ? `SVQ-HARNESS-ERROR ${r.body}` : `SVQ-${r.kind} ${JSON.stringify(r.body)}`;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

/** Parse one console line (trailing CR / kernel noise before the marker tolerated). */
export function parseRecord(line: string): Record_ | undefined {
  const m = /SVQ-(TEST|METRIC|END|HARNESS-ERROR) (.*?)\r?$/.exec(line);
  if (m === null) return undefined;
  const kind = m[1] as Record_['kind'];
  const rest = m[2]!;
  if (kind === 'HARNESS-ERROR') return { kind, body: rest };
  let body: unknown;
  try {
    body = JSON.parse(rest);
  } catch {
    return undefined;
  }
  if (!isObj(body)) return undefined;
  if (kind === 'TEST' && typeof body.name === 'string' && (body.status === 'pass' || body.status === 'fail' || body.status === 'skip') && typeof body.ms === 'number') {
    return { kind, body: body as unknown as TestRecord };
  }
  if (kind === 'METRIC' && typeof body.name === 'string' && typeof body.value === 'number' && typeof body.unit === 'string') {
    return { kind, body: body as unknown as MetricRecord };
  }
  if (kind === 'END' && typeof body.passed === 'number' && typeof body.failed === 'number') {
    return { kind, body: body as unknown as EndRecord };
  }
  return undefined;
}
