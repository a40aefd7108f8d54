"""The per-user warm simulator server (neunet.sim.warm.server/control/client) as real processes.

Every test has its own server folder (NEUNET_SIM_SERVER_DIR), so no test meets a server of
the user's or of another test.
"""
import os
import signal
import stat
import subprocess
import sys

import pytest
from dist_helpers import wait_until

from neunet.sim.warm import control, wire

# A run long enough to be interrupted (about a second or more of simulation).
LONG = ["--neuron-model", "HH-GH", "--net", "-", "--nE", "50", "--scee", "0.001", "--pr", "1",
        "--ps", "0.02", "--t", "200000", "--stv", "0.5", "--seed", "3", "-o", "long.dat"]
# A short run writing every kind of file.
SHORT = ["--neuron-model", "LIF-GH", "--net", "-", "--nE", "3", "--nI", "1", "--scee", "0.1",
         "--scie", "0.1", "--pr", "1.5", "--ps", "0.05", "--t", "200", "--stv", "0.5",
         "--seed", "7", "-o", "out/v.dat", "--ras-path", "out/r.txt", "--isi-path",
         "out/i.txt", "--conductance-path", "out/g.dat", "--output-poisson-path", "out/p.txt"]


def env_for(folder, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUNET_SIM_SERVER")}
    return dict(env, NEUNET_SIM_SERVER_DIR=str(folder), **extra)


def sim(args, cwd, env, **kw):
    return subprocess.run([sys.executable, "-m", "neunet.sim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, **kw)


def ctl(env, *args):
    return subprocess.run([sys.executable, "-m", "neunet.sim.warm.control", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def status(env):
    """The running server's status reply, or None."""
    old = os.environ.get(wire.DIR_ENV)
    os.environ[wire.DIR_ENV] = env[wire.DIR_ENV]
    try:
        return control.ask(wire.server_paths(wire.identity())["socket"], {"t": "status"})
    finally:
        if old is None:
            del os.environ[wire.DIR_ENV]
        else:
            os.environ[wire.DIR_ENV] = old



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module's tests (stopped at the end)."""
    folder = tmp_path_factory.mktemp("srv") / "sock"
    env = env_for(folder)
    r = ctl(env, "start", "--idle-timeout", "600")
    assert r.returncode == 0 and "running" in r.stdout, r.stderr
    yield env
    ctl(env, "stop")


def files_of(folder):
    return {p.name: p.read_bytes() for p in sorted((folder / "out").iterdir())}


def test_same_files_exit_codes_and_stderr_as_without(server, tmp_path):
    here, local = tmp_path / "a", tmp_path / "b"
    here.mkdir()
    local.mkdir()
    served = status(server)["served"]
    r = sim(SHORT + ["--verbose-echo"], here, server)
    r0 = sim(SHORT + ["--verbose-echo"], local, dict(server, NEUNET_SIM_SERVER="0"))
    assert status(server)["served"] == served + 1        # that call went through the server
    assert (r.returncode, r.stdout, r.stderr) == (r0.returncode, r0.stdout, r0.stderr) == \
        (0, r0.stdout, "")
    assert files_of(here) == files_of(local) and len(files_of(here)) == 5
    for bad in (["--neuron-model", "X", "--net", "-"], SHORT + ["--input-event-path", "no"]):
        r, r0 = sim(bad, here, server), sim(bad, local, dict(server, NEUNET_SIM_SERVER="0"))
        assert (r.returncode, r.stdout, r.stderr) == (r0.returncode, r0.stdout, r0.stderr)
        assert r.returncode == 2 and r.stderr.startswith("neunet-sim: error: ")
    assert status(server)["served"] == served + 3


def test_calls_run_side_by_side(server, tmp_path):
    args = [("3000" if a == "200000" else a) for a in LONG[:-2]]
    procs = [subprocess.Popen([sys.executable, "-m", "neunet.sim", *args, "-o", f"v{i}.dat"],
                              cwd=tmp_path, env=server) for i in range(2)]
    assert wait_until(lambda: status(server)["running"] == 2)
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert (tmp_path / "v0.dat").read_bytes() == (tmp_path / "v1.dat").read_bytes()


def _interrupted(env, cwd, signum):
    """Start LONG, wait until it writes, send `signum`; (returncode, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "neunet.sim", *LONG], cwd=cwd, env=env,
                            stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: (cwd / "long.dat").exists()
                      and (cwd / "long.dat").stat().st_size > 0, 120)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_end_the_call_as_without(server, tmp_path, signum):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    served = status(server)["served"]
    got = _interrupted(server, tmp_path / "a", signum)
    assert status(server)["served"] == served + 1
    want = _interrupted(dict(server, NEUNET_SIM_SERVER="0"), tmp_path / "b", signum)
    assert got == want
    if signum == signal.SIGINT:
        assert got == (130, "neunet-sim: error: interrupted\n")
    else:
        assert got[0] == -signal.SIGTERM
    assert wait_until(lambda: status(server)["running"] == 0)


def test_a_killed_caller_takes_its_call_along(server, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "neunet.sim", *LONG], cwd=tmp_path,
                            env=server)
    assert wait_until(lambda: status(server)["running"] == 1)
    proc.kill()
    proc.wait()
    assert wait_until(lambda: status(server)["running"] == 0, 30)


# A neunet-sim of another installation: this one with another identity.
OTHER_CLIENT = ("import sys\nfrom neunet.sim.warm import client, wire\n"
                "wire.identity = lambda: 'neunet 0.0.1 | elsewhere'\n"
                "sys.exit(client.main(sys.argv[1:]))\n")


def test_a_crashed_worker_ends_its_call_as_a_crash_would_and_is_replaced(server, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "neunet.sim", *LONG], cwd=tmp_path,
                            env=server, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: status(server)["running"] == 1)
    [worker] = status(server)["busy_workers"]
    os.kill(worker, signal.SIGSEGV)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGSEGV and err == ""
    assert not os.path.exists(f"/proc/{worker}")      # reaped
    served = status(server)["served"]
    r = sim(SHORT, tmp_path, server)                  # served by another worker
    assert r.returncode == 0 and status(server)["served"] == served + 1


def test_another_installation_is_refused_and_the_call_runs_here(server, tmp_path):
    """A server refuses the call of another neunet (version, interpreter, package or
    sources); that client then runs the call itself."""
    mine = wire.server_paths(wire.identity(), server[wire.DIR_ENV])["socket"]
    theirs = wire.server_paths("neunet 0.0.1 | elsewhere", server[wire.DIR_ENV])["socket"]
    os.symlink(mine, theirs)               # the other client finds this server
    try:
        served = status(server)["served"]
        r = subprocess.run([sys.executable, "-c", OTHER_CLIENT, *SHORT], cwd=tmp_path,
                           env=server, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and r.stderr == ""
        assert (tmp_path / "out" / "v.dat").stat().st_size > 0
        assert status(server)["served"] == served      # refused: it ran in the client
    finally:
        os.unlink(theirs)


def test_private_folder_and_socket(server):
    folder = server[wire.DIR_ENV]
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    sock = wire.server_paths(wire.identity(), folder)["socket"]
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600


def test_an_open_folder_is_refused(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    env = env_for(folder)
    r = ctl(env, "run")
    assert r.returncode == 2 and "open to other users" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = sim(SHORT, tmp_path, dict(env, NEUNET_SIM_SERVER="1"))   # runs here, starts nothing
    assert r.returncode == 0 and r.stderr == "" and not list(folder.iterdir())


def test_auto_start_then_idle_stop(tmp_path):
    env = env_for(tmp_path / "auto", NEUNET_SIM_SERVER="1", NEUNET_SIM_SERVER_IDLE_S="2")
    r = sim(SHORT, tmp_path, env)         # no server yet: runs here and starts one
    assert r.returncode == 0 and r.stderr == ""
    assert wait_until(lambda: status(env) is not None, 300)
    assert status(env)["idle_timeout_s"] == 2
    r = sim(SHORT, tmp_path, env)
    assert r.returncode == 0 and status(env)["served"] == 1
    sock = wire.server_paths(wire.identity(), env[wire.DIR_ENV])["socket"]
    assert wait_until(lambda: not os.path.exists(sock), 60)   # stopped itself when idle
    assert status(env) is None


def test_calls_at_once_start_one_server(tmp_path):
    env = env_for(tmp_path / "many", NEUNET_SIM_SERVER="1", NEUNET_SIM_SERVER_IDLE_S="5")
    procs = [subprocess.Popen([sys.executable, "-m", "neunet.sim", *SHORT[:-10], "-o",
                               f"v{i}.dat"], cwd=tmp_path, env=env) for i in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    assert wait_until(lambda: status(env) is not None, 300)
    log = wire.server_paths(wire.identity(), env[wire.DIR_ENV])["log"]
    assert wait_until(lambda: "serving on" in open(log).read())
    assert open(log).read().count("serving on") == 1
    assert ctl(env, "stop").returncode == 0


def test_status_and_stop(tmp_path):
    env = env_for(tmp_path / "s")
    r = ctl(env, "status")
    assert r.returncode == 1 and "not running" in r.stdout
    assert ctl(env, "start").returncode == 0
    r = ctl(env, "status")
    assert r.returncode == 0 and "0 calls served" in r.stdout and wire.identity() in r.stdout
    r = ctl(env, "run")                     # a second server of the same neunet: leaves
    assert r.returncode == 0 and "already running" in r.stdout
    r = ctl(env, "stop")
    assert r.returncode == 0 and "stopped 1 server" in r.stdout
    assert ctl(env, "status").returncode == 1
