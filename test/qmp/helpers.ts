/** A minimal QMP test client (node:net): lines in, JSON out; events and replies kept apart. */
import { connect, type Socket } from 'node:net';

export interface Msg {
  readonly [k: string]: any;
}

export class TestClient {
  readonly msgs: Msg[] = [];
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line !== '') this.msgs.push(JSON.parse(line) as Msg);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static open(path: string): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path, () => resolve(new TestClient(s)));
      s.once('error', reject);
    });
  }

  /** Wait until a message satisfies `pred` (searching from index `from`), at most `ms`. */
  async waitFor(pred: (m: Msg) => boolean, ms = 60_000, from = 0): Promise<Msg> {
    const t0 = Date.now();
    for (;;) {
      const m = this.msgs.slice(from).find(pred);
      if (m !== undefined) return m;
      if (this.closed) throw new Error(`closed before a message matched; got ${JSON.stringify(this.msgs)}`);
      if (Date.now() - t0 > ms) throw new Error(`timeout; got ${JSON.stringify(this.msgs)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Send raw text and wait for the next reply (return or error) after it. */
  async raw(text: string): Promise<Msg> {
    const from = this.msgs.length;
    this.socket.write(text);
    return this.waitFor((m) => 'return' in m || 'error' in m, 60_000, from);
  }

  exec(execute: string, args?: Record<string, unknown>, id?: unknown): Promise<Msg> {
    return this.raw(JSON.stringify({ execute, ...(args === undefined ? {} : { arguments: args }), ...(id === undefined ? {} : { id }) }) + '\n');
  }

  events(name: string): Msg[] {
    return this.msgs.filter((m) => m.event === name);
  }

  statuses(): string[] {
    return this.events('MIGRATION').map((m) => m.data.status as string);
  }

  close(): void {
    this.socket.destroy();
  }
}
