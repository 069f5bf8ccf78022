/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/tsan.h - KVT_TSAN in ThreadSanitizer builds (gcc and clang spell it
 * differently), and the happens-before annotations that tell TSan about an
 * ordering it cannot see (fences in inline assembly, uninstrumented
 * libraries).  In other builds the annotations compile to nothing.
 */
#ifndef KVT_CORE_TSAN_H
#define KVT_CORE_TSAN_H

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KVT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define KVT_TSAN 1
#endif

/*
 * Concurrency Kit's rings copy each message into and out of their buffer with
 * plain stores and memcpy, ordered by fences TSan cannot see, so TSan would
 * report two threads that use one ring slot in turn.  Those copies are left
 * unchecked (tsan_ring_copy_begin/end around each ck call that copies); what
 * a message hands over is ordered by tsan_release() before its enqueue and
 * tsan_acquire() after its dequeue.
 */
#ifdef KVT_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define tsan_acquire(p) __tsan_acquire((void *)(p))
#define tsan_release(p) __tsan_release((void *)(p))
#define tsan_ring_copy_begin() __tsan_ignore_thread_begin()
#define tsan_ring_copy_end() __tsan_ignore_thread_end()
#else
#define tsan_acquire(p) ((void)(p))
#define tsan_release(p) ((void)(p))
#define tsan_ring_copy_begin() ((void)0)
#define tsan_ring_copy_end() ((void)0)
#endif

#endif
