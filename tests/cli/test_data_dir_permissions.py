"""`sirt dev`'s data folder is private: measured before, the folder was 0755 and the read-model
files 0644, readable by every account on the machine."""

import os
import stat
from pathlib import Path

from cli.dev import secure_data_dir


def test_the_data_folder_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    data.chmod(0o755)
    for name in ("sirt.db", "temporal.db", "sub/log"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    previous = os.umask(0o022)
    try:
        secure_data_dir(data)
        created = data / "created-after.db"
        created.write_text("x")
        assert stat.S_IMODE(created.stat().st_mode) == 0o600
    finally:
        os.umask(previous)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "sub").stat().st_mode) == 0o700
    for name in ("sirt.db", "temporal.db", "sub/log"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
