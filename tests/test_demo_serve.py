"""`mailer demo --serve`, the newcomer's path, end to end.

The real command in a subprocess, started from an empty folder with only
MAILER_VAR_DIR set (no Redis, no SMTP relay, no secret key: the embedded
defaults a newcomer gets). It runs the demo, then keeps its private Redis,
SMTP sink, worker and beat running beside the web admin. Over HTTP, like a
person: sign in with the printed password, "send now" part 1 to the demo list
again through the admin's forms, wait until the send is done, and find one
.eml per recipient in the sink's folder. Ctrl-C (SIGINT to the process group,
as a terminal sends it) must leave no process behind. A second run keeps the
data (the earlier mail and sends are still there) and prints a new password.
"""

from __future__ import annotations

import email
import email.policy
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mailer.embedded.redis_server import free_port
from mailer.samples import SAMPLE_SUBSCRIBERS_CSV
from mailer.services.subscribers import read_subscriber_csv

pytestmark = pytest.mark.slow
MAILER = str(Path(sys.executable).with_name("mailer"))
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Demo:
    """A running `mailer demo --serve` and what it printed so far."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.seen: list[str] = []
        self.children: set[int] = set()  # its processes, as last looked at
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 10) -> str:
        """The first group of the next printed line matching `pattern`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if m := re.search(pattern, line):
                return m.group(1)
        raise AssertionError(f"no line matching {pattern!r}:\n{self.output()}")

    def output(self) -> str:
        while not self._lines.empty():
            self.seen.append(self._lines.get())
        return "".join(self.seen)


def _ppids() -> dict[int, int]:
    """pid -> parent pid of every process (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def _descendants(pid: int) -> set[int]:
    ppids = _ppids()
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in ppids.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an unreaped zombie holds nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def running_demo(tmp_path: Path, *args: str) -> Iterator[Demo]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_VAR_DIR=str(tmp_path / "var"), COLUMNS="200")
    process = subprocess.Popen(
        [MAILER, "demo", "--part2-delay", "1", "--timeout", "150", "--serve",
         "--port", str(port), *args],
        cwd=tmp_path / "empty", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    demo = Demo(process, port)
    try:
        yield demo
    finally:
        stray = set(demo.children)
        if process.poll() is None:  # the test failed half-way: leave nothing behind
            stray |= _descendants(process.pid)
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in stray:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text(errors="replace").replace("\0", " ")


def _ctrl_c_stops_everything(demo: Demo, running: tuple[str, ...] = ("redis-server", "worker",
                                                                     "beat")) -> None:
    children = demo.children = _descendants(demo.process.pid)
    names = [_cmdline(pid) for pid in children]
    for name in running:
        assert any(name in n for n in names), names
    assert len(children) >= len(running) + 2  # and the worker's two pool processes
    os.killpg(demo.process.pid, signal.SIGINT)  # Ctrl-C in the terminal
    assert demo.process.wait(timeout=40) == 0, demo.output()
    deadline = time.monotonic() + 10
    while (left := {pid for pid in children if _running(pid)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"still running after Ctrl-C: {left}\n{demo.output()}"
    assert "停止しています" in demo.output()


def _sign_in(client: httpx.Client, demo: Demo, password: str) -> None:
    deadline = time.monotonic() + 30
    while True:  # the server starts just after it prints
        try:
            form = client.get("/admin/login")
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline and demo.process.poll() is None, demo.output()
            time.sleep(0.2)
    token = CSRF.search(form.text)
    assert token, form.text[:500]
    wrong = client.post("/admin/login", data={
        "email": "demo@example.jp", "password": "not-" + password,
        "csrf_token": token.group(1), "next": "/admin/issues"})
    assert wrong.status_code == 401
    token = CSRF.search(wrong.text)
    assert token
    r = client.post("/admin/login", data={
        "email": "demo@example.jp", "password": password, "csrf_token": token.group(1),
        "next": "/admin/issues"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]


def _printed_login(demo: Demo) -> tuple[str, str]:
    """The URL and password the demo printed, after checking the other lines."""
    url = demo.wait_for(r"管理画面: (http://\S+)", timeout=180)
    assert url == f"http://127.0.0.1:{demo.port}/admin"
    assert demo.wait_for(r"ログイン: (\S+)") == "demo@example.jp"
    password = demo.wait_for(r"パスワード.*: (\S+)")
    assert len(password) >= 12
    return url, password


def test_a_newcomer_sends_from_the_admin_and_finds_the_mail(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    outbox = tmp_path / "var" / "demo" / "outbox"
    readers = {row["email"] for row in read_subscriber_csv(SAMPLE_SUBSCRIBERS_CSV)}
    assert len(readers) == 62

    with running_demo(tmp_path) as demo:
        _, password = _printed_login(demo)
        assert demo.wait_for(r"送ったメールの行き先: (\S+?)/? ") == str(outbox)
        assert demo.wait_for(r"止めるには: (Ctrl-C)") == "Ctrl-C"
        assert len(list(outbox.glob("*.eml"))) == 124  # the demo's own two sends
        before = set(outbox.glob("*.eml"))

        with httpx.Client(base_url=f"http://127.0.0.1:{demo.port}", timeout=10) as client:
            _sign_in(client, demo, password)
            issues = client.get("/admin/issues")
            assert issues.status_code == 200
            assert "武蔵野市×都CIO座談会" in issues.text and "vol04" in issues.text
            part_id = re.findall(r'href="/admin/parts/(\d+)"', issues.text)[0]
            part = client.get(f"/admin/parts/{part_id}")
            assert "今すぐ送る" in part.text
            token = CSRF.search(part.text)
            assert token
            # 今すぐ送る… asks first: 62 recipients, all of whom already got part 1
            confirm = client.post(f"/admin/parts/{part_id}/send-now", data={
                "csrf_token": token.group(1), "lists": "cio-forum"})
            assert confirm.status_code == 200, confirm.text[:500]
            assert re.search(r'id="confirm-count">62 名', confirm.text)
            assert 'id="confirm-overlap"' in confirm.text
            token = CSRF.search(confirm.text)
            assert token
            started = client.post(f"/admin/parts/{part_id}/send-now", data={
                "csrf_token": token.group(1), "lists": "cio-forum", "confirm": "yes",
                "overlap": "again"}, follow_redirects=False)
            assert started.status_code == 303, started.text[:500]
            send_id = re.search(r"/admin/sends/(\d+)", started.headers["location"])
            assert send_id, started.headers
            deadline = time.monotonic() + 120
            while "data-final" not in (progress := client.get(
                    f"/admin/sends/{send_id.group(1)}/progress")).text:
                assert time.monotonic() < deadline, progress.text + demo.output()
                assert demo.process.poll() is None, demo.output()
                time.sleep(1)
            assert "完了" in client.get(f"/admin/sends/{send_id.group(1)}").text
            # the dashboard says where the mail went and shows the newest
            dashboard = client.get("/admin")
            assert 'id="demo-outbox"' in dashboard.text
            assert f"<code>{outbox}</code> に保存します（いま {124 + 62} 通）" in dashboard.text
            names = re.findall(r'href="/admin/demo-outbox/([0-9a-f]{32}\.eml)"', dashboard.text)
            assert len(names) == 10 and all((outbox / n).is_file() for n in names)
            shown = client.get(f"/admin/demo-outbox/{names[0]}")
            assert shown.status_code == 200 and shown.headers["content-type"].startswith(
                "text/plain")
            assert "To: " in shown.text and "配信停止" in shown.text, shown.text[:500]
            assert client.get("/admin/demo-outbox/..%2Fmailer.db").status_code == 404
            assert client.get(f"/admin/demo-outbox/{'0' * 32}.eml").status_code == 404

        new = set(outbox.glob("*.eml")) - before
        to = []
        for f in new:
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            to.append(msg["To"].addresses[0].addr_spec)
            assert f"127.0.0.1:{demo.port}" in msg["List-Unsubscribe"]  # links to this admin
        assert sorted(to) == sorted(readers)  # each reader once
        _ctrl_c_stops_everything(demo)

    assert not any((tmp_path / "empty").iterdir())  # nothing written where it was started

    # A second run keeps everything: no demo re-run, the mail and sends stay,
    # a new password for this run.
    with running_demo(tmp_path) as again:
        assert again.wait_for(r"(前回のデモのデータをそのまま使います)", timeout=60)
        _, second = _printed_login(again)
        assert second != password
        assert "すべての配信の行き先を確認しました" not in again.output()
        assert len(list(outbox.glob("*.eml"))) == 124 + 62
        with httpx.Client(base_url=f"http://127.0.0.1:{again.port}", timeout=10) as client:
            _sign_in(client, again, second)
            sends = client.get("/admin")
            assert sends.status_code == 200
            assert len(set(re.findall(r'href="/admin/sends/(\d+)"', sends.text))) == 3
        # beat dies while the admin runs: the terminal is told (no send would start)
        beat = next(pid for pid in _descendants(again.process.pid) if " beat " in _cmdline(pid))
        os.kill(beat, signal.SIGKILL)
        assert again.wait_for(r"注意: (\w+) が止まりました", timeout=20) == "beat"
        _ctrl_c_stops_everything(again, running=("redis-server", "worker"))

    # --reset starts over: the earlier mail and sends are gone, the demo runs again
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    done = subprocess.run([MAILER, "demo", "--reset", "--part2-delay", "1"], cwd=tmp_path / "empty",
                          env={**env, "MAILER_VAR_DIR": str(tmp_path / "var"), "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "すべての配信の行き先を確認しました" in done.stdout
    assert len(list(outbox.glob("*.eml"))) == 124
    assert not any((tmp_path / "empty").iterdir())
