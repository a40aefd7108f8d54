"""The warm simulator's wire (neunet.sim.warm.wire): frames with descriptors, limits, folders."""
import os
import socket
import struct
import subprocess
import sys

import pytest

from neunet.sim.warm import wire


def test_frames_carry_messages_and_descriptors(tmp_path):
    a, b = socket.socketpair()
    path = tmp_path / "f.txt"
    path.write_text("hello")
    with open(path) as f:
        wire.send(a, {"t": "run", "argv": ["é", "--x"]}, [f.fileno()] * 3)
    msg, fds = wire.recv(b, 3)
    assert msg == {"t": "run", "argv": ["é", "--x"]} and len(fds) == 3
    assert os.read(fds[0], 5) == b"hello"
    wire.close_fds(fds)
    wire.send(a, {"t": "status"})
    assert wire.recv(b) == ({"t": "status"}, [])
    a.close()
    assert wire.recv(b) == (None, [])


def test_bad_frames_are_refused():
    a, b = socket.socketpair()
    a.sendall(struct.pack(">I", wire.MAX_FRAME_BYTES + 1))
    with pytest.raises(wire.WireError, match="exceeds the limit"):
        wire.recv(b)
    a.sendall(struct.pack(">I", 3) + b"[1]")
    with pytest.raises(wire.WireError, match="malformed"):
        wire.recv(b)
    a.sendall(struct.pack(">I", 10) + b"{}")
    a.close()
    with pytest.raises(wire.WireError, match="inside a frame"):
        wire.recv(b)


def test_private_folders(tmp_path):
    assert "does not exist" in wire.private_dir_problem(str(tmp_path / "none"))
    wire.make_private_dir(str(tmp_path / "p"))
    assert wire.private_dir_problem(str(tmp_path / "p")) is None
    os.chmod(tmp_path / "p", 0o750)
    assert "open to other users" in wire.private_dir_problem(str(tmp_path / "p"))
    with pytest.raises(PermissionError, match="mode 750"):
        wire.make_private_dir(str(tmp_path / "p"))


def test_identity_names_version_interpreter_and_sources():
    ident = wire.identity()
    assert ident.startswith("neunet ") and f"{os.path.realpath(sys.executable)} in " \
        f"{sys.prefix}" in ident
    paths = wire.server_paths(ident, "/x")
    assert paths["socket"].startswith("/x/sim-") and paths["socket"].endswith(".sock")
    assert wire.server_paths("another", "/x")["socket"] != paths["socket"]


def test_the_client_path_loads_no_numpy():
    code = ("import sys\nfrom neunet.sim.warm import client\n"
            "client.through_server(['--t', '1'])\n"
            "print('numpy' in sys.modules, 'numba' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, NEUNET_SIM_SERVER_DIR="/nonexistent"))
    assert r.stdout.split() == ["False", "False"], r.stderr
