/**
 * The simulated device's virtual clock: simulated microseconds and a queue of timed events.
 *
 * Virtual time only moves forward when the simulation says so: a kick's processing completes one
 * kick-to-call latency after the kick, a `waitCall` with nothing pending advances to its timeout (never
 * sleeping), and a delayed ack fires when the clock reaches it. Tests and benchmarks are therefore
 * deterministic and fast, while the numbers they read (`now`, `roundTrips`) model a device's latency.
 */

interface TimedEvent {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

export class VirtualClock {
  /** Simulated time, µs since the device was created. */
  private t = 0;
  private seq = 0;
  /** Pending events, kept sorted by (at, seq); short in practice (delayed acks). */
  private readonly events: TimedEvent[] = [];
  /** Kick → call round trips the device completed (one per processing pass that raised a call). */
  roundTrips = 0;

  get now(): number {
    return this.t;
  }

  /** Run `fn` when the clock reaches `atUs` (never before). Returns a handle for `cancel`. */
  schedule(atUs: number, fn: () => void): number {
    const ev: TimedEvent = { at: Math.max(atUs, this.t), seq: ++this.seq, fn };
    let i = this.events.length;
    while (i > 0 && this.events[i - 1]!.at > ev.at) i--;
    this.events.splice(i, 0, ev);
    return ev.seq;
  }

  cancel(handle: number): boolean {
    const i = this.events.findIndex((e) => e.seq === handle);
    if (i < 0) return false;
    this.events.splice(i, 1);
    return true;
  }

  /** Drop every pending event (device reset). */
  cancelAll(): void {
    this.events.length = 0;
  }

  /** Time of the earliest pending event, or undefined. */
  nextEventAt(): number | undefined {
    return this.events[0]?.at;
  }

  pending(): number {
    return this.events.length;
  }

  /**
   * Move the clock to `atUs` (never backwards), firing every event due on the way in time order, with
   * the clock set to each event's time while it runs.
   */
  advanceTo(atUs: number): void {
    for (;;) {
      const ev = this.events[0];
      if (ev === undefined || ev.at > atUs) break;
      this.events.shift();
      if (ev.at > this.t) this.t = ev.at;
      ev.fn();
    }
    if (atUs > this.t) this.t = atUs;
  }

  advance(us: number): void {
    this.advanceTo(this.t + us);
  }
}
