/**
 * The few libc calls the vhost-vdpa backend needs, bound with koffi (loaded lazily, so importing this
 * module on a machine without koffi's native part costs nothing until a device is opened).
 *
 * Declarations use fixed prototypes: `ioctl` and `open` are variadic in C, but on x86-64 System V a
 * call through a non-variadic prototype with integer/pointer arguments is ABI-identical (only %al,
 * the vector-register count, differs; glibc's ioctl/open never read vector varargs).
 */
import * as E from 'fp-ts/lib/Either.js';
import { createRequire } from 'node:module';

/** A pointer argument: a typed array (its bytes are passed in place) or a raw address. */
export type Ptr = ArrayBufferView | number | bigint | null;

export interface Libc {
  open(path: string, flags: number): number;
  close(fd: number): number;
  ioctl(fd: number, req: number, arg: Ptr): number;
  read(fd: number, buf: Ptr, n: number): number;
  write(fd: number, buf: Ptr, n: number): number;
  eventfd(initval: number, flags: number): number;
  poll(fds: Ptr, nfds: number, timeoutMs: number): number;
  /**
   * poll(2) on libuv's thread pool (koffi's async call): the event loop runs while it blocks; `done`
   * gets its return value on the main thread. `fds` must stay untouched until then.
   */
  pollAsync(fds: ArrayBufferView, nfds: number, timeoutMs: number, done: (err: unknown, ready: number) => void): void;
  /**
   * Watch `fd` for readability on Node's own event loop (a libuv uv_poll handle, koffi's `node.poll`):
   * `onReadable` runs on the main thread, in the loop's poll phase, with no thread-pool hop. Undefined
   * where koffi has no event-loop integration; `close()` ends the watch.
   */
  watchReadable?: (fd: number, onReadable: () => void) => { close(): void };
  mmap(addr: Ptr, len: number, prot: number, flags: number, fd: number, off: number): unknown;
  munmap(addr: Ptr, len: number): number;
  errno(): number;
  /** User address of a pointer returned by mmap. */
  address(ptr: unknown): bigint;
  /** An ArrayBuffer over `len` bytes at `ptr` (no copy). */
  view(ptr: unknown, len: number): ArrayBuffer;
}

/** open(2) / eventfd(2) / mmap(2) / poll(2) constants (x86-64 Linux, asm-generic). */
export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const POLLIN = 0x1;
/** (void *)-1 */
export const MAP_FAILED = 0xffffffffffffffffn;

/** errno names (Linux asm-generic/errno-base.h, errno.h) for the values vhost-vdpa and libc return. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  4: 'EINTR',
  5: 'EIO',
  6: 'ENXIO',
  7: 'E2BIG',
  9: 'EBADF',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  23: 'ENFILE',
  24: 'EMFILE',
  25: 'ENOTTY',
  28: 'ENOSPC',
  34: 'ERANGE',
  38: 'ENOSYS',
  75: 'EOVERFLOW',
  95: 'EOPNOTSUPP',
  105: 'ENOBUFS', // vhost-vdpa: queue index ≥ nvqs
  110: 'ETIMEDOUT',
  524: 'ENOTSUPP', // kernel-internal, leaks from some drivers
};

export const errnoName = (errno: number): string => ERRNO_NAMES[errno] ?? `errno${errno}`;

export const EAGAIN = 11;
export const EINTR = 4;

let cached: E.Either<string, Libc> | undefined;

/** Bind libc once; Left(reason) when koffi or libc.so.6 is not available. */
export function libc(): E.Either<string, Libc> {
  if (cached !== undefined) return cached;
  try {
    // koffi is loaded on demand: a CommonJS require keeps it out of module evaluation.
    const require = createRequire(import.meta.url);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const koffi = require('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    const open = lib.func('int open(const char *path, int flags)');
    const close = lib.func('int close(int fd)');
    const ioctl = lib.func('int ioctl(int fd, unsigned long req, void *arg)');
    const read = lib.func('long read(int fd, void *buf, size_t n)');
    const write = lib.func('long write(int fd, const void *buf, size_t n)');
    const eventfd = lib.func('int eventfd(unsigned int initval, int flags)');
    const poll = lib.func('int poll(void *fds, unsigned long nfds, int timeout)');
    const mmap = lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)');
    const munmap = lib.func('int munmap(void *addr, size_t len)');
    cached = E.right({
      open: (p, f) => open(p, f) as number,
      close: (fd) => close(fd) as number,
      ioctl: (fd, req, arg) => ioctl(fd, req, arg) as number,
      read: (fd, b, n) => Number(read(fd, b, n)),
      write: (fd, b, n) => Number(write(fd, b, n)),
      eventfd: (v, f) => eventfd(v, f) as number,
      poll: (fds, n, t) => poll(fds, n, t) as number,
      pollAsync: (fds, n, t, done) => poll.async(fds, n, t, (err: unknown, r: number) => done(err, r)),
      ...(typeof koffi.node?.poll === 'function'
        ? {
            watchReadable: (fd: number, onReadable: () => void) => {
              const h = koffi.node.poll(fd, { readable: true }, () => onReadable());
              return { close: () => h.close() };
            },
          }
        : {}),
      mmap: (a, l, p, f, fd, o) => mmap(a, l, p, f, fd, o),
      munmap: (a, l) => munmap(a, l) as number,
      errno: () => koffi.errno(),
      address: (p) => koffi.address(p),
      view: (p, l) => koffi.view(p, l),
    });
  } catch (e) {
    cached = E.left(`koffi/libc unavailable: ${(e as Error).message}`);
  }
  return cached;
}
