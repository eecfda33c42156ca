/**
 * Notifications end to end with nothing forced: the guest kicks only when its ring says so and reaps only
 * when called (NAPI: reap, re-enable calls, reap again on the race), the device runs only when kicked or
 * still busy and calls only when the shadow ring says so, SVQ runs only on those kicks and calls. Whatever
 * the interleaving, every chain the guest made available comes back to it: a call SVQ (or the device on
 * the shadow ring) suppressed while the guest or SVQ was waiting for it would leave chains stranded.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isRingError, type RingLayout } from '../../src/ring/types.js';
import { Harness } from './harness.js';

const layouts: [RingLayout, RingLayout][] = [
  ['split', 'split'],
  ['packed', 'packed'],
  ['split', 'packed'],
  ['packed', 'split'],
];

type Action =
  | { t: 'add'; n: number }
  | { t: 'guest-kick' } // deliver a pending guest kick to SVQ
  | { t: 'device'; n: number } // one device slice (only if kicked or busy)
  | { t: 'device-call' } // deliver a pending device call to SVQ
  | { t: 'guest-call' } // deliver a pending SVQ call to the guest
  | { t: 'guest-poll'; on: boolean } // the guest switches to polling (calls off) or back
  | { t: 'eager'; n: number }; // the device runs n chains inside SVQ's kick, while SVQ is mid-pass (0: never)

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ t: fc.constant('add' as const), n: fc.integer({ min: 1, max: 12 }) }),
  fc.constant({ t: 'guest-kick' as const }),
  fc.record({ t: fc.constant('device' as const), n: fc.integer({ min: 1, max: 10 }) }),
  fc.constant({ t: 'device-call' as const }),
  fc.constant({ t: 'guest-call' as const }),
  fc.record({ t: fc.constant('guest-poll' as const), on: fc.boolean() }),
  fc.record({ t: fc.constant('eager' as const), n: fc.integer({ min: 0, max: 8 }) }),
);

class World {
  readonly h: Harness;
  added = 0;
  private kicksSeen = 0;
  private callsSeen = 0;
  guestKickPending = false;
  deviceCallPending = false;
  polling = false;

  constructor(g: RingLayout, s: RingLayout, eventIdx: boolean, pollGuestWhileBusy: boolean) {
    this.h = new Harness({ guest: { layout: g, size: 32, eventIdx, indirect: false }, shadow: { layout: s, size: 16, eventIdx, indirect: false }, pollGuestWhileBusy });
  }

  get deviceKickPending(): boolean {
    return this.h.deviceKicked > this.kicksSeen;
  }

  get guestCallPending(): boolean {
    return this.h.guestCalled > this.callsSeen;
  }

  add(n: number): void {
    for (let i = 0; i < n; i++) if (this.h.add({ out: [24], in: [24] })) this.added++;
    if (this.h.tb.guestDriver.kickNeeded()) this.guestKickPending = true;
  }

  guestKick(): void {
    if (!this.guestKickPending) return;
    this.guestKickPending = false;
    this.h.svq.handleGuestKick();
  }

  /** A device slice: only when kicked or still busy (its kicks are off while busy). */
  device(n: number): void {
    const kicked = this.deviceKickPending;
    this.kicksSeen = this.h.deviceKicked;
    if (!kicked && !this.h.device.isBusy) return;
    const r = this.h.device.service(n);
    if (isRingError(r)) throw new Error(r.message);
    if (this.h.device.callNeeded()) this.deviceCallPending = true;
  }

  deviceCall(): void {
    if (!this.deviceCallPending) return;
    this.deviceCallPending = false;
    this.h.svq.handleDeviceCall();
  }

  /** The guest's interrupt: reap, re-enable calls, reap again while it raced (virtnet_poll). */
  guestCall(): void {
    if (!this.guestCallPending) return;
    this.callsSeen = this.h.guestCalled;
    if (this.polling) return; // a spurious call while polling: ignored
    this.napi();
  }

  napi(): void {
    const drv = this.h.tb.guestDriver;
    do this.h.reap();
    while (drv.enableCalls());
  }

  guestPoll(on: boolean): void {
    if (on === this.polling) return;
    this.polling = on;
    if (on) this.h.tb.guestDriver.disableCalls();
    else this.napi();
  }

  step(a: Action): void {
    switch (a.t) {
      case 'add':
        return this.add(a.n);
      case 'guest-kick':
        return this.guestKick();
      case 'device':
        return this.device(a.n);
      case 'device-call':
        return this.deviceCall();
      case 'guest-call':
        return this.guestCall();
      case 'guest-poll':
        if (this.polling) this.h.reap();
        return this.guestPoll(a.on);
      case 'eager':
        this.h.onDeviceKick = a.n === 0 ? undefined : () => this.device(a.n);
        return;
    }
  }

  /** The guest goes to sleep (calls on) and only notifications move anything until nothing is pending. */
  settle(): void {
    this.guestPoll(false);
    for (let i = 0; i < 10_000; i++) {
      const busy = this.guestKickPending || this.deviceKickPending || this.h.device.isBusy || this.deviceCallPending || this.guestCallPending;
      if (!busy) return;
      this.guestKick();
      this.device(8);
      this.deviceCall();
      this.guestCall();
    }
    throw new Error('notifications never settled');
  }
}

describe('EVENT_IDX and suppression end to end: no lost wake-up', () => {
  for (const [g, s] of layouts) {
    for (const eventIdx of [true, false]) {
      for (const tx of [true, false]) {
        it(`${g} → ${s}, EVENT_IDX ${eventIdx ? 'on' : 'off'}, ${tx ? 'transmit queue (kicks rest while busy, calls delayed)' : 'QEMU rules'}: every chain comes back on notifications alone`, () => {
          fc.assert(
            fc.property(fc.array(actionArb, { minLength: 1, maxLength: 80 }), (actions) => {
              const w = new World(g, s, eventIdx, tx);
              for (const a of actions) w.step(a);
              w.settle();
              expect(w.h.svq.failure).toBeUndefined();
              expect(w.h.returned).toBe(w.added);
              expect(w.h.svq.inFlight()).toBe(0);
            }),
            { numRuns: 60 },
          );
        });
      }
    }
  }
});
