/** The bridge's types, and what its helpers (kernel.ts, migrate.ts, pump.ts) see of it. */
import type * as E from 'fp-ts/lib/Either.js';
import type { RingConfig, RingLayout } from '../../ring/index.js';
import type { SvqError } from '../../svq/shadow-virtqueue.js';
import type { DeviceError } from '../types.js';
import type { VduseDevice } from './device.js';
import type { DeviceLink } from './link.js';
import type { VqInfo } from './uapi.js';

export type BridgeMode = 'shadow' | 'passthrough';
export type BridgeError = DeviceError | SvqError;

/** A kernel queue the bridge serves: its VDUSE ring. */
export interface BridgeQueue {
  readonly qi: number;
  readonly info: VqInfo;
  readonly guest: RingConfig;
}

export interface BridgeStats {
  guestKicks: number;
  deviceCalls: number;
  irqsInjected: number;
  switches: number;
  migrations: number;
  pumpRounds: number;
}

/** What a migration of the bridge (./migrate.ts) uses of it. */
export interface MigratingBridge {
  readonly vduse: VduseDevice;
  /** The device the bridge is on. */
  readonly link: DeviceLink;
  readonly queues: readonly BridgeQueue[];
  readonly guestLayout: RingLayout;
  /** The features a vhost-vdpa device offering `offered` gets. */
  vdpaFeatures(offered: bigint): bigint;
  /** The bounce pages into `to`'s host space. */
  moveBounce(from: DeviceLink, to: DeviceLink): E.Either<DeviceError, void>;
}
