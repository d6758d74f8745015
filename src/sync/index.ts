/**
 * Shared-memory locks: a futex mutex, a sequence mutex (the ehash bucket lock), a pure seqlock
 * and a reader-writer lock, each one Int32 word in a SharedArrayBuffer. See README.md.
 */
export {
  LOCK_WORDS,
  MUTEX_CONTENDED,
  MUTEX_FREE,
  MUTEX_LOCKED,
  RW_READER_ONE,
  RW_READERS_MASK,
  RW_SLEEPERS,
  RW_WAITING_WRITER_ONE,
  RW_WAITING_WRITERS_MASK,
  RW_WRITER,
  rwReaderCount,
  rwWaitingWriterCount,
  SEQ_LOCKED,
  SEQ_VERSION_ONE,
  SEQ_WAITERS,
  seqVersion,
} from './layout.js';
export {
  Mutex,
  mutexIsLocked,
  mutexLock,
  mutexLockAsync,
  mutexTryLock,
  mutexUnlock,
} from './mutex.js';
export {
  RwLock,
  rwIsWriteLocked,
  rwReadLock,
  rwReadLockAsync,
  rwReadLockCount,
  rwReadUnlock,
  rwTryReadLock,
  rwTryWriteLock,
  rwWriteLock,
  rwWriteLockAsync,
  rwWriteUnlock,
} from './rwlock.js';
export {
  SeqMutex,
  seqMutexIsLocked,
  seqMutexLock,
  seqMutexLockAsync,
  seqMutexTryLock,
  seqMutexUnlock,
} from './seq-mutex.js';
export {
  SeqLock,
  seqIsWriting,
  seqReadBegin,
  seqReadValid,
  seqWriteBegin,
  seqWriteEnd,
} from './seqlock.js';
export { setMainThreadSpinLimitMs, setWaitLimitMs } from './wait-policy.js';
