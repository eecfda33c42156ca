/**
 * The bridge's data plane on the event loop: each round answers the VDUSE control messages, relays the
 * kernel's kicks to the SVQs and the vhost-vdpa device's calls back to them; when nothing moved, it waits
 * in poll(2) on those fds for at most `PUMP_SLICE_MS`. While a machine moves the queues (`forwarding`
 * false) it answers control messages only: kicks and calls wait in their eventfds.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { ShadowVirtqueue } from '../../svq/shadow-virtqueue.js';
import { deviceError } from '../types.js';
import { EAGAIN, EINTR, POLLIN, type Libc } from '../vhost-vdpa/libc.js';
import type { VhostVdpaDevice } from '../vhost-vdpa/device.js';
import type { VduseDevice, VduseHandlers } from './device.js';
import type { BridgeError, BridgeStats } from './types.js';

/** Longest the idle pump blocks the event loop in poll(2). */
export const PUMP_SLICE_MS = 1;

/** What the pump serves. */
export interface PumpHost {
  readonly vduse: VduseDevice;
  readonly handlers: VduseHandlers;
  readonly stats: BridgeStats;
  /** The device the SVQs forward to now. */
  readonly vdpa: VhostVdpaDevice;
  /** Queue indices the kernel uses. */
  queueIndices(): readonly number[];
  svq(qi: number): ShadowVirtqueue | undefined;
  /** DRIVER_OK set and no machine moving the queues. */
  readonly forwarding: boolean;
  /** A kick came: the bounce area may have appeared. */
  onKick(): void;
  record(e: BridgeError): void;
}

export class Pump {
  private running = false;
  private loopDone: Promise<void> | undefined;
  private readonly counter = new BigUint64Array(1);
  private pollfds = new DataView(new ArrayBuffer(0));

  constructor(
    private readonly h: PumpHost,
    private readonly c: Libc,
  ) {}

  /** One round: control messages, kicks, device calls. True when anything happened. */
  step(): boolean {
    const h = this.h;
    h.stats.pumpRounds++;
    let worked = false;
    const m = h.vduse.pollMessages(h.handlers);
    if (E.isLeft(m)) h.record(m.left);
    else if (m.right > 0) worked = true;
    if (!h.forwarding) return worked;
    for (const qi of h.queueIndices()) {
      const svq = h.svq(qi);
      const k = h.vduse.takeKick(qi);
      if (E.isLeft(k)) h.record(k.left);
      else if (k.right) {
        worked = true;
        h.stats.guestKicks++;
        h.onKick();
        svq?.handleGuestKick();
      }
      if (this.takeCall(qi)) {
        worked = true;
        h.stats.deviceCalls++;
        svq?.handleDeviceCall();
      }
      const f = svq?.failure;
      if (f !== undefined) h.record(f);
    }
    return worked;
  }

  private takeCall(qi: number): boolean {
    const n = this.h.vdpa.notifiers(qi);
    if (n === undefined) return false;
    if (this.c.read(n.call, this.counter, 8) === 8) return true;
    const errno = this.c.errno();
    if (errno !== EAGAIN && errno !== EINTR) this.h.record(deviceError('ioctl', 'read(call eventfd)', `read(call eventfd) failed: errno ${errno}`, errno));
    return false;
  }

  private idle(): void {
    const h = this.h;
    const fds: number[] = [];
    if (h.vduse.isOpen) fds.push(h.vduse.pollFd);
    if (h.forwarding) {
      for (const qi of h.queueIndices()) {
        const k = h.vduse.kickFd(qi);
        if (k >= 0) fds.push(k);
        const n = h.vdpa.notifiers(qi);
        if (n !== undefined) fds.push(n.call);
      }
    }
    if (this.pollfds.byteLength < fds.length * 8) this.pollfds = new DataView(new ArrayBuffer(fds.length * 8));
    for (let i = 0; i < fds.length; i++) {
      this.pollfds.setInt32(i * 8, fds[i]!, true);
      this.pollfds.setInt16(i * 8 + 4, POLLIN, true);
      this.pollfds.setInt16(i * 8 + 6, 0, true);
    }
    if (fds.length > 0) this.c.poll(this.pollfds, fds.length, PUMP_SLICE_MS);
  }

  /** Run on the event loop until `stop()`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = new Promise((resolve) => {
      const loop = (): void => {
        if (!this.running) {
          resolve();
          return;
        }
        if (!this.step()) this.idle();
        setImmediate(loop);
      };
      setImmediate(loop);
    });
  }

  /** Stop (after the current round). */
  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
  }
}
