"""The dashboard's web server over real sockets: what it serves, what it refuses (bad paths,
long query strings, writes, foreign Host headers, floods of connections during a real sweep),
the login beyond loopback, and `python -m neunet.dashboard RUN_DIR`."""
import hashlib
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest
from dist_helpers import (
    PY,
    coordinator,
    dashboard_url,
    env,
    free_port,
    n_finished,
    write_tasks,
)

from neunet.runner.dashboard import access, httpd
from neunet.runner.dashboard.assets import STATIC_DIR as STATIC
from neunet.runner.dashboard.embed import parse_where, serve_in_thread
from neunet.store import RunStore

# Connections opened against the dashboard during a sweep (well over access.MAX_CONNECTIONS).
FLOOD = 1000


def _finished_run(path):
    store = RunStore(path)
    store.sync_tasks([{"tid": f"ab{i:02d}", "pm": {"pr": 0.1 * i, "nE": 1}, "est_cost": 1,
                       "est_s": 1} for i in range(10)])
    now = time.time()
    store.set_statuses([(f"ab{i:02d}", "simulating", {"worker": "w", "started": now - 5 + i})
                        for i in range(10)])
    store.record_results([(f"ab{i:02d}", {"rate": float(i)}, 0.5, "w", None) for i in range(9)])
    store.set_status("ab09", "failed", failure_class="timeout", reason="too slow", finished=now)
    store.close()
    return path


def _get(url, path, headers=None, method="GET", body=None):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture()
def served(tmp_path):
    run = _finished_run(tmp_path / "run")
    url, stop = serve_in_thread(run, "127.0.0.1:0", stream=sys.stderr)
    yield url
    stop()


def test_the_page_and_its_data_need_no_other_site(served):
    status, headers, body = _get(served, "/")
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    page = body.decode()
    files = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert files and all(s.startswith("/static/") or s.startswith("data:") for s in files)
    own = [s for s in files if s.startswith("/static/") and "uPlot" not in s]
    assert len(own) == 3  # dashboard.js, charts.js, dashboard.css: named by their content
    text = page + "".join(_get(served, s)[2].decode() for s in own)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), "external URL"
    for name in (s for s in files if s.startswith("/static/")):  # cached for good
        status, headers, body = _get(served, name)
        assert status == 200 and "immutable" in headers["Cache-Control"] and body
        assert _get(served, name, {"If-None-Match": headers["ETag"]})[0] == 304
    chart_js = next(s for s in files if s.endswith(".iife.min.js"))
    vendored = (STATIC / "vendor" / "README.md").read_text()
    digest = hashlib.sha256(_get(served, chart_js)[2]).hexdigest()
    assert digest in vendored and chart_js.split("/")[-1] in vendored  # the release, unchanged
    state = json.loads(_get(served, "/api/state")[2])
    assert state["progress"] == {"total": 10, "finished": 9, "failed": 1, "running": 0,
                                 "queued": 0}
    assert state["failures"][0]["reason"] == "too slow" and state["stream"]["n_bars"] == 10
    sweep = json.loads(_get(served, "/api/sweep?x=pr&y=rate&c=")[2])
    assert sweep["n_tasks"] == 9
    task = json.loads(_get(served, "/api/task?tid=ab03")[2])
    assert task["summary"] == {"rate": 3.0} and task["data"].startswith("task ab03 has no")


def test_hostile_requests_are_refused_cheaply(served):
    assert _get(served, "/../../etc/passwd")[0] == 404
    assert _get(served, "/static/..%2F..%2Fserver.py")[0] == 404
    assert _get(served, "/api/state?" + "x" * 5000)[0] == 414
    assert _get(served, "/api/task?tid=../../index.sqlite")[0] == 400
    assert _get(served, "/api/task?tid=zz")[0] == 404
    assert _get(served, "/api/sweep?x=nE&y=rate")[0] == 400
    assert _get(served, "/api/state", method="POST", body=b"{}")[0] == 405
    assert _get(served, "/api/state", headers={"Host": "evil.example:80"})[0] == 421
    status, _, _ = _get(served, "/" + "a" * 20000)  # longer than a request line may be
    assert status in (400, 414)


def _raw(url, data: bytes, timeout_s=10.0) -> bytes:
    """Send raw bytes; everything the server answers until it closes the connection."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_malformed_and_oversized_requests_get_one_line_and_a_closed_connection(served):
    host = b"Host: 127.0.0.1\r\n"
    cases = {
        b"GET /" + b"a" * (httpd.MAX_LINE + 10) + b" HTTP/1.1\r\n\r\n": 414,
        b"GET / HTTP/1.1\r\nX-Long: " + b"b" * (httpd.MAX_LINE + 10) + b"\r\n\r\n": 431,
        b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * (httpd.MAX_HEADERS + 1) + b"\r\n": 431,
        b"GET / HTTP/1.1\r\n" + (b"X-B: " + b"c" * 4000 + b"\r\n") * 5 + b"\r\n": 431,
        b"DELETE /api/state HTTP/1.1\r\n" + host + b"\r\n": 405,
        b"BREW /pot HTTP/1.1\r\n" + host + b"\r\n": 405,
        b"GET / HTTP/2.0\r\n" + host + b"\r\n": 505,
        b"GARBAGE\r\n\r\n": 400,
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n": 400,
        b"GET / HTTP/1.1\r\n" + host + host + b"\r\n": 400,
        b"POST /login HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n": 501,
        b"POST /login HTTP/1.1\r\n" + host + b"Content-Length: 99999999\r\n\r\n": 413,
        b"POST /login HTTP/1.1\r\n" + host + b"Content-Length: -1\r\n\r\n": 400,
        b"GET /api/sweep?" + b"&".join(b"a%d=1" % i for i in range(httpd.MAX_FIELDS + 1))
        + b" HTTP/1.1\r\n" + host + b"\r\n": 400,
    }
    for request, status in cases.items():
        answer = _raw(served, request)  # returns: the server closed the connection
        assert _status(answer) == status, (request[:60], answer[:200])
        assert answer.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in answer


def test_keep_alive_serves_requests_in_turn_and_idle_connections_are_closed(tmp_path):
    run = _finished_run(tmp_path / "run")
    idle_s = httpd.IDLE_TIMEOUT_S
    httpd.IDLE_TIMEOUT_S = 1.0  # read when each request is awaited
    url, stop = serve_in_thread(run, "127.0.0.1:0", stream=sys.stderr)
    try:
        get = b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        answer = _raw(url, get * 3)  # pipelined, then idle: closed after IDLE_TIMEOUT_S
        assert answer.count(b"HTTP/1.1 200 OK") == 3 and answer.count(b'"progress"') == 3
        answer = _raw(url, b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert answer == b""  # a head that never ends: closed, nothing answered
        answer = _raw(url, b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")  # 1.0: closed after
        assert _status(answer) == 200 and answer.endswith(b"\r\n\r\n")  # no body
    finally:
        httpd.IDLE_TIMEOUT_S = idle_s
        stop()


def _open_stream(url) -> socket.socket:
    """A connection reading the event stream (its first event arrived)."""
    parts = urllib.parse.urlsplit(url)
    s = socket.create_connection((parts.hostname, parts.port), timeout=30)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    got = b""
    while b"retry:" not in got:
        got += s.recv(65536)
    assert got.startswith(b"HTTP/1.1 200 OK") and b"text/event-stream" in got
    return s


def _read_to_end(sock) -> bytes:
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def test_closing_ends_open_event_streams_at_once(tmp_path):
    url, stop = serve_in_thread(_finished_run(tmp_path / "run"), "127.0.0.1:0",
                                stream=sys.stderr)
    streams = [_open_stream(url) for _ in range(3)]
    stop()  # returns once the server has closed
    for s in streams:  # each ended by the server (the socket's 30 s timeout would raise)
        _read_to_end(s)
        s.close()


def test_a_sweep_ends_while_a_browser_holds_an_event_stream(tmp_path):
    tasks_py = write_tasks(tmp_path / "sweep.py", 30)
    log = tmp_path / "coord.log"
    coord = coordinator(tasks_py, tmp_path / "run", free_port(), "--local-slots", 1,
                        "--dashboard", "127.0.0.1:0", log=log)
    try:
        stream = _open_stream(dashboard_url(log))
        assert coord.wait(120) == 0  # the coordinator does not wait for the browser
        assert b"data: " in _read_to_end(stream)  # states came, then the stream was closed
        stream.close()
    finally:
        if coord.poll() is None:
            coord.send_signal(signal.SIGINT)
            coord.wait(30)


def test_beyond_loopback_it_asks_for_the_token_then_sets_a_cookie(tmp_path):
    run = _finished_run(tmp_path / "run")
    url, stop = serve_in_thread(run, "127.0.0.1:0", token=b"s3cret", login=True,
                                stream=sys.stderr)
    try:
        status, headers, _ = _get(url, "/")
        assert status == 303 and headers["Location"] == "/login"
        assert _get(url, "/api/state")[0] == 401 and _get(url, "/events")[0] == 401
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, _, body = _get(url, "/login", form, "POST", b"token=wrong")
        assert status == 403 and b"wrong token" in body
        status, headers, _ = _get(url, "/login", form, "POST", b"token=s3cret")
        cookie = headers["Set-Cookie"].split(";")[0]
        assert status == 303 and "s3cret" not in cookie and "HttpOnly" in headers["Set-Cookie"]
        assert _get(url, "/api/state", {"Cookie": cookie})[0] == 200
        assert _get(url, "/api/state", {"Cookie": cookie[:-1] + "0"})[0] == 401
    finally:
        stop()


def test_where_it_listens():
    assert parse_where(None) == ("127.0.0.1", None) and parse_where("9000") == ("127.0.0.1", 9000)
    assert parse_where("0.0.0.0:8722") == ("0.0.0.0", 8722)
    assert parse_where("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError, match="HOST"):
        parse_where("host:port")


def test_a_flood_of_connections_does_not_hurt_the_sweep(tmp_path):
    tasks_py = write_tasks(tmp_path / "sweep.py", 150, t_ms=8000)  # seconds on 1 slot
    log = tmp_path / "coord.log"
    coord = coordinator(tasks_py, tmp_path / "run", free_port(), "--local-slots", 1,
                        "--dashboard", "127.0.0.1:0", log=log)
    socks = []
    try:
        url = dashboard_url(log)
        port = urllib.parse.urlsplit(url).port
        refused = 0
        for i in range(FLOOD):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                if i % 3 == 0:
                    s.sendall(b"GET /api/state?" + b"y" * 4000)  # never finished
            except OSError:  # refused, or reset by the cap: that is the point
                refused += 1
                continue
            socks.append(s)
        assert n_finished(tmp_path / "run") < 150  # the flood came during the sweep
        time.sleep(1.0)
        open_now = sum(_still_open(s) for s in socks)
        assert open_now <= access.MAX_CONNECTIONS  # the rest were closed on arrival
        assert coord.wait(180) == 0  # the sweep went on
        assert n_finished(tmp_path / "run") == 150
        assert "sweep done: 150 finished, 0 failed of 150" in log.read_text()
    finally:
        for s in socks:
            s.close()
        if coord.poll() is None:
            coord.send_signal(signal.SIGINT)
            coord.wait(30)


def _still_open(sock) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True  # nothing to read: still open
    except OSError:
        return False


def test_command_line_serves_a_finished_run_until_ctrl_c(tmp_path):
    run = _finished_run(tmp_path / "run")
    proc = subprocess.Popen([PY, "-m", "neunet.dashboard", str(run), "--dashboard",
                             "127.0.0.1:0"], env=env(), stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        url = re.search(r"(http://\S+)", line).group(1)
        assert json.loads(_get(url, "/api/state")[2])["progress"]["finished"] == 9
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    bad = subprocess.run([PY, "-m", "neunet.dashboard", str(tmp_path)], env=env(),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "is not a run directory" in bad.stderr
    beyond = subprocess.run([PY, "-m", "neunet.dashboard", str(run), "--dashboard",
                             "192.0.2.1:0"], env=env(), capture_output=True, text=True,
                            timeout=60)
    assert beyond.returncode == 2 and "token" in beyond.stderr
