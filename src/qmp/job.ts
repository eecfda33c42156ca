/**
 * One migration as QMP sees it: `runMigration` (src/migrate/controller.ts) driven from `migrate`, its
 * machine transitions and notes turned into QEMU's MigrationStatus (qapi/migration.json) —
 * none → setup → active → device → completed, or → failed, or cancelling → cancelled — and into
 * `query-migrate`'s MigrationInfo statistics under QEMU's names. `cancel()` is `migrate_cancel`: CANCEL
 * to whichever end's migration actor is running (the source until it completes, then the destination).
 */
import * as E from 'fp-ts/lib/Either.js';
import type { CvqStrategy } from '../../machines/cvq-command.js';
import type { Fault } from '../device/sim/faults.js';
import type { MigrationNote } from '../effects/migration.js';
import { PAGE_SIZE } from '../memory/address-space.js';
import { runMigration, type MigrationActor, type MigrationSummary } from '../migrate/controller.js';
import type { TransitionRecord } from '../migrate/transitions.js';
import { armFaults } from '../migrate/faults.js';
import type { Source } from '../migrate/world.js';
import type { NetDeviceState } from '../state/net-state.js';
import type { Json } from './wire.js';

/** QEMU's MigrationStatus values this controller goes through. */
export type MigrationStatus = 'none' | 'setup' | 'active' | 'device' | 'completed' | 'failed' | 'cancelling' | 'cancelled';

export interface JobOptions {
  readonly source: string;
  readonly destination: string;
  readonly state: NetDeviceState;
  readonly features: bigint;
  readonly strategy: CvqStrategy;
  readonly ramBytes: number;
  readonly maxRounds: number;
  readonly thresholdPages: number;
  readonly faults: readonly Fault[];
  /** QEMU's x-svq=on (`always`) or SVQ during the migration only. */
  readonly svq?: 'migration' | 'always';
}

export interface JobEvents {
  /** A MIGRATION event: the status changed. */
  readonly status: (s: MigrationStatus) => void;
  /** A MIGRATION_PASS event: a dirty-bitmap sync (one precopy round) began. */
  readonly pass: (n: number) => void;
  /** The VM's run state changed (query-status; STOP / RESUME events). */
  readonly runState: (running: boolean) => void;
}

/** Link bytes per simulated µs the controller models (RunOptions.bandwidth's default, 10 Gb/s). */
const LINK_BYTES_PER_US = 1250;

export class MigrationJob {
  status: MigrationStatus = 'none';
  summary: MigrationSummary | null = null;
  error: string | null = null;
  private readonly t0 = Date.now();
  private tActive: number | null = null;
  private tEnd: number | null = null;
  private readonly rounds: { pagesSent: number; dirtyPages: number; wireUs: number }[] = [];
  private saved: { remainingPages: number; wireUs: number } | null = null;
  private cvq: { applied: number; total: number; roundTrips: number } | null = null;
  private phase = '';
  private end: 'source' | 'destination' = 'source';
  private actor: MigrationActor | undefined;
  private cancelRequested = false;
  private cancelSent = false;
  private source: Source | undefined;
  /** The VM runs on the source until stop-and-copy, and again after a rollback. */
  running = true;
  readonly done: Promise<void>;

  constructor(
    private readonly o: JobOptions,
    private readonly ev: JobEvents,
  ) {
    this.set('setup');
    this.done = this.run();
  }

  private set(s: MigrationStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.ev.status(s);
  }

  private setRunning(r: boolean): void {
    if (this.running === r) return;
    this.running = r;
    this.ev.runState(r);
  }

  get finished(): boolean {
    return this.status === 'completed' || this.status === 'failed' || this.status === 'cancelled';
  }

  private async run(): Promise<void> {
    const r = await runMigration({
      source: this.o.source,
      destination: this.o.destination,
      state: this.o.state,
      features: this.o.features,
      strategy: this.o.strategy,
      ramBytes: this.o.ramBytes,
      maxRounds: this.o.maxRounds,
      dirtyThresholdPages: this.o.thresholdPages,
      svq: this.o.svq ?? 'migration',
      onWorld: (w) => {
        this.source = w.source;
        // x-fault: armed once both ends are up (src/migrate/faults.ts)
        return armFaults({ source: w.source.dev, destination: w.destination.dev }, this.o.faults);
      },
      onActor: (end, actor) => {
        this.actor = actor;
        this.end = end;
      },
      onTransition: (t) => this.transition(t),
      onNote: (n) => this.note(n),
    });
    this.tEnd = Date.now();
    if (E.isLeft(r)) {
      this.error = `${r.left.where}: ${r.left.message}`;
      this.setRunning(true);
      this.set('failed');
      return;
    }
    const s = r.right;
    this.summary = s;
    if (s.outcome === 'completed') {
      this.set('completed');
      return;
    }
    this.error = s.error;
    // rolled back: the VM runs on the source again (QEMU resumes it after a cancel or a failure)
    if (s.verdict.sourceIntact === true) this.setRunning(true);
    this.set(s.outcome === 'rolled-back' && this.cancelRequested ? 'cancelled' : 'failed');
  }

  private transition(t: TransitionRecord): void {
    if (t.machine !== 'migration' || t.from === t.to) return;
    this.phase = t.to;
    this.end = t.end;
    if (this.cancelRequested && !this.cancelSent && t.end === 'source' && t.to === 'setup') this.sendCancel(true);
    if (this.cancelRequested) return;
    if (t.end === 'source' && t.to === 'precopy') {
      this.tActive = Date.now();
      this.set('active');
    } else if (t.end === 'source' && t.to === 'stopAndCopy') {
      this.setRunning(false);
      this.set('device');
    }
  }

  private note(n: MigrationNote): void {
    if (n.kind === 'round') {
      this.rounds.push({ pagesSent: n.pagesSent, dirtyPages: n.dirtyPages, wireUs: n.wireUs });
      this.ev.pass(this.rounds.length);
    } else if (n.kind === 'saved') this.saved = { remainingPages: n.remainingPages, wireUs: n.wireUs };
    else if (n.kind === 'cvq-progress') this.cvq = { applied: n.applied, total: n.total, roundTrips: n.roundTrips };
  }

  /** CANCEL to the running end's actor; `entering`: called while it enters a phase (its snapshot is not updated yet). */
  private sendCancel(entering = false): void {
    const a = this.actor;
    if (a === undefined) return;
    const s = a.getSnapshot();
    if (s.status !== 'active' || (!entering && s.matches('idle'))) return;
    this.cancelSent = true;
    a.send({ type: 'CANCEL', reason: 'migrate_cancel' });
  }

  /** `migrate_cancel`: false when there is nothing left to cancel (QEMU: a no-op). */
  cancel(): boolean {
    if (this.finished || this.cancelRequested) return false;
    this.cancelRequested = true;
    this.set('cancelling');
    this.sendCancel();
    return true;
  }

  /** SVQ per data queue of the source (x-shadowvq-query-svq). */
  svq(): Json {
    const src = this.source;
    if (src === undefined) return { mode: 'unknown', queues: [] };
    return { mode: src.backend.mode, queues: src.dataQueues.map((q) => q) };
  }

  /** MigrationInfo (qapi/migration.json) for `query-migrate`. */
  info(now = Date.now()): Json {
    if (this.status === 'none') return {};
    const sentPages = this.rounds.reduce((a, r) => a + r.pagesSent, 0) + (this.saved?.remainingPages ?? 0);
    const last = this.rounds[this.rounds.length - 1];
    const remainingPages = this.saved !== null ? 0 : (last?.dirtyPages ?? Math.ceil(this.o.ramBytes / PAGE_SIZE));
    const wireUs = this.rounds.reduce((a, r) => a + r.wireUs, 0) + (this.saved?.wireUs ?? 0);
    const precopyPages = this.rounds.reduce((a, r) => a + r.pagesSent, 0);
    const out: Record<string, Json> = { status: this.status };
    out['total-time'] = (this.tEnd ?? now) - this.t0;
    if (this.tActive !== null) out['setup-time'] = this.tActive - this.t0;
    if (this.status === 'completed' && this.summary?.downtime != null) out['downtime'] = Math.round(this.summary.downtime.wallMs);
    else if (this.status === 'active') out['expected-downtime'] = Math.round((remainingPages * PAGE_SIZE) / LINK_BYTES_PER_US / 1000);
    if (this.status !== 'setup' && this.status !== 'failed') {
      out['ram'] = {
        transferred: sentPages * PAGE_SIZE,
        remaining: remainingPages * PAGE_SIZE,
        total: this.o.ramBytes,
        duplicate: 0,
        normal: sentPages,
        'normal-bytes': sentPages * PAGE_SIZE,
        'dirty-pages-rate': last === undefined || last.wireUs === 0 ? 0 : Math.round((last.dirtyPages * 1e6) / last.wireUs),
        mbps: wireUs === 0 ? 0 : Math.round(((sentPages * PAGE_SIZE * 8) / wireUs) * 1000) / 1000,
        'dirty-sync-count': this.rounds.length,
        'page-size': PAGE_SIZE,
        'precopy-bytes': precopyPages * PAGE_SIZE,
        'downtime-bytes': (this.saved?.remainingPages ?? 0) * PAGE_SIZE,
      };
    }
    if (this.error !== null && this.status === 'failed') out['error-desc'] = this.error;
    // what QEMU has no name for: the machines' phase, the CVQ restore, simulated (link-model) time
    out['x-shadowvq'] = {
      end: this.end,
      phase: this.phase,
      cvq: this.cvq,
      'simulated-us': Math.round(wireUs * 1000) / 1000,
      ...(this.summary === null
        ? {}
        : {
            outcome: this.summary.outcome,
            'state-equal': this.summary.verdict.stateEqual,
            'source-intact': this.summary.verdict.sourceIntact,
            'frames-lost': this.summary.traffic.lost,
            'downtime-simulated-us': this.summary.downtime?.simUs ?? null,
          }),
    };
    return out;
  }
}
