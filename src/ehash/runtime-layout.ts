/**
 * The hash table's volatile shared state: one Int32Array over a SharedArrayBuffer that the opener
 * creates zeroed on every open and hands to attached threads. Nothing here is persisted; recovery
 * rebuilds it. Int32 word offsets; hot words sit on their own 64-byte line.
 *
 * | word            | written by                          | read by                      |
 * |-----------------|-------------------------------------|------------------------------|
 * | DIR_LOCK        | split, merge (read); doubling,      | the same                     |
 * |                 | halving (write)                     |                              |
 * | ALLOC_MUTEX     | bucket-allocator.ts                 | bucket-allocator.ts          |
 * | BUCKET_COUNT    | rebuild at open (the base)          | stats()                      |
 * | BUCKET_PAGES    | under ALLOC_MUTEX                   | stats()                      |
 * | AT_GLOBAL_DEPTH | DIR_LOCK write side: the base count | halving, with the deltas     |
 * | DERIVED_KNOWN   | DIR_LOCK write side                 | DIR_LOCK either side         |
 * | SIZE_BASE_*     | open (clean) or first size() scan   | size                         |
 * | HANDLE_SLOTS_*  | attach / close (CAS)                | attach / close               |
 * | COUNTERS + 16*k | the thread owning slot k: key delta | size, stats (Atomics.load)   |
 * |   + 1           | ... and bucket delta (Atomics.add)  |                              |
 * | FREE_TOP        | under ALLOC_MUTEX                   | under ALLOC_MUTEX            |
 * | FREE_STACK + i  | under ALLOC_MUTEX: bucket pages with a bucket neither used nor     |
 * |                 | reserved                                                           |
 * | RESERVED + page | under ALLOC_MUTEX: buckets handed out but not yet committed        |
 */
/** Reader-writer lock: splits and merges read, doubling and halving write (structure.ts). */
export const DIR_LOCK = 0;
export const BUCKET_COUNT = 16;
export const BUCKET_PAGES = 17;
export const AT_GLOBAL_DEPTH = 18;
export const DERIVED_KNOWN = 19;
/** Guards the free stack, the reserved masks and the bucket counts (bucket-allocator.ts). */
export const ALLOC_MUTEX = 20;
/** Key count at open (or at the first scan), as two u32 halves. */
export const SIZE_BASE_LO = 22;
export const SIZE_BASE_HI = 23;
export const HANDLE_SLOTS_LO = 32;
export const HANDLE_SLOTS_HI = 33;
export const HANDLE_SLOT_COUNT = 64;
export const COUNTERS = 64;
export const COUNTER_STRIDE = 16;
/** Word offsets inside a handle's counter line: key count delta, bucket count delta. */
export const COUNTER_KEYS = 0;
export const COUNTER_BUCKETS = 1;
/** Change in buckets at global depth made by this handle's splits and merges since the base. */
export const COUNTER_AT_GLOBAL_DEPTH = 2;
export const FREE_TOP = COUNTERS + HANDLE_SLOT_COUNT * COUNTER_STRIDE;
export const FREE_STACK = FREE_TOP + 16;

/** Word offset of the reserved-bucket masks: one word per image page, after the free stack. */
export function reservedBase(pageCountMax: number): number {
  return FREE_STACK + pageCountMax;
}

export function runtimeWordCount(pageCountMax: number): number {
  return reservedBase(pageCountMax) + pageCountMax;
}
