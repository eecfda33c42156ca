/**
 * What every in-guest test gets: the device spec, the MAC the harness gave vdpa0, a way to open the
 * device (vhost-vdpa allows one opener at a time: each test opens and closes its own), and metrics.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { VdpaDevice } from '../../../src/device/types.js';
import { openVdpaSpec } from '../../../src/device/vhost-vdpa/index.js';
import { AssertionFailed, describe } from '../framework.js';
import type { MetricRecord } from '../protocol.js';

export interface GuestContext {
  /** `vdpa:/dev/vhost-vdpa-0` */
  readonly spec: string;
  /** MAC the harness created vdpa0 with, as 6 bytes. */
  readonly mac: Uint8Array;
  /** Open the device (the caller closes it); throws when it cannot be opened. */
  openSync(): VdpaDevice;
  /** Open the device, run `fn`, always close it. */
  withDevice<T>(fn: (dev: VdpaDevice) => T | Promise<T>): Promise<T>;
  metric(m: MetricRecord): void;
}

export function makeContext(spec: string, mac: Uint8Array, emit: (line: string) => void, metricLine: (m: MetricRecord) => string): GuestContext {
  return {
    spec,
    mac,
    openSync() {
      const opened = openVdpaSpec(spec);
      if (E.isLeft(opened)) throw new AssertionFailed(`open ${spec}: ${describe(opened.left)}`);
      return opened.right;
    },
    async withDevice(fn) {
      const opened = openVdpaSpec(spec);
      if (E.isLeft(opened)) throw new AssertionFailed(`open ${spec}: ${describe(opened.left)}`);
      const dev = opened.right;
      try {
        return await fn(dev);
      } finally {
        dev.close();
      }
    },
    metric(m) {
      emit(metricLine(m));
    },
  };
}

export const parseMac = (s: string): Uint8Array | undefined => {
  const parts = s.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p))) return undefined;
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
};
