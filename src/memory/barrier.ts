/**
 * virtio_mb(): the full barrier a driver puts between publishing its ring index and reading the other
 * side's event index, and a device between publishing used entries and reading used_event (virtio 1.2
 * §2.7.13.3.1, §2.7.10.1 — Linux `virtio_mb`). Within one thread JavaScript needs none; once the two
 * ends of a ring run on different threads (SVQ workers, src/svq/worker.ts) x86's store buffer can
 * let the read pass the write on both sides and each concludes the other needs no notification — a lost
 * kick or call. An Atomics read-modify-write is a locked instruction on x86 (a full barrier), and V8
 * moves no memory access across it. The word is this thread's own (each isolate loads this module).
 */
const word = new Int32Array(new SharedArrayBuffer(4));
let crossThread = false;

/**
 * Rings may now have their ends on different threads (an SVQ worker started here, or this is one): the
 * barriers are taken from now on. Until then `virtioMb` is a branch, so the single-thread path pays nothing.
 */
export function ringsCrossThreads(): void {
  crossThread = true;
}

export function virtioMb(): void {
  if (crossThread) Atomics.add(word, 0, 0);
}
