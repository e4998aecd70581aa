// Thread-safety annotations for clang's -Wthread-safety analysis (empty under other compilers).
//
// A member that a mutex protects says so with TY_GUARDED_BY(mu_); a function that must be called
// with the mutex held says TY_REQUIRES(mu_), one that takes it itself TY_EXCLUDES(mu_). clang then
// refuses, at compile time, code that reads or writes the member without holding the mutex.
// scripts/lint.sh compiles the annotated sources with clang -Wthread-safety -Werror. The analysis
// needs an annotated mutex type: use trainyard::Mutex and MutexLock (common/mutex.h), not
// std::mutex, whose libstdc++ declaration carries no annotations.
//
// The names follow clang's documentation ("Thread Safety Analysis"), with a TY_ prefix.
#pragma once

#if defined(__clang__)
#define TY_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TY_THREAD_ANNOTATION(x)  // no-op
#endif

// On a class: objects of this type are capabilities (a mutex); `x` names the kind ("mutex").
#define TY_CAPABILITY(x) TY_THREAD_ANNOTATION(capability(x))
// On a class: an RAII object that holds a capability for its lifetime (a lock guard).
#define TY_SCOPED_CAPABILITY TY_THREAD_ANNOTATION(scoped_lockable)

// On a data member: reading or writing it requires holding `x`.
#define TY_GUARDED_BY(x) TY_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: the data it points to is guarded by `x` (the pointer itself is not).
#define TY_PT_GUARDED_BY(x) TY_THREAD_ANNOTATION(pt_guarded_by(x))
// On a mutex member: the order in which mutexes must be taken.
#define TY_ACQUIRED_BEFORE(...) TY_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define TY_ACQUIRED_AFTER(...) TY_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))

// On a function: the caller must hold the capabilities (exclusively / at least shared).
#define TY_REQUIRES(...) TY_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define TY_REQUIRES_SHARED(...) TY_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: the caller must not hold them (the function takes them itself).
#define TY_EXCLUDES(...) TY_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// On a function: it acquires / releases the capabilities (no argument: `this`).
#define TY_ACQUIRE(...) TY_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define TY_ACQUIRE_SHARED(...) TY_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define TY_RELEASE(...) TY_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TY_RELEASE_SHARED(...) TY_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TY_TRY_ACQUIRE(...) TY_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: the capability is held when it returns (a run-time assertion).
#define TY_ASSERT_CAPABILITY(x) TY_THREAD_ANNOTATION(assert_capability(x))
// On a function: it returns a reference to the capability `x`.
#define TY_RETURN_CAPABILITY(x) TY_THREAD_ANNOTATION(lock_returned(x))

// On a function: turns the analysis off inside it. Say why next to each use.
#define TY_NO_THREAD_SAFETY_ANALYSIS TY_THREAD_ANNOTATION(no_thread_safety_analysis)
