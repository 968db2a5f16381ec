"""The scheduler's lock across real processes: a killed holder frees it for the standby."""

import signal
import subprocess
import sys
import time
import uuid

from sqlalchemy.engine import make_url

from scheduler.lock import PostgresAdvisoryLock

HOLDER = """
import sys, time
from scheduler.lock import PostgresAdvisoryLock
lock = PostgresAdvisoryLock(sys.argv[1], int(sys.argv[2]))
assert lock.try_acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_killed_scheduler_process_lets_the_standby_take_the_lock(db_url: str) -> None:
    assert make_url(db_url).get_backend_name() == "postgresql"
    key = uuid.uuid4().int % 2**62  # this test's own lock, apart from any real scheduler
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url, str(key)], stdout=subprocess.PIPE, text=True
    )
    standby = PostgresAdvisoryLock(db_url, key)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not standby.try_acquire()
        holder.send_signal(signal.SIGKILL)  # no clean release: the server must notice
        holder.wait(timeout=30)
        # PostgreSQL drops a dead session's advisory locks when it sees the socket close.
        for _ in range(200):
            if standby.try_acquire():
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the standby never got the lock")
        assert standby.still_held()
    finally:
        holder.kill()
        standby.release()
        standby.dispose()
