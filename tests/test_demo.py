"""The newcomer's path: scripts/demo --quick and the three examples, run as a user would."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neunet.store import open_run

pytestmark = pytest.mark.demo

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _env(**extra):
    env = dict(os.environ, MPLBACKEND="Agg", NEUNET_VENV=os.path.relpath(
        Path(sys.executable).parents[1], ROOT), **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _check_quick_run(run_dir):
    df = open_run(run_dir).table()
    assert len(df) == 8 and (df["status"] == "finished").all()
    assert set(df["neuron-model"]) == {"HH-PT-GH", "HH-GH"}
    firing = df["mean_rate"] > 1
    assert firing.any() and (~firing).any()
    assert df.loc[firing, "data_file"].notna().all()      # kept by the filter
    assert df.loc[~firing, "data_file"].isna().all()      # dropped: summary only
    return df


def test_demo_quick(tmp_path):
    """scripts/demo --quick: sweep through the coordinator, table, sweep.png, raster.png."""
    proc = subprocess.run(["bash", "scripts/demo", "--quick", "--run-dir",
                           str(tmp_path / "run"), "--out-dir", str(tmp_path)],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "8 tasks: {'finished': 8}" in proc.stdout
    assert "mean_rate" in proc.stdout and "neuron-model" in proc.stdout
    for name in ("sweep.png", "raster.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    _check_quick_run(tmp_path / "run")


def test_demo_bad_option():
    proc = subprocess.run(["bash", "scripts/demo", "--fast"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown option --fast" in proc.stderr


def test_gen_neu_demo_example(tmp_path):
    out = tmp_path / "volt.png"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "gen_neu_demo.py"),
                           "--t", "50", "-o", str(out)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[(None, 'volt'), (None, 'ras'), (None, 'isi')]" in proc.stdout
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_server_and_servant_demos_run_a_sweep_together(tmp_path):
    """server_demo.py serves (no local worker, as in the seed); servant_demo.py works for it."""
    env = _env(NEUNET_DEMO_SCALE="quick")
    run_dir = tmp_path / "run"
    server = subprocess.Popen([sys.executable, "examples/server_demo.py", "--port", "0",
                               "--local-slots", "0", "--run-dir", str(run_dir)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    servant = None
    try:
        address = None
        deadline = time.monotonic() + 120
        while address is None and time.monotonic() < deadline:
            time.sleep(0.2)
            if (run_dir / "index.sqlite").exists():
                address = open_run(run_dir).meta("address")
            assert server.poll() is None, server.stdout.read()
        assert address, "the coordinator never listened"
        servant = subprocess.Popen([sys.executable, "examples/servant_demo.py", "--connect",
                                    address, "--slots", "2"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert server.wait(timeout=400) == 0, server.stdout.read()[-3000:]
        assert servant.wait(timeout=60) == 0
    finally:
        for proc in (server, servant):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    _check_quick_run(run_dir)
