/**
 * A controller process (src/migrate/remote.ts): machines/migration for one end, its effects served by
 * the host over a Unix socket. It persists the root actor's snapshot (children included) to a file
 * after every step of any machine of the tree — written to a temporary file and renamed, so a kill at
 * any instant leaves the last complete one — and resumes from that file when started again.
 * Configuration comes in the environment (SHADOWVQ_SOCKET, _END, _SNAPSHOT, _RESUME, _INPUT, _EVENT).
 */
import { renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createActor, type InspectionEvent, type Snapshot } from 'xstate';
import { bind } from '../../machines/contract.js';
import { migrationMachine, type MigrationEvent, type MigrationInput } from '../../machines/migration.js';
import type { CvqCommandContext } from '../../machines/cvq-command.js';
import type { MigrationEffects } from '../effects/migration.js';
import { lineReader, readPersisted, type ControllerMessage, type HostMessage } from './remote.js';
import { transitionInspector } from './transitions.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const socketPath = env('SHADOWVQ_SOCKET');
const end = env('SHADOWVQ_END') === 'destination' ? 'destination' : 'source';
const snapshotFile = env('SHADOWVQ_SNAPSHOT');
const resume = env('SHADOWVQ_RESUME') === '1';
const input = JSON.parse(env('SHADOWVQ_INPUT')) as MigrationInput;
const first = JSON.parse(env('SHADOWVQ_EVENT')) as MigrationEvent;

const sock = connect(socketPath);
const say = (m: ControllerMessage) => sock.write(`${JSON.stringify(m)}\n`);
const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
let nextId = 0;

/** A nested effects tree whose every leaf asks the host. */
function remoteTree(paths: readonly string[]): Partial<MigrationEffects> {
  const root: Record<string, unknown> = {};
  for (const path of paths) {
    const keys = path.split('.');
    let node = root;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[keys[keys.length - 1]!] = (input: unknown, _signal: AbortSignal, site?: string) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        calls.set(id, { resolve, reject });
        say({ t: 'call', id, path, input, ...(site === undefined ? {} : { site }) });
      });
  }
  return root as Partial<MigrationEffects>;
}

let actor: ReturnType<typeof createActor<typeof migrationMachine>> | undefined;
let persistQueued = false;
/** After the current step: the snapshot to disk (atomically), then to the host. */
const persist = () => {
  if (persistQueued) return;
  persistQueued = true;
  queueMicrotask(() => {
    persistQueued = false;
    if (actor === undefined) return;
    const json = JSON.stringify(actor.getPersistedSnapshot());
    writeFileSync(`${snapshotFile}.tmp`, json);
    renameSync(`${snapshotFile}.tmp`, snapshotFile);
    say({ t: 'snapshot', json });
  });
};

function start(paths: readonly string[]): void {
  const onT = transitionInspector(end, performance.now(), (record) => say({ t: 'transition', record }));
  const inspect = (e: InspectionEvent) => {
    onT(e);
    if (e.type === '@xstate.microstep') persist();
    if (e.type === '@xstate.snapshot' && (e.actorRef as { logic?: { id?: unknown } }).logic?.id === 'cvq-command') {
      const s = e.snapshot as { context?: CvqCommandContext; status?: string };
      if (s.context !== undefined) say({ t: 'cvq', context: s.context, status: s.status ?? 'active' });
    }
  };
  const machine = bind(migrationMachine, remoteTree(paths));
  const snapshot: Snapshot<unknown> | undefined = resume ? readPersisted(snapshotFile) : undefined;
  actor = snapshot === undefined ? createActor(machine, { input, inspect }) : createActor(machine, { input, snapshot, inspect });
  actor.start();
  if (snapshot === undefined) actor.send(first);
  persist();
}

sock.on(
  'data',
  lineReader(
    (raw) => {
      const m = raw as HostMessage;
      switch (m.t) {
        case 'paths':
          start(m.paths);
          return;
        case 'result': {
          const c = calls.get(m.id);
          calls.delete(m.id);
          if (c === undefined) return;
          if (m.ok) c.resolve(m.value);
          else c.reject(m.error);
          return;
        }
        case 'send':
          actor?.send(m.event);
          return;
        case 'stop':
          actor?.stop();
          sock.end();
          process.exit(0);
      }
    },
    (why) => {
      say({ t: 'error', message: why });
      process.exit(1);
    },
  ),
);
sock.on('error', () => process.exit(1));
sock.on('close', () => process.exit(0));
