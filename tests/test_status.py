"""The terminal output of a sweep (neunet.runner.status): log lines never run into the status
line, and a run ends with one summary line (after ctrl-c, with how to resume)."""
import io
import logging
import os
import pty
import re
import select
import signal
import subprocess
import time

from dist_helpers import PY, env, n_finished, write_tasks

from neunet.runner.status import StatusLine, progress_text, summary_text

# A log line as the coordinator writes it.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} neunet\.\w+ [A-Z]+ ")


def screen(raw: str) -> list:
    """The lines a terminal shows for `raw` (\\r moves to the line start, ESC[K clears it)."""
    lines, current = [], ""
    for part in re.split(r"(\r\x1b\[K|\r\n|\n|\r)", raw):
        if part == "\r\x1b[K" or part == "\r":
            current = ""
        elif part in ("\n", "\r\n"):
            lines.append(current)
            current = ""
        else:
            current += part
    return lines + ([current] if current else [])


def test_log_records_go_above_the_status_line():
    out = io.StringIO()
    logger = logging.getLogger("neunet.test_status")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        line = StatusLine(out, tty=True).install(logger)
        line.show("done 1/3")
        logger.warning("worker w1 joined")
        line.show("done 2/3")
        logger.warning("worker w1 left")
        line.finish("sweep done")
    finally:
        logger.removeHandler(handler)
    assert screen(out.getvalue()) == ["worker w1 joined", "worker w1 left", "sweep done"]
    assert handler.stream is out  # given back


def test_texts():
    counts = {"finished": 5, "failed": 1, "running": 2, "queued": 2, "total": 10}
    text = progress_text(counts, 75.0, 3.25)
    assert text == ("done 5/10  failed 1  running 2  queued 2  elapsed 1m15s  3.25 tasks/s")
    assert "ETA 2s" in progress_text(counts, 75.0, 3.25, eta_s=2.0)
    assert summary_text(counts, 2.0, "runs/demo") == (
        "sweep done: 5 finished, 1 failed of 10 in 2s (2.5 tasks/s); "
        "results: open_run('runs/demo')")
    assert summary_text(counts, 2.0, "runs/demo", interrupted=True).endswith(
        "; 4 left: run the same command again to resume")


def test_coordinator_on_a_terminal_then_ctrl_c(tmp_path):
    tasks_py = write_tasks(tmp_path / "sweep.py", 80, t_ms=8000)
    master, slave = pty.openpty()
    proc = subprocess.Popen([PY, "-m", "neunet.coordinator", str(tasks_py), "--run-dir", "run",
                             "--port", "0", "--local-slots", "1", "--no-dashboard"],
                            cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    raw = b""
    try:
        end = time.monotonic() + 120
        while n_finished(tmp_path / "run") < 10 and time.monotonic() < end:
            raw += _read(master, 0.1)
        raw += _read(master, 1.2)  # a few redraws of the status line
        proc.send_signal(signal.SIGINT)
        while proc.poll() is None and time.monotonic() < end:
            raw += _read(master, 0.1)
        raw += _read(master, 0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.wait(30) == 130
    text = raw.decode()
    assert "\r\x1b[Kdone " in text and "tasks/s" in text  # the status line was drawn
    shown = [line for line in screen(text) if line.strip()]
    for line in shown[:-1]:
        assert LOG_LINE.match(line), line  # every line left on screen is a whole log line
    assert re.fullmatch(r"stopped: \d+ finished, 0 failed of 80 in \d+s \(.* tasks/s\); "
                        r"results: open_run\('run'\); \d+ left: run the same command again "
                        r"to resume", shown[-1]), shown[-1]


def _read(fd, timeout_s: float) -> bytes:
    out = b""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        try:
            out += os.read(fd, 65536)
        except OSError:
            break
    return out


def test_a_worker_on_a_terminal_says_what_it_does(tmp_path):
    from dist_helpers import coordinator, free_port
    tasks_py = write_tasks(tmp_path / "sweep.py", 30, t_ms=8000)
    port = free_port()
    coord = coordinator(tasks_py, tmp_path / "run", port, "--local-slots", 0, "--no-dashboard")
    master, slave = pty.openpty()
    worker = subprocess.Popen([PY, "-m", "neunet.worker", "--connect", f"127.0.0.1:{port}",
                               "--slots", "1", "--name", "w"], env=env(),
                              stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    raw = b""
    try:
        end = time.monotonic() + 120
        while worker.poll() is None and time.monotonic() < end:
            raw += _read(master, 0.1)
        raw += _read(master, 0.2)
        coord.wait(60)
    finally:
        for proc in (worker, coord):
            if proc.poll() is None:
                proc.kill()
        os.close(master)
    assert coord.wait(30) == 0 and worker.wait(30) == 0
    text = raw.decode()
    assert re.search(r"\r\x1b\[Kworker w: \d+ done, 0 failed, 1/1 slots busy: \w{12} "
                     r"(simulating|filtering|pulling) \d+s", text), text[-2000:]
    shown = [line for line in screen(text) if line.strip()]
    assert shown[-1] == "worker w: 30 done, 0 failed, 0/1 slots busy", shown[-3:]
    assert all(LOG_LINE.match(line) for line in shown[:-1]), shown
