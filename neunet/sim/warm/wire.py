"""The warm simulator's wire: where its socket lives, who it serves, and its frames.

Standard library only (``neunet-sim``'s client path must not import numpy or numba), and
only its C parts where the Python modules cost start-up time (`_socket`, not `socket` and
its selectors; `_json`'s scanner and string encoder, not `json` and `re`). A
frame is a 4-byte big-endian length and a JSON object; a ``run`` request carries the
caller's stdin, stdout and stderr as file descriptors (SCM_RIGHTS) with its first byte, so
the simulator writes to the caller's very terminal, pipes or files. The per-user server's
socket sits in a directory only its owner can enter, named by the `identity` of the neunet
installation, which every request repeats and the server checks.
"""
from __future__ import annotations

import _json
import _socket
import binascii
import os
import sys

# Environment variable: "1"/"on"/"auto" starts the per-user server on demand, "0"/"off"
# never uses it, unset uses a server that is already running (started explicitly).
SERVER_ENV = "NEUNET_SIM_SERVER"
# Values of SERVER_ENV that start the server on demand.
SERVER_ON = frozenset(("1", "on", "yes", "auto", "true"))
# Values of SERVER_ENV that keep neunet-sim from using any server.
SERVER_OFF = frozenset(("0", "off", "no", "false", "never"))
# Environment variable overriding the server's directory (default $XDG_RUNTIME_DIR/neunet,
# else /tmp/neunet-<uid>).
DIR_ENV = "NEUNET_SIM_SERVER_DIR"
# Environment variable: seconds without a call after which the server stops itself.
IDLE_ENV = "NEUNET_SIM_SERVER_IDLE_S"
# Idle seconds after which the server stops itself when IDLE_ENV is not set.
IDLE_DEFAULT_S = 900.0
# Largest frame accepted (bytes): an argv and environment fit easily.
MAX_FRAME_BYTES = 8 << 20
# Bytes of the frame header (the body length, big-endian).
_HEAD_BYTES = 4
# Bytes of a file descriptor in SCM_RIGHTS data (a C int; no `array` module: it imports
# collections at start-up).
_FD_BYTES = 4
# File descriptors a run request carries: stdin, stdout, stderr.
STDIO_FDS = 3
# A warm process whose resident memory exceeds this after a call is replaced (bytes): a big
# run's freed memory is not always given back to the system.
RETIRE_RSS_BYTES = 1 << 30
# Signals a caller may forward to its running simulation.
FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2",
                     "SIGSTOP", "SIGCONT")


class WireError(OSError):
    """A malformed or oversized frame, or a peer that went away mid-frame."""


def identity() -> str:
    """What a server must be to serve this process: neunet version, interpreter and its
    environment (sys.prefix: the venv), package folder, and the size and modification time
    of every simulator source file."""
    import neunet
    root = os.path.dirname(os.path.abspath(neunet.__file__))
    sim = os.path.join(root, "sim")
    stamp = []
    for folder in (root, sim, os.path.join(sim, "warm")):
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(".py") and (folder != root or entry.name == "__init__.py"):
                st = entry.stat()
                stamp.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    digest = binascii.crc32("|".join(stamp).encode())
    python = f"{os.path.realpath(sys.executable)} in {sys.prefix}"
    return f"neunet {neunet.__version__} | {python} | {root} | {digest:08x}"


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 where /proc is not available)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def server_dir() -> str:
    """The per-user folder of the server's socket, lock and log (see DIR_ENV)."""
    given = os.environ.get(DIR_ENV)
    if given:
        return given
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "neunet")
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", f"neunet-{os.geteuid()}")


def private_dir_problem(path: str) -> str | None:
    """Why `path` is not a folder only this user can use (None when it is)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return f"{path} does not exist"
    import stat
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a folder"
    if st.st_uid != os.geteuid():
        return f"{path} belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o077:
        return f"{path} is open to other users (mode {st.st_mode & 0o777:o}; want 700)"
    return None


def make_private_dir(path: str) -> None:
    """Create `path` (mode 700) if needed; raise PermissionError unless it is private."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create the server folder {path}: {exc.strerror}") \
            from None
    problem = private_dir_problem(path)
    if problem:
        raise PermissionError(f"refusing the server folder: {problem}")


def server_paths(ident: str, folder: str | None = None) -> dict:
    """Socket, lock and log file of the server for installation `ident`."""
    folder = folder or server_dir()
    stem = os.path.join(folder, f"sim-{binascii.crc32(ident.encode()):08x}")
    return {"socket": stem + ".sock", "lock": stem + ".lock", "log": stem + ".log"}


def idle_timeout_s() -> float:
    """Idle seconds before a server stops itself (IDLE_ENV, else IDLE_DEFAULT_S)."""
    try:
        return max(0.0, float(os.environ.get(IDLE_ENV, IDLE_DEFAULT_S)))
    except ValueError:
        return IDLE_DEFAULT_S


def send(sock, msg: dict, fds=()) -> None:
    """Send one frame, with file descriptors `fds` attached to its first byte."""
    body = dumps(msg).encode()
    data = len(body).to_bytes(_HEAD_BYTES, "big") + body
    if fds:
        rights = b"".join(fd.to_bytes(_FD_BYTES, sys.byteorder, signed=True) for fd in fds)
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        data = data[sent:]
    if data:
        sock.sendall(data)


def recv(sock, max_fds: int = 0):
    """Receive one frame: ``(message, fds)``, or ``(None, [])`` at a clean end of stream.

    Raises
    ------
    WireError
        Oversized or malformed frame, or the stream ended inside one.
    """
    head, fds = _recv_exact(sock, _HEAD_BYTES, max_fds)
    if head is None:
        return None, []
    size = int.from_bytes(head, "big")
    if size > MAX_FRAME_BYTES:
        _close_all(fds)
        raise WireError(f"frame of {size} bytes exceeds the limit of {MAX_FRAME_BYTES}")
    body, _ = _recv_exact(sock, size, 0)
    msg = loads(body or b"")
    if not isinstance(msg, dict):
        _close_all(fds)
        raise WireError("malformed frame")
    return msg, fds


def unix_socket():
    """A new Unix stream socket (`_socket.socket`: connect, sendmsg, recv, close, ...)."""
    return _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)


def dumps(obj) -> str:
    """JSON text of dicts (string keys), lists, strings, numbers, booleans and None; strings
    as ASCII with escapes, as ``json.dumps`` writes them (surrogates of undecodable bytes
    included)."""
    if isinstance(obj, str):
        return _json.encode_basestring_ascii(obj)
    if obj is None or isinstance(obj, bool):
        return {None: "null", True: "true", False: "false"}[obj]
    if isinstance(obj, (int, float)):
        return repr(int(obj) if isinstance(obj, int) else float(obj))
    if isinstance(obj, dict):
        return "{" + ",".join(f"{dumps(str(k))}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    raise TypeError(f"cannot send {type(obj).__name__} in a frame")


class _Context:
    """What `_json.make_scanner` reads from a decoder (plain JSON, nothing converted)."""
    strict, object_hook, object_pairs_hook = True, None, None
    parse_float, parse_int, parse_constant = float, int, float


# JSON value scanner of `_json`: (value, end) = _SCAN(text, start).
_SCAN = _json.make_scanner(_Context())


def loads(data: bytes):
    """The JSON value `data` holds (None when it is not exactly one JSON value)."""
    try:
        text = data.decode()
        value, end = _SCAN(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError):
        return None
    return value if text[end:].strip() == "" else None


def _recv_exact(sock, size: int, max_fds: int):
    """Read exactly `size` bytes (None at end of stream before the first); collect fds."""
    chunks, got, fds = [], 0, []
    room = _socket.CMSG_SPACE(max_fds * _FD_BYTES) if max_fds else 0
    while got < size:
        if room:
            data, anc, _flags, _addr = sock.recvmsg(size - got, room)
            fds += _fds_of(anc)
        else:
            data = sock.recv(size - got)
        if not data:
            _close_all(fds)
            if got or size == 0:
                raise WireError("connection closed inside a frame")
            return None, []
        chunks.append(data)
        got += len(data)
    return b"".join(chunks), fds


def _fds_of(ancillary) -> list:
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += [int.from_bytes(data[i:i + _FD_BYTES], sys.byteorder, signed=True)
                    for i in range(0, len(data) - _FD_BYTES + 1, _FD_BYTES)]
    return fds


def _close_all(fds) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def close_fds(fds) -> None:
    """Close file descriptors, ignoring those already closed."""
    _close_all(fds)
