/**
 * The simulated device's options, statistics and records (what callers configure and read back).
 */
import type { RingError } from '../../ring/types.js';
import { hasFeature } from '../../virtio/features.js';
import { isMacString, type MacString } from '../../virtio/net.js';
import type { FaultPlan } from './faults.js';
import { PROFILES, type ProfileName, type SimProfile } from './profiles.js';

/** VIRTIO_ID_NET (virtio 1.2 §5). */
export const VIRTIO_ID_NET = 1;

/**
 * Largest CVQ command the device reads: above the biggest valid one (an RSS config with a 32768-entry
 * table, ≈ 64 KiB) with room to spare; longer chains are refused without being copied whole.
 */
export const CVQ_MAX_COMMAND = 1 << 20;

export interface SimLatency {
  /** Simulated µs from a kick to the device's call for the work it caused (default 50). */
  readonly kickToCallUs?: number;
  /** Simulated µs the device spends per chain (default 0.5). */
  readonly perChainUs?: number;
}

export interface SimDeviceOptions {
  readonly profile?: ProfileName | SimProfile;
  readonly name?: string;
  /** The provisioned MAC ("vdpa dev add … mac"); default 52:54:00:12:34:56. */
  readonly mac?: MacString;
  /** Override the profile's max_virtqueue_pairs (full profile). */
  readonly maxQueuePairs?: number;
  /** vdpa_sim_net only: reproduce vdpasim_handle_cvq's stale ack (status not reset between commands). */
  readonly staleAck?: boolean;
  readonly latency?: SimLatency;
  readonly faults?: FaultPlan;
  /**
   * Host memory (`allocHost`) on SharedArrayBuffers, so that SVQ worker threads (src/svq/worker.ts) can
   * run over guest RAM and the shadow rings; default ArrayBuffers.
   */
  readonly sharedMemory?: boolean;
}

/** One CVQ command as the device saw it. */
export interface CvqLogEntry {
  readonly cls: number;
  readonly cmd: number;
  readonly name: string;
  /** Header + payload bytes as read. */
  readonly bytes: Uint8Array;
  /** The ack written, or undefined when none was (no-answer, delayed and not yet due, missing header). */
  ack: number | undefined;
  readonly reason: string;
  /** Virtual time (µs) of the pop and of the ack. */
  readonly poppedAt: number;
  ackedAt: number | undefined;
}

export interface SimStats {
  kicks: number;
  calls: number;
  chains: number;
  cvqCommands: number;
  acksOk: number;
  acksErr: number;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  rxDrops: number;
  rxOverruns: number;
  rxTruncated: number;
  iotlbUpdates: number;
  iotlbInvalidates: number;
  iotlbBatches: number;
  deviceErrors: number;
}

export const newStats = (): SimStats => ({
  kicks: 0,
  calls: 0,
  chains: 0,
  cvqCommands: 0,
  acksOk: 0,
  acksErr: 0,
  txPackets: 0,
  txBytes: 0,
  rxPackets: 0,
  rxBytes: 0,
  rxDrops: 0,
  rxOverruns: 0,
  rxTruncated: 0,
  iotlbUpdates: 0,
  iotlbInvalidates: 0,
  iotlbBatches: 0,
  deviceErrors: 0,
});

/** A device error recorded by the simulator (a ring rule broken by the driver, a bad buffer …). */
export interface SimDeviceFault {
  readonly queue: number;
  readonly message: string;
  readonly ring?: RingError;
}

/** The profile the options name (undefined for an unknown name). */
export const profileOf = (opts: SimDeviceOptions): SimProfile | undefined =>
  typeof opts.profile === 'object' ? opts.profile : opts.profile === undefined ? PROFILES.full : PROFILES[opts.profile];

/** Why options are unusable, or undefined. */
export function checkSimOptions(opts: SimDeviceOptions): string | undefined {
  const p = profileOf(opts);
  if (p === undefined) return `unknown profile "${String(opts.profile)}"`;
  if (opts.mac !== undefined && !isMacString(opts.mac)) return `MAC "${opts.mac}" is not xx:xx:xx:xx:xx:xx`;
  const m = opts.maxQueuePairs;
  if (m !== undefined && (!Number.isInteger(m) || m < 1 || m > 0x8000)) return `max_virtqueue_pairs ${m} is not in 1..32768 (virtio 1.2 §5.1.4)`;
  if (m !== undefined && m > 1 && !hasFeature(p.deviceFeatures, 'MQ')) return `profile ${p.name} has no VIRTIO_NET_F_MQ: max_virtqueue_pairs must be 1`;
  const l = opts.latency;
  for (const [k, v] of [['kickToCallUs', l?.kickToCallUs], ['perChainUs', l?.perChainUs]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) return `latency.${k} ${v} is not a non-negative number of µs`;
  }
  if (opts.staleAck === true && p.cvq !== 'vdpa_sim_net') return `staleAck reproduces vdpa_sim_net's bug; profile ${p.name} has no such CVQ`;
  return undefined;
}
