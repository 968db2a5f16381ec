"""Helpers for tests that run the real `sirt` command as a subprocess."""

import base64
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from core.devserver import free_port, process_alive
from tests.conftest import BIN, TEST_KEY

SIRT = BIN / "sirt"


def sirt_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a `sirt` subprocess: free ports, a data dir and a key of its own."""
    env = dict(os.environ)
    # Nothing of the developer's own setup may leak in (their .env is not read: cwd is tmp).
    for name in list(env):
        if name.startswith("SIRT_") or name == "DATABASE_URL":
            del env[name]
    env.update(
        {
            "SIRT_DATA_DIR": str(tmp / "data"),
            "SIRT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "SIRT_TEMPORAL_UI_PORT": str(free_port()),
            "SIRT_WEB_PORT": str(free_port()),
            "SIRT_HL7_PORT": str(free_port()),
            "SIRT_TASK_QUEUE": f"tq-proc-{uuid.uuid4()}",
            "DATABASE_URL": f"sqlite:///{tmp / 'readmodel.db'}",
            "SIRT_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@contextmanager
def sirt_process(tmp: Path, args: list[str], env: dict[str, str]) -> Iterator["Proc"]:
    """`sirt ARGS` running in ``tmp``; killed (with its process group) if still running after."""
    out = (tmp / f"{args[0]}-{uuid.uuid4().hex[:6]}.log").open("wb")
    proc = subprocess.Popen(
        [str(SIRT), *args],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield Proc(proc, Path(out.name))
    finally:
        if proc.poll() is None:
            with_suppressed(lambda: os.killpg(proc.pid, signal.SIGKILL))
            proc.wait(timeout=10)
        out.close()


class Proc:
    """A running `sirt` subprocess and its combined output."""

    def __init__(self, popen: "subprocess.Popen[bytes]", log: Path) -> None:
        self.popen = popen
        self.log = log

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float) -> None:
        """Until ``text`` appears in the output; fails early if the process exits."""
        poll_until(
            lambda: text in self.output(),
            f"{text!r} in the output of sirt",
            timeout,
            alive=self.popen,
            describe=self.output,
        )

    def wait_http(self, url: str, timeout: float) -> int:
        """Until ``url`` answers with any HTTP status; returns that status."""
        status: list[int] = []

        def answers() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    status.append(resp.status)
            except urllib.error.HTTPError as exc:
                status.append(exc.code)
            except OSError:
                return False
            return True

        poll_until(answers, f"an HTTP answer from {url}", timeout, self.popen, self.output)
        return status[-1]


def poll_until(
    check: Callable[[], bool],
    what: str,
    timeout: float,
    alive: "subprocess.Popen[bytes] | None" = None,
    describe: Callable[[], str] | None = None,
    interval: float = 0.2,
) -> None:
    """Bounded polling: returns once ``check()`` holds, raises AssertionError at ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        context = f"\n--- output ---\n{describe()}" if describe else ""
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"exited with {alive.returncode} before {what}{context}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s{context}")
        time.sleep(interval)


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == pid and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def with_suppressed(fn: Callable[[], object]) -> None:
    """Run a best-effort clean-up step (the process may already be gone)."""
    with suppress(ProcessLookupError, PermissionError):
        fn()
