/**
 * A migration end's machines in their own controller process, the devices' effects in this one — as
 * a VM manager's controller is a process apart from the devices it drives. The host serves the
 * effects over a Unix socket (one JSON line per message); the controller process
 * (./controller-process.ts) runs machines/migration with those effects, persists its snapshot
 * (children included) to a file after every step, and reports its transitions. If the controller
 * process dies — even SIGKILL in the middle of a step — the host starts a fresh one from the last
 * persisted snapshot: its in-flight step is invoked again with the same input, and the host's
 * at-most-once effects (controller.ts `idempotent`) answer it with the first invocation's result.
 *
 * Messages, host → controller: `{t:'result', id, ok, value|error}`, `{t:'send', event}`, `{t:'stop'}`.
 * Controller → host: `{t:'call', id, path, input, site}`, `{t:'transition', record}`,
 * `{t:'cvq', context, status}`, `{t:'snapshot', json}` (after it is on disk), `{t:'error', message}`.
 * Every line is bounded (MAX_LINE); a longer one closes the connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Snapshot } from 'xstate';
import type { MigrationEvent, MigrationInput } from '../../machines/migration.js';
import type { CvqCommandContext } from '../../machines/cvq-command.js';
import type { TransitionRecord } from './transitions.js';

/** The longest message line either side accepts (a persisted snapshot with a 4 000-command plan fits). */
export const MAX_LINE = 16 << 20;

export type HostMessage =
  /** The effects the host serves (sent first). */
  | { readonly t: 'paths'; readonly paths: readonly string[] }
  | { readonly t: 'result'; readonly id: number; readonly ok: boolean; readonly value?: unknown; readonly error?: unknown }
  | { readonly t: 'send'; readonly event: MigrationEvent }
  | { readonly t: 'stop' };

export type ControllerMessage =
  | { readonly t: 'call'; readonly id: number; readonly path: string; readonly input: unknown; readonly site?: string }
  | { readonly t: 'transition'; readonly record: TransitionRecord }
  | { readonly t: 'cvq'; readonly context: CvqCommandContext; readonly status: string }
  | { readonly t: 'snapshot'; readonly json: string }
  | { readonly t: 'error'; readonly message: string };

/** Split a byte stream into JSON lines, bounded; `bad` on an over-long or malformed line. */
export function lineReader(onMessage: (m: unknown) => void, bad: (why: string) => void): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    if (buf.length > MAX_LINE && !buf.includes('\n')) {
      buf = '';
      bad(`a message line over ${MAX_LINE} bytes`);
      return;
    }
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      let m: unknown;
      try {
        m = JSON.parse(line);
      } catch {
        bad('a message that is not JSON');
        return;
      }
      onMessage(m);
    }
  };
}

/** An error as it crosses the socket: typed error values go as they are, Errors by name and message. */
export const wireError = (e: unknown): unknown => (e instanceof Error ? { _tag: e.name, message: e.message } : e);

/** The effect at a dotted path of a nested effects tree. */
function effectAt(tree: object, path: string): ((input: unknown, signal: AbortSignal, site?: string) => unknown) | undefined {
  let node: unknown = tree;
  for (const k of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.prototype.hasOwnProperty.call(node, k)) return undefined;
    node = (node as Record<string, unknown>)[k];
  }
  return typeof node === 'function' ? (node as (input: unknown, signal: AbortSignal, site?: string) => unknown) : undefined;
}

/** Every effect path of a nested effects tree ("svqSwitch.mapShadowRings", "cvqCommand.cvqPort.writeBatch" …). */
export function effectPaths(tree: object, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([k, v]) => {
    const p = prefix === '' ? k : `${prefix}.${k}`;
    return typeof v === 'function' ? [p] : typeof v === 'object' && v !== null ? effectPaths(v as object, p) : [];
  });
}

export interface ControllerProcessOptions {
  readonly end: 'source' | 'destination';
  readonly input: MigrationInput;
  readonly event: MigrationEvent;
  /** The effects this process serves (at-most-once: a restarted controller repeats its step). */
  readonly effects: object;
  readonly onTransition: (r: TransitionRecord) => void;
  readonly onCvq?: (context: CvqCommandContext, status: string) => void;
  /** Each persisted snapshot (JSON), as the controller wrote it. */
  readonly onSnapshot: (json: string) => void;
  /** Each controller process started (the first, and every restart after one died). */
  readonly onProcess?: (child: ChildProcess, restart: number) => void;
  /** At most this many restarts (default 8). */
  readonly maxRestarts?: number;
}

export interface ControllerProcess {
  send(event: MigrationEvent): void;
  /** Stop the controller process (it exits; no restart) and the socket. */
  close(): void;
  /** Rejects when the controller cannot be (re)started. */
  readonly failed: Promise<never>;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));

/**
 * Run one end's machines in a supervised controller process. (Long: one closure holds the child, its
 * socket, the restart count and the persisted snapshot, which the spawn, serve and exit handlers share.)
 */
export function startControllerProcess(o: ControllerProcessOptions): ControllerProcess {
  const dir = mkdtempSync(join(tmpdir(), `shadowvq-${o.end}-`));
  const socketPath = join(dir, 'effects.sock');
  const snapshotFile = join(dir, 'snapshot.json');
  let conn: Socket | undefined;
  let child: ChildProcess | undefined;
  let closed = false;
  let restarts = 0;
  const pending: MigrationEvent[] = [];
  let fail: (e: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {});
  const write = (m: HostMessage) => conn?.write(`${JSON.stringify(m)}\n`);

  const server: Server = createServer((sock) => {
    conn = sock;
    write({ t: 'paths', paths: effectPaths(o.effects) });
    for (const e of pending.splice(0)) write({ t: 'send', event: e });
    // one abort signal per call, all aborted when the controller goes away
    const calls = new Set<AbortController>();
    sock.on('close', () => {
      for (const c of calls) c.abort();
      calls.clear();
    });
    sock.on('error', () => {});
    sock.on(
      'data',
      lineReader(
        (raw) => {
          const m = raw as ControllerMessage;
          switch (m.t) {
            case 'call': {
              const fn = effectAt(o.effects, m.path);
              const reply = (r: HostMessage) => {
                if (conn === sock) write(r);
              };
              if (fn === undefined) {
                reply({ t: 'result', id: m.id, ok: false, error: { _tag: 'UnknownEffect', message: `no effect ${m.path}` } });
                return;
              }
              const ctl = new AbortController();
              calls.add(ctl);
              Promise.resolve()
                .then(() => fn(m.input, ctl.signal, m.site))
                .then(
                  (value) => reply({ t: 'result', id: m.id, ok: true, value }),
                  (error: unknown) => reply({ t: 'result', id: m.id, ok: false, error: wireError(error) }),
                )
                .finally(() => calls.delete(ctl));
              return;
            }
            case 'transition':
              o.onTransition(m.record);
              return;
            case 'cvq':
              o.onCvq?.(m.context, m.status);
              return;
            case 'snapshot':
              o.onSnapshot(m.json);
              return;
            case 'error':
              fail(new Error(`controller process (${o.end}): ${m.message}`));
              return;
          }
        },
        (why) => {
          sock.destroy();
          fail(new Error(`controller process (${o.end}): ${why}`));
        },
      ),
    );
  });

  const launch = () => {
    const resume = restarts > 0;
    const entry = join(HERE, `controller-process${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`);
    const args = [...(entry.endsWith('.ts') ? ['--import', 'tsx'] : []), entry];
    child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        SHADOWVQ_SOCKET: socketPath,
        SHADOWVQ_END: o.end,
        SHADOWVQ_SNAPSHOT: snapshotFile,
        SHADOWVQ_RESUME: resume ? '1' : '0',
        SHADOWVQ_INPUT: JSON.stringify(o.input),
        SHADOWVQ_EVENT: JSON.stringify(o.event),
      },
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString('utf8');
    });
    const me = child;
    child.on('exit', (code, signal) => {
      if (closed || me !== child) return;
      conn?.destroy();
      conn = undefined;
      // a controller that died: a fresh one resumes from the last snapshot on disk
      if (++restarts > (o.maxRestarts ?? 8)) {
        fail(new Error(`controller process (${o.end}) died ${restarts} times; last: ${signal ?? `exit ${code}`} ${stderr.trim()}`));
        return;
      }
      launch();
    });
    o.onProcess?.(child, restarts);
  };
  server.listen(socketPath, launch);
  server.on('error', (e) => fail(e));

  return {
    send(event) {
      if (conn === undefined) pending.push(event);
      else write({ t: 'send', event });
    },
    close() {
      closed = true;
      write({ t: 'stop' });
      conn?.end();
      child?.kill('SIGTERM');
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
    failed,
  };
}

/** The last snapshot a controller persisted (what a restarted one resumes from), or undefined. */
export function readPersisted(file: string): Snapshot<unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Snapshot<unknown>;
  } catch {
    return undefined;
  }
}
