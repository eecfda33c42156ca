/**
 * A QMP server (QEMU docs/interop/qmp-spec.rst) for shadowvq's migrations, on a Unix socket:
 *
 *   S: {"QMP": {"version": {"qemu": {…}, "package": "shadowvq-X.Y.Z"}, "capabilities": []}}
 *   C: {"execute": "qmp_capabilities"}            S: {"return": {}}
 *   C: {"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "events", "state": true}]}}
 *   C: {"execute": "migrate", "arguments": {"uri": "sim", "x-demo": true}}     S: {"return": {}}
 *   S: {"event": "MIGRATION", "data": {"status": "setup"}, "timestamp": {…}} … active … device … completed
 *
 * Commands: qmp_capabilities, query-version, query-status, query-commands, migrate, migrate_cancel,
 * query-migrate, migrate-set-capabilities, query-migrate-capabilities, quit, and x-shadowvq-query-plan /
 * x-shadowvq-query-svq / x-shadowvq-query-summary for what QEMU has no name for. As in QEMU, MIGRATION
 * and MIGRATION_PASS events are sent only while the `events` migration capability is on; STOP and RESUME
 * always. Events go to every client that finished negotiation; the migration belongs to the server, so a
 * client that disconnects mid-migration loses nothing (another, or the same one reconnected, sees it).
 * Bounded: clients, bytes and nesting of one input value, bytes queued for a client that does not read.
 */
import { lstatSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import * as E from 'fp-ts/lib/Either.js';
import type { CvqStrategy } from '../../machines/cvq-command.js';
import { parseSimSpec } from '../device/index.js';
import { parseFault, type Fault } from '../device/sim/faults.js';
import { demoStateJson } from '../migrate/demo-state.js';
import { summaryJson } from '../migrate/report.js';
import { decodeStateJson, parseStateJson } from '../state/json.js';
import type { NetDeviceState } from '../state/net-state.js';
import { checkFeatureDependencies, formatFeatures, FULL_PROFILE_FEATURES, parseFeatureList } from '../virtio/features.js';
import { runPlan } from '../cli/plan.js';
import { MigrationJob, type MigrationStatus } from './job.js';
import {
  checkArgs,
  QMP_LIMITS,
  eventMessage,
  greeting,
  JsonSplitter,
  parseCommand,
  qmpError,
  replyError,
  replyReturn,
  type ArgSpec,
  type Json,
  type Limits,
  type QmpCommand,
  type QmpError,
} from './wire.js';

export interface QmpServerOptions {
  /** The Unix socket path. */
  readonly path: string;
  readonly version: string;
  /** Clients connected at once (more are refused with an error). */
  readonly maxClients?: number;
  readonly limits?: Limits;
  /** Bytes queued for a client that does not read before it is disconnected. */
  readonly maxQueuedBytes?: number;
  /** Largest state file `x-state` reads. */
  readonly maxStateBytes?: number;
  /** Log lines (connections, commands' errors); default none. */
  readonly log?: (line: string) => void;
}

const STRATEGIES: Record<string, CvqStrategy> = { serial: 'serial', parallel: 'parallel', indirect: 'parallel-indirect' };

const MIGRATE_ARGS: ArgSpec = {
  uri: { type: 'str', required: true },
  detach: { type: 'bool' },
  resume: { type: 'bool' },
  'x-demo': { type: 'bool' },
  'x-state': { type: 'str' },
  'x-source': { type: 'str' },
  'x-strategy': { type: 'str' },
  'x-features': { type: 'str' },
  'x-fault': { type: 'array-of-str' },
  'x-ram': { type: 'int' },
  'x-max-rounds': { type: 'int' },
  'x-threshold': { type: 'int' },
  /** QEMU's x-svq=on for this migration (default: the server's, see x-shadowvq-set-svq). */
  'x-svq': { type: 'bool' },
};

const PLAN_ARGS: ArgSpec = { 'x-demo': { type: 'bool' }, 'x-state': { type: 'str' }, 'x-features': { type: 'str' } };

interface Client {
  readonly socket: Socket;
  readonly splitter: JsonSplitter;
  negotiated: boolean;
  /** Commands run one after the other: replies come in command order even when one awaits. */
  queue: Promise<void>;
}

/** The `uri` of `migrate`: the destination as `shadowvq migrate --dest` names it. */
export function parseDestination(uri: string): E.Either<string, string> {
  const s = uri.trim();
  if (s.startsWith('vdpa:')) return /^vdpa:\/dev\/vhost-vdpa-\d+$/.test(s) ? E.right(s) : E.left(`Invalid destination '${uri}': expected vdpa:/dev/vhost-vdpa-N`);
  const p = parseSimSpec(s);
  return E.isLeft(p) ? E.left(`Invalid destination '${uri}': expected sim, sim:<profile> or vdpa:/dev/vhost-vdpa-N (${p.left.message})`) : E.right(s);
}

const intIn = (name: string, v: Json | undefined, min: number, max: number, dflt: number): E.Either<string, number> =>
  v === undefined ? E.right(dflt) : typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? E.right(v) : E.left(`Parameter '${name}' expects an integer in ${min}..${max}`);

export class QmpServer {
  private readonly server: Server;
  private readonly clients = new Set<Client>();
  private job: MigrationJob | null = null;
  private events = false;
  /** x-shadowvq-set-svq: SVQ on before every migration and kept on (QEMU's x-svq=on). */
  private svqAlways = false;
  private readonly limits: Limits;
  private readonly maxClients: number;
  private readonly maxQueued: number;
  private readonly maxStateBytes: number;
  private resolveClosed!: () => void;
  /** Settles once the server stopped (`quit`, or `close()`). */
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));

  constructor(private readonly o: QmpServerOptions) {
    this.limits = o.limits ?? QMP_LIMITS;
    this.maxClients = o.maxClients ?? 8;
    this.maxQueued = o.maxQueuedBytes ?? 4 << 20;
    this.maxStateBytes = o.maxStateBytes ?? 1 << 20;
    this.server = createServer((s) => this.accept(s));
  }

  /** Listen on the socket path; a stale socket there is replaced (as QEMU's server=on does), any other file refused. */
  listen(): Promise<void> {
    try {
      if (lstatSync(this.o.path).isSocket()) unlinkSync(this.o.path);
    } catch {
      // nothing there
    }
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stop: refuse new clients, disconnect the connected ones, remove the socket. A running migration finishes. */
  async close(): Promise<void> {
    for (const c of this.clients) c.socket.destroy();
    this.clients.clear();
    await new Promise<void>((r) => this.server.close(() => r()));
    try {
      unlinkSync(this.o.path);
    } catch {
      // already gone
    }
    this.resolveClosed();
  }

  /** The current (or last) migration, for embedding and tests. */
  get migration(): MigrationJob | null {
    return this.job;
  }

  private log(s: string): void {
    this.o.log?.(s);
  }

  private send(c: Client, text: string): void {
    if (c.socket.destroyed) return;
    if (c.socket.writableLength > this.maxQueued) {
      this.log(`qmp: client not reading (${c.socket.writableLength} bytes queued): disconnected`);
      c.socket.destroy();
      return;
    }
    c.socket.write(text);
  }

  private broadcast(text: string): void {
    for (const c of this.clients) if (c.negotiated) this.send(c, text);
  }

  private accept(socket: Socket): void {
    socket.setEncoding('utf8');
    if (this.clients.size >= this.maxClients) {
      socket.end(replyError(qmpError('GenericError', `too many QMP clients (at most ${this.maxClients})`), undefined));
      return;
    }
    const c: Client = { socket, splitter: new JsonSplitter(this.limits), negotiated: false, queue: Promise.resolve() };
    this.clients.add(c);
    this.log(`qmp: client connected (${this.clients.size})`);
    socket.on('data', (chunk: string) => {
      for (const v of c.splitter.push(chunk)) {
        c.queue = c.queue
          .then(() => (v.kind === 'error' ? this.send(c, replyError(qmpError('GenericError', v.desc), undefined)) : this.input(c, v.text)))
          .catch((e: unknown) => this.send(c, replyError(qmpError('GenericError', `internal error: ${e instanceof Error ? e.message : String(e)}`), undefined)));
      }
    });
    const gone = () => {
      if (this.clients.delete(c)) this.log(`qmp: client disconnected (${this.clients.size})`);
    };
    socket.on('close', gone);
    socket.on('error', gone);
    this.send(c, greeting(this.o.version));
  }

  private async input(c: Client, text: string): Promise<void> {
    const p = parseCommand(text);
    if (!p.ok) {
      this.send(c, replyError(p.error, p.id));
      return;
    }
    const r = await this.execute(c, p.cmd);
    this.send(c, 'error' in r ? replyError(r.error, p.cmd.id) : replyReturn(r.value, p.cmd.id));
    if (p.cmd.execute === 'quit' && !('error' in r)) void this.close();
  }

  private async execute(c: Client, cmd: QmpCommand): Promise<{ value: Json } | { error: QmpError }> {
    const err = (e: QmpError) => ({ error: e });
    const ok = (value: Json) => ({ value });
    if (!c.negotiated) {
      if (cmd.execute !== 'qmp_capabilities') return err(qmpError('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'"));
      const bad = checkArgs({ enable: { type: 'array-of-str' } }, cmd.arguments);
      if (bad !== null) return err(bad);
      const want = (cmd.arguments.enable ?? []) as readonly string[];
      if (want.length > 0) return err(qmpError('GenericError', `Capability '${want[0]}' not available`));
      c.negotiated = true;
      return ok({});
    }
    const a = cmd.arguments;
    const noArgs = () => checkArgs({}, a);
    switch (cmd.execute) {
      case 'qmp_capabilities':
        return err(qmpError('CommandNotFound', 'Capabilities negotiation is already complete, command ignored'));
      case 'query-version': {
        const e = noArgs();
        if (e !== null) return err(e);
        const [major = 0, minor = 0, micro = 0] = this.o.version.split('.').map((x) => Number.parseInt(x, 10) || 0);
        return ok({ qemu: { major, minor, micro }, package: `shadowvq-${this.o.version}` });
      }
      case 'query-commands': {
        const e = noArgs();
        return e !== null ? err(e) : ok(COMMANDS.map((name) => ({ name })));
      }
      case 'query-status': {
        const e = noArgs();
        if (e !== null) return err(e);
        const j = this.job;
        const running = j === null || j.running;
        const status = running ? 'running' : j.status === 'completed' ? 'postmigrate' : j.status === 'device' || j.status === 'cancelling' ? 'finish-migrate' : 'paused';
        return ok({ status, singlestep: false, running });
      }
      case 'migrate-set-capabilities': {
        const caps = a.capabilities;
        if (Object.keys(a).some((k) => k !== 'capabilities')) return err(qmpError('GenericError', `Parameter '${Object.keys(a).find((k) => k !== 'capabilities')}' is unexpected`));
        if (!Array.isArray(caps)) return err(qmpError('GenericError', caps === undefined ? "Parameter 'capabilities' is missing" : "Invalid parameter type for 'capabilities', expected: array"));
        if (this.job !== null && !this.job.finished) return err(qmpError('GenericError', "There's a migration process in progress"));
        let events = this.events;
        for (const [i, x] of (caps as readonly Json[]).entries()) {
          if (typeof x !== 'object' || x === null || Array.isArray(x)) return err(qmpError('GenericError', `Invalid parameter type for 'capabilities[${i}]', expected: object`));
          const o = x as Record<string, Json>;
          const bad = checkArgs({ capability: { type: 'str', required: true }, state: { type: 'bool', required: true } }, o);
          if (bad !== null) return err(qmpError('GenericError', bad.desc.replace(/'([^']+)'/, `'capabilities[${i}].$1'`)));
          if (o.capability !== 'events') return err(qmpError('GenericError', `Capability '${String(o.capability)}' is not supported by shadowvq (supported: events)`));
          events = o.state === true;
        }
        this.events = events;
        return ok({});
      }
      case 'query-migrate-capabilities': {
        const e = noArgs();
        return e !== null ? err(e) : ok([{ capability: 'events', state: this.events }]);
      }
      case 'migrate':
        return this.migrate(a);
      case 'migrate_cancel': {
        const e = noArgs();
        if (e !== null) return err(e);
        this.job?.cancel();
        return ok({});
      }
      case 'query-migrate': {
        const e = noArgs();
        return e !== null ? err(e) : ok(this.job?.info() ?? {});
      }
      case 'quit': {
        const e = noArgs();
        return e !== null ? err(e) : ok({});
      }
      case 'x-shadowvq-query-plan':
        return this.plan(a);
      case 'x-shadowvq-query-svq': {
        const e = noArgs();
        if (e !== null) return err(e);
        return ok({ ...(this.job === null ? { mode: 'passthrough', queues: [] } : (this.job.svq() as { [k: string]: Json })), always: this.svqAlways });
      }
      case 'x-shadowvq-set-svq': {
        // QEMU's x-svq=on as a switch: SVQ on before the next migrations and kept on, or only during them
        const bad = checkArgs({ always: { type: 'bool', required: true } }, a);
        if (bad !== null) return err(bad);
        this.svqAlways = a.always === true;
        return ok({});
      }
      case 'x-shadowvq-query-summary': {
        const e = noArgs();
        if (e !== null) return err(e);
        if (this.job?.summary == null) return err(qmpError('GenericError', 'No migration has finished yet'));
        return ok(JSON.parse(summaryJson(this.job.summary)) as Json);
      }
      default:
        return err(qmpError('CommandNotFound', `The command ${cmd.execute} has not been found`));
    }
  }

  /** A state file, bounded in size, or the demo state. */
  private readState(a: { readonly [k: string]: Json }): E.Either<string, NetDeviceState> {
    if (a['x-demo'] === true && a['x-state'] !== undefined) return E.left("Parameters 'x-demo' and 'x-state' are mutually exclusive");
    if (a['x-demo'] === true) {
      const s = decodeStateJson(demoStateJson());
      return E.isLeft(s) ? E.left(`the demo state is invalid: ${s.left.message}`) : E.right(s.right);
    }
    const path = a['x-state'];
    if (typeof path !== 'string') return E.left("Parameter 'x-state' or 'x-demo' is missing (the device state to migrate)");
    return E.chain((text: string) => {
      const s = parseStateJson(text);
      return E.isLeft(s) ? E.left(`invalid state file ${path}: ${s.left.issues.map((i) => `${i.path === '' ? '(document)' : i.path}: ${i.message}`).join('; ')}`) : E.right(s.right);
    })(this.readBounded(path));
  }

  private readBounded(path: string): E.Either<string, string> {
    try {
      const st = statSync(path);
      if (!st.isFile()) return E.left(`cannot read state file ${path}: not a regular file`);
      if (st.size > this.maxStateBytes) return E.left(`state file ${path} is ${st.size} bytes (at most ${this.maxStateBytes})`);
      return E.right(readFileSync(path, 'utf8'));
    } catch (e) {
      return E.left(`cannot read state file ${path}: ${(e as Error).message}`);
    }
  }

  private migrate(a: { readonly [k: string]: Json }): { value: Json } | { error: QmpError } {
    const generic = (desc: string) => ({ error: qmpError('GenericError', desc) });
    const bad = checkArgs(MIGRATE_ARGS, a);
    if (bad !== null) return { error: bad };
    if (this.job !== null && !this.job.finished) return generic("There's a migration process in progress");
    if (a.resume === true) return generic('shadowvq has no postcopy to resume');
    const dest = parseDestination(a.uri as string);
    if (E.isLeft(dest)) return generic(dest.left);
    const source = (a['x-source'] as string | undefined) ?? 'sim';
    const s = parseSimSpec(source.trim());
    if (E.isLeft(s)) return generic(`Invalid 'x-source' (the source is the embedded simulator, it carries the guest): ${s.left.message}`);
    const strategyName = (a['x-strategy'] as string | undefined) ?? 'parallel';
    const strategy = STRATEGIES[strategyName];
    if (strategy === undefined) return generic(`Parameter 'x-strategy' expects one of ${Object.keys(STRATEGIES).join(', ')}`);
    let features = FULL_PROFILE_FEATURES;
    if (a['x-features'] !== undefined) {
      const f = parseFeatureList(a['x-features'] as string);
      if (E.isLeft(f)) return generic(`Parameter 'x-features': ${f.left.message}`);
      const d = checkFeatureDependencies(f.right);
      if (E.isLeft(d)) return generic(`Parameter 'x-features': inconsistent feature set ${formatFeatures(f.right)}: ${d.left.message}`);
      features = f.right;
    }
    const faults: Fault[] = [];
    for (const spec of (a['x-fault'] ?? []) as readonly string[]) {
      const f = parseFault(spec);
      if (E.isLeft(f)) return generic(`Parameter 'x-fault': ${f.left.message}`);
      faults.push(f.right);
    }
    const ram = intIn('x-ram', a['x-ram'], 4, 1024, 64);
    const rounds = intIn('x-max-rounds', a['x-max-rounds'], 1, 1000, 12);
    const threshold = intIn('x-threshold', a['x-threshold'], 0, 1 << 30, 64);
    for (const r of [ram, rounds, threshold]) if (E.isLeft(r)) return generic(r.left);
    const state = this.readState(a);
    if (E.isLeft(state)) return generic(state.left);
    const num = (r: E.Either<string, number>) => (E.isRight(r) ? r.right : 0);
    const job = new MigrationJob(
      {
        source: source.trim(),
        destination: dest.right,
        state: state.right,
        features,
        strategy,
        ramBytes: num(ram) << 20,
        maxRounds: num(rounds),
        thresholdPages: num(threshold),
        faults,
        svq: (a['x-svq'] === undefined ? this.svqAlways : a['x-svq'] === true) ? 'always' : 'migration',
      },
      {
        status: (st: MigrationStatus) => {
          if (this.events) this.broadcast(eventMessage('MIGRATION', { status: st }));
        },
        pass: (n) => {
          if (this.events) this.broadcast(eventMessage('MIGRATION_PASS', { pass: n }));
        },
        runState: (running) => this.broadcast(running ? eventMessage('RESUME', undefined) : eventMessage('STOP', undefined)),
      },
    );
    this.job = job;
    void job.done.then(() => this.log(`qmp: migration ${job.status}${job.error === null ? '' : `: ${job.error}`}`));
    return { value: {} };
  }

  private async plan(a: { readonly [k: string]: Json }): Promise<{ value: Json } | { error: QmpError }> {
    const bad = checkArgs(PLAN_ARGS, a);
    if (bad !== null) return { error: bad };
    if (a['x-demo'] === true && a['x-state'] !== undefined) return { error: qmpError('GenericError', "Parameters 'x-demo' and 'x-state' are mutually exclusive") };
    const path = a['x-demo'] === true ? '(demo)' : a['x-state'];
    if (typeof path !== 'string') return { error: qmpError('GenericError', "Parameter 'x-state' or 'x-demo' is missing") };
    const read = (p: string): string => {
      if (a['x-demo'] === true) return JSON.stringify(demoStateJson());
      const t = this.readBounded(p);
      if (E.isLeft(t)) throw new Error(t.left);
      return t.right;
    };
    const out = await runPlan({ state: path, json: true, ...(typeof a['x-features'] === 'string' ? { features: a['x-features'] } : {}) }, read);
    if (out.code !== 0) return { error: qmpError('GenericError', out.stderr.replace(/^shadowvq plan: /, '').trim()) };
    return { value: { commands: JSON.parse(out.stdout) as Json, ...(out.stderr === '' ? {} : { note: out.stderr.replace(/^shadowvq plan: note: /, '').trim() }) } };
  }
}

export const COMMANDS = [
  'qmp_capabilities',
  'query-version',
  'query-commands',
  'query-status',
  'migrate',
  'migrate_cancel',
  'query-migrate',
  'migrate-set-capabilities',
  'query-migrate-capabilities',
  'quit',
  'x-shadowvq-query-plan',
  'x-shadowvq-query-svq',
  'x-shadowvq-set-svq',
  'x-shadowvq-query-summary',
] as const;
