"""`sirt dev` leaves no Temporal dev server behind, even when it is SIGKILLed."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from core.devserver import DevServer, free_port, port_is_open, process_alive
from tests.processes import (
    children,
    command_line,
    poll_until,
    sirt_env,
    sirt_process,
    with_suppressed,
)


def test_sigkilled_sirt_dev_takes_its_dev_server_with_it(tmp_path: Path) -> None:
    env = sirt_env(tmp_path)
    with sirt_process(tmp_path, ["dev"], env) as dev:
        dev.wait_for_output("SIRT Pathway is running.", timeout=120)
        servers = [p for p in children(dev.pid) if Path(command_line(p)[0]).name == "temporal"]
        assert len(servers) == 1, dev.output()
        server = servers[0]
        assert (tmp_path / "data" / "temporal.pid").read_text().strip() == str(server)
        try:
            dev.popen.kill()
            dev.popen.wait(timeout=10)
            poll_until(lambda: not process_alive(server), "exit of the orphaned dev server", 30)
        finally:
            with_suppressed(lambda: os.killpg(server, signal.SIGKILL))


async def test_the_next_start_stops_a_leftover_it_recorded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    # A leftover as an older `sirt dev` could leave it: no parent-death signal, pid recorded.
    leftover_server = DevServer(data_dir=data, port=port, ui_port=None)
    leftover = subprocess.Popen(
        leftover_server.command(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        poll_until(lambda: port_is_open("127.0.0.1", port), "the leftover server's port", 60)
        leftover_server.pid_file.write_text(f"{leftover.pid}\n")

        server = DevServer(data_dir=data, port=port, ui_port=None)
        await server.start(timeout=90)
        with server:
            assert server.stopped_leftover == leftover.pid
            assert leftover.wait(timeout=10) is not None
            assert server.pid_file.read_text().strip() == str(server.pid)
        assert not server.pid_file.exists()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


def test_a_pidfile_naming_another_program_kills_nothing(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        server = DevServer(data_dir=tmp_path, port=free_port(), ui_port=None)
        server.pid_file.write_text(f"{sleeper.pid}\n")
        assert not server.is_ours(sleeper.pid)
        assert server.stop_leftover() is None
        assert sleeper.poll() is None
        assert not server.pid_file.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
