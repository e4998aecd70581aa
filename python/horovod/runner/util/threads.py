"""horovod.runner.util.threads, provided by trainyard: small thread helpers with the signatures
and behaviour of Horovod's (Horovod's own tests and launch code import them)."""

import queue
import threading


def in_thread(target, args=(), name=None, daemon=True, silent=False):
    """Starts `target(*args)` in a new thread and returns the thread. With silent=True an
    exception raised by target is swallowed."""
    if not isinstance(args, tuple):
        raise ValueError("args must be a tuple, not {}, for a single argument use (arg,)"
                         .format(type(args)))
    run = target
    if silent:
        def run(*a):
            try:
                target(*a)
            except BaseException:  # noqa: B902 - silent means every exception
                pass
    thread = threading.Thread(target=run, args=args, name=name, daemon=daemon)
    thread.start()
    return thread


def on_event(event, func, args=(), stop=None, check_stop_interval_s=1.0, daemon=True,
             silent=False):
    """Runs `func(*args)` in a thread once `event` is set. With a `stop` event the thread checks
    it every check_stop_interval_s seconds and ends without calling func once it is set; a
    non-daemon thread needs a stop event. Returns the thread."""
    if event is None:
        raise ValueError("Event must not be None")
    if not isinstance(args, tuple):
        raise ValueError("args must be a tuple, not {}, for a single argument use (arg,)"
                         .format(type(args)))
    if stop is None:
        if not daemon:
            raise ValueError("Stop event must be given for non-daemon event thread")

        def wait_then_call():
            event.wait()
            func(*args)
    else:
        def wait_then_call():
            while not event.is_set() and not stop.is_set():
                event.wait(timeout=check_stop_interval_s)
            if not stop.is_set():
                func(*args)
    return in_thread(wait_then_call, daemon=daemon, silent=silent)


def execute_function_multithreaded(fn, args_list, block_until_all_done=True,
                                   max_concurrent_executions=1000):
    """Calls fn(*args) for each args in args_list on up to max_concurrent_executions threads.
    Blocking (the default), returns {index in args_list: result} and raises RuntimeError when
    a call did not complete; otherwise returns None at once."""
    work = queue.Queue()
    results = queue.Queue()
    for index, args in enumerate(args_list):
        work.put((index, list(args)))

    def worker():
        while True:
            try:
                index, args = work.get(block=False)
            except queue.Empty:
                return
            results.put((index, fn(*args)))

    count = min(max_concurrent_executions, len(args_list))
    threads = [in_thread(worker, daemon=not block_until_all_done) for _ in range(count)]
    if not block_until_all_done:
        return None
    # join with a timeout so that a signal (Ctrl-C) still reaches the main thread
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.1)
    out = {}
    while not results.empty():
        index, value = results.get()
        out[index] = value
    if len(out) != len(args_list):
        raise RuntimeError("Some threads for func {} did not complete successfully."
                           .format(getattr(fn, "__name__", fn)))
    return out
