/**
 * The one way the CLI reads an input file: bounded in size, time and memory by construction.
 *
 * - Size: at most `maxBytes` (default `MAX_INPUT_BYTES`, 4 MiB). A regular file's size is checked with
 *   fstat before a byte is read; anything else (a FIFO, /dev/zero, /dev/stdin) is read in 64 KiB steps
 *   and refused the moment it passes the limit — never more than `maxBytes` + 64 KiB held.
 * - Time: the file is opened O_NONBLOCK (opening a FIFO never waits for a writer) and read without
 *   blocking; a source that has nothing to give is polled until `timeoutMs` (default 10 s), then refused.
 * - Text: UTF-8, strictly (a byte sequence that is not UTF-8 is an error, not U+FFFD).
 *
 * Why 4 MiB: the largest state a device can hold (src/state/maximal.ts scaled to the format's maxima:
 * a 65 536-entry RSS table of 5-digit queues, 4 096 VLANs, 255-byte keys, a few hundred MACs) encodes
 * to well under 1 MiB even pretty-printed; 4 MiB leaves room for any indentation and nothing more.
 * docs/limits.md lists every bound.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { escapeText } from './escape.js';

export const MAX_INPUT_BYTES = 4 << 20;
export const INPUT_TIMEOUT_MS = 10_000;
const STEP = 64 << 10;
const POLL_MS = 5;

export interface InputError {
  readonly _tag: 'InputError';
  readonly path: string;
  readonly message: string;
}

export interface ReadBoundedOptions {
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
}

const mib = (n: number): string => (n % (1 << 20) === 0 ? `${n >> 20} MiB` : `${n} bytes`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Read `path` as UTF-8 text within the bounds; Left: why not (naming the file, escaped). */
export async function readBounded(path: string, opts: ReadBoundedOptions = {}): Promise<E.Either<InputError, string>> {
  const maxBytes = opts.maxBytes ?? MAX_INPUT_BYTES;
  const timeoutMs = opts.timeoutMs ?? INPUT_TIMEOUT_MS;
  const shown = escapeText(path, 120);
  const fail = (message: string): E.Either<InputError, string> => E.left({ _tag: 'InputError', path, message: `${shown}: ${message}` });
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
  } catch (e) {
    return fail(errnoText(e));
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return fail('is a directory');
    if (st.isFile() && st.size > maxBytes) return fail(`${st.size} bytes, more than the ${mib(maxBytes)} an input may hold (docs/limits.md)`);
    const buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, st.isFile() ? st.size + 1 : STEP));
    let data = buf;
    let n = 0;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (n === data.length) {
        if (n > maxBytes) break;
        const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, data.length * 2));
        data.copy(bigger, 0, 0, n);
        data = bigger;
      }
      let got: number;
      try {
        got = readSync(fd, data, n, Math.min(STEP, data.length - n), null);
      } catch (e) {
        if ((e as { code?: string }).code === 'EAGAIN') {
          if (performance.now() > deadline) return fail(`no data within ${timeoutMs / 1000} s (a FIFO or device that does not write) — refused`);
          await sleep(POLL_MS);
          continue;
        }
        return fail(errnoText(e));
      }
      if (got === 0) break;
      n += got;
      if (n > maxBytes) break;
      if (performance.now() > deadline) return fail(`still sending after ${timeoutMs / 1000} s — refused`);
    }
    if (n > maxBytes) return fail(`more than the ${mib(maxBytes)} an input may hold (docs/limits.md); refused after reading ${mib(maxBytes)}`);
    try {
      return E.right(new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(0, n)));
    } catch {
      return fail('not UTF-8 text');
    }
  } finally {
    closeSync(fd);
  }
}

function errnoText(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const what: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory', ELOOP: 'too many symbolic links', ENAMETOOLONG: 'name too long', ENOTDIR: 'a path component is not a directory', ENXIO: 'no such device', EINVAL: 'invalid path' };
  return typeof code === 'string' ? `${code}: ${what[code] ?? "error"}` : escapeText(e instanceof Error ? e.message : String(e));
}
