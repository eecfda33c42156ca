/**
 * Path files: a model path written as JSON (a failing random walk, src/mbt/walks.ts) and replayed step
 * by step on any harness (`shadowvq mbt --replay FILE --device D`).
 *
 *   { "format": "shadowvq-mbt-path", "version": 1, "machine": "svq-switch", "machineHash": "<sha256>",
 *     "device": "sim", "seed": 42, "steps": [{ "source": "svq-switch.passthrough", "type": "ENABLE" }, …],
 *     "failure": { "step": 5, "message": "…" } | null }
 *
 * `machineHash` is the SHA-256 of the machine's derived model (state ids, and every transition candidate
 * with its trigger, guards and targets): a file written for another version of the machine is refused
 * rather than replayed against a definition it was not made for. Decoding is io-ts with the path of
 * every wrong field; the file is read bounded (src/state/read-bounded.ts).
 */
import { createHash } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { getInitialSnapshot, getNextSnapshot } from 'xstate';
import type { MachineModel } from './model.js';
import { describePath, selectEdge, type ModelPath, type ModelStep } from './paths.js';

export const PATH_FILE_FORMAT = 'shadowvq-mbt-path';
export const PATH_FILE_VERSION = 1;
/** A replayed path has at most this many steps (a walk is far shorter). */
export const MAX_PATH_STEPS = 10_000;

const Step = t.strict({ source: t.string, type: t.string }, 'Step');
export const PathFileCodec = t.strict(
  {
    format: t.literal(PATH_FILE_FORMAT),
    version: t.literal(PATH_FILE_VERSION),
    machine: t.string,
    machineHash: t.string,
    device: t.string,
    seed: t.union([t.number, t.null]),
    steps: t.array(Step),
    failure: t.union([t.null, t.strict({ step: t.number, message: t.string })]),
  },
  'PathFile',
);
export type PathFile = t.TypeOf<typeof PathFileCodec>;

export interface PathFileError {
  readonly _tag: 'PathFileError';
  readonly message: string;
}
const bad = (message: string): PathFileError => ({ _tag: 'PathFileError', message });

/** The SHA-256 of a machine's model: its states and transition candidates (what a path refers to). */
export function machineHash(m: MachineModel): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ id: m.id, states: m.states, edges: m.edges.map((e) => [e.source, e.type, e.targets, e.reenter, e.real]) }));
  return h.digest('hex');
}

export function toPathFile(m: MachineModel, path: ModelPath, device: string, seed: number | null, failure: { step: number; message: string } | null): PathFile {
  return { format: PATH_FILE_FORMAT, version: PATH_FILE_VERSION, machine: m.id, machineHash: machineHash(m), device, seed, steps: path.steps.map((s) => ({ source: s.edge.source, type: s.edge.type })), failure };
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
};

/** Decode a path file's text: JSON, the shape (io-ts, with the path of each wrong field), the step bound. */
export function decodePathFile(text: string): E.Either<PathFileError, PathFile> {
  let u: unknown;
  try {
    u = JSON.parse(text);
  } catch (e) {
    return E.left(bad(`not JSON: ${(e as Error).message}`));
  }
  const r = PathFileCodec.decode(u);
  if (E.isLeft(r)) {
    const issues = r.left.slice(0, 10).map((err) => {
      const path = err.context.map((c) => c.key).filter((k) => k !== '').join('.');
      return `${path || '(file)'}: expected ${err.context.at(-1)?.type.name ?? '?'}, got ${show(err.value)}`;
    });
    return E.left(bad(`not a path file: ${issues.join('; ')}${r.left.length > 10 ? ` (and ${r.left.length - 10} more)` : ''}`));
  }
  if (r.right.steps.length > MAX_PATH_STEPS) return E.left(bad(`steps: ${r.right.steps.length} steps, at most ${MAX_PATH_STEPS}`));
  return E.right(r.right);
}

/** The model path a file names, checked against the machine: its version (hash), and every step a transition the model takes there. */
export function pathOf(models: readonly MachineModel[], f: PathFile): E.Either<PathFileError, { model: MachineModel; path: ModelPath }> {
  const m = models.find((x) => x.id === f.machine);
  if (m === undefined) return E.left(bad(`machine: no machine ${show(f.machine)} (machines: ${models.map((x) => x.id).join(', ')})`));
  const hash = machineHash(m);
  if (f.machineHash !== hash) return E.left(bad(`machineHash: the file was written for another version of ${m.id} (file ${show(f.machineHash)}, this build ${hash.slice(0, 16)}…): its steps may not mean the same transitions`));
  let snap = getInitialSnapshot(m.model);
  const steps: ModelStep[] = [];
  for (const [i, s] of f.steps.entries()) {
    const edge = m.edges.find((e) => e.source === s.source && e.type === s.type);
    if (edge === undefined) return E.left(bad(`steps.${i}: ${m.id} has no transition ${show(s.type)} from ${show(s.source)}`));
    if (selectEdge(m, snap.value, edge.type) !== edge) return E.left(bad(`steps.${i}: ${s.type} from ${s.source} is not enabled in ${JSON.stringify(snap.value)}`));
    snap = getNextSnapshot(m.model, snap, { type: edge.type });
    steps.push({ edge, value: snap.value });
  }
  return E.right({ model: m, path: { kind: 'transition', steps, description: describePath(m, steps, getInitialSnapshot(m.model).value) } });
}
