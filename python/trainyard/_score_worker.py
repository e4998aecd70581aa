"""One worker of a scoring pool (src/serve/python_pool.cc): runs a scoring script's init() once and
its run(raw_data) for each request the pool sends. Started by the pool, never by users:

    python -u _score_worker.py ENTRY SOURCE_DIR

The pool's end of the conversation is this process's stdin (a socket), which the worker moves to a
descriptor of its own before anything else runs, putting /dev/null in its place; stdout and stderr
are a pipe whose lines the pool forwards to its own stderr, so that what the script prints never
mixes with the protocol.

Frames, both ways: a 4-byte big-endian length, then that many bytes.
  pool -> worker   the request body (bytes)
  worker -> pool   b"R"                 init() returned: ready for requests
                   b"F" + traceback     the script failed to import, or init() raised; then exits
                   b"O" + JSON text     what run() returned
                   b"E" + message       run() raised (the exception's last line), or its value
                                        cannot be written as JSON
                   b"B" + message       the request body is not UTF-8 text
"""

import sys

# The folder of this file (the trainyard package) must not shadow the script's imports
# ("import torch" would find trainyard/torch): the script's folder comes first instead.
del sys.path[0]

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import struct  # noqa: E402
import traceback  # noqa: E402


def _read_exactly(fd, n):
    chunks = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd):
    header = _read_exactly(fd, 4)
    if header is None:
        return None
    (length,) = struct.unpack(">I", header)
    return _read_exactly(fd, length) if length else b""


def _write_frame(fd, kind, payload=b""):
    data = struct.pack(">I", len(payload) + 1) + kind + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _jsonable(value):
    """json.dumps's default=: numpy arrays and scalars and torch tensors become lists and numbers,
    bytes become text; anything else is refused, naming its type."""
    module = type(value).__module__ or ""
    if module.split(".")[0] in ("numpy", "torch") and hasattr(value, "tolist"):
        if module.startswith("torch") and hasattr(value, "detach"):
            value = value.detach().cpu()
        return value.tolist()
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise TypeError("run() returned bytes that are not UTF-8 text") from None
    raise TypeError(
        "run() returned a value of type %s.%s, which cannot be written as JSON"
        % (module, type(value).__qualname__)
    )


def _exception_text(error):
    return "".join(traceback.format_exception_only(type(error), error)).strip()


def _add_fallback_packages():
    """Puts this trainyard package's folder, and in the build tree the azureml compatibility
    package beside it (python-compat/azureml), last on sys.path: a script can import them when
    nothing earlier on the path (PYTHONPATH, a real azureml installation) provides them."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = [package_dir, os.path.join(package_dir + "-compat", "azureml")]
    for folder in candidates:
        if os.path.isdir(folder) and folder not in sys.path:
            sys.path.append(folder)


def _user_traceback(error):
    """The traceback of a failed load or run() without this file's and importlib's frames: what a
    user reads starts at their script."""
    report = traceback.TracebackException.from_exception(error)
    this_file = os.path.abspath(__file__)
    report.stack = traceback.StackSummary.from_list(
        [
            frame
            for frame in report.stack
            if os.path.abspath(frame.filename) != this_file
            and not frame.filename.startswith("<frozen importlib")
        ]
    )
    return "".join(report.format())


def _load(entry, source_dir):
    """Imports the script and calls its init(); returns its run function."""
    name = os.path.splitext(os.path.basename(entry))[0] or "score"
    spec = importlib.util.spec_from_file_location(name, entry)
    if spec is None or spec.loader is None:
        raise ImportError("cannot import %s as a Python module" % entry)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    run = getattr(module, "run", None)
    if not callable(run):
        raise AttributeError("%s defines no run(raw_data) function" % os.path.basename(entry))
    init = getattr(module, "init", None)
    if init is not None:
        if not callable(init):
            raise AttributeError("%s: init is not a function" % os.path.basename(entry))
        init()
    return run


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: _score_worker.py ENTRY SOURCE_DIR (started by trainyard-serve)\n")
        return 2
    entry, source_dir = sys.argv[1], sys.argv[2]
    # The protocol's socket moves off stdin (os.dup's copy is not inherited by subprocesses).
    channel = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.path.insert(0, source_dir)
    _add_fallback_packages()

    try:
        run = _load(entry, source_dir)
    except BaseException as error:  # noqa: B902 (SystemExit in a script is a failed load too)
        text = _user_traceback(error)
        sys.stderr.write(text)
        sys.stderr.flush()
        _write_frame(channel, b"F", text.encode("utf-8", "replace"))
        return 1
    _write_frame(channel, b"R")

    while True:
        body = _read_frame(channel)
        if body is None:
            return 0  # the pool closed the conversation
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            _write_frame(channel, b"B", ("the request body is not UTF-8 text: %s" % error).encode())
            continue
        try:
            value = run(text)
        except Exception as error:  # noqa: B902 (every failure of the user's run() is answered)
            sys.stderr.write(_user_traceback(error))
            sys.stderr.flush()
            _write_frame(channel, b"E", _exception_text(error).encode("utf-8", "replace"))
            continue
        try:
            answer = json.dumps(value, default=_jsonable)
        except (TypeError, ValueError) as error:
            _write_frame(channel, b"E", str(error).encode("utf-8", "replace"))
            continue
        _write_frame(channel, b"O", answer.encode("utf-8"))


if __name__ == "__main__":
    sys.exit(main())
