//! Threads for the stages that recurse over a large campaign: parsing its
//! stretches, checking it, and freeing it.

/// Stack for the threads that parse, check and free a campaign: what the
/// main thread usually has, as those stages recurse once per nesting level.
const THREAD_STACK: usize = 8 * 1024 * 1024;

/// Starts `f` on a scoped thread with [`THREAD_STACK`], or `None` if the
/// system will not start one; the caller then runs it itself.
pub(crate) fn spawn_scoped<'scope, T, F>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    f: F,
) -> Option<std::thread::ScopedJoinHandle<'scope, T>>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    worker().spawn_scoped(scope, f).ok()
}

/// Drops `value` on another thread: a large tree is millions of small
/// allocations, tens of milliseconds to free, and nothing needs to wait for
/// that. Should no thread start, it is dropped here.
pub(crate) fn drop_in_background<T: Send + 'static>(value: T) {
    let _ = worker().spawn(move || drop(value));
}

fn worker() -> std::thread::Builder {
    std::thread::Builder::new().stack_size(THREAD_STACK)
}
