"""The SQLite database holds the token signing key and password hashes: only the server's user may read it."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.conftest import start_server, stop_server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("cloudpbx.db*"))
    assert folder / "cloudpbx.db" in files and folder / "cloudpbx.db-wal" in files, files
    return files


def assert_modes_while_served(data_dir: Path, folder: Path, folder_mode: int) -> None:
    """Start a server on the database in `folder`: the folder has `folder_mode`, the database's files 0600."""
    proc, _ = start_server(data_dir, f"sqlite:///{folder / 'cloudpbx.db'}")
    try:
        assert mode(folder) == folder_mode
        for path in database_files(folder):
            assert mode(path) == 0o600, path
    finally:
        stop_server(proc)


def test_a_new_data_folder_is_0700_and_its_database_files_0600(tmp_path):
    folder = tmp_path / "fresh" / "var"
    assert_modes_while_served(folder, folder, 0o700)


def test_an_existing_install_readable_by_others_is_tightened_at_start(tmp_path):
    folder = tmp_path / "old"
    url = f"sqlite:///{folder / 'cloudpbx.db'}"
    stop_server(start_server(folder, url)[0])
    folder.chmod(0o755)
    for path in folder.glob("cloudpbx.db*"):
        path.chmod(0o644)
    assert_modes_while_served(folder, folder, 0o700)


def test_a_database_in_a_shared_folder_leaves_the_folder_as_it_was(tmp_path):
    """A database file put in a folder that holds other files (a home, /tmp) is private; the folder is not the
    platform's to tighten."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "someone-else.txt").write_text("not the platform's")
    folder.chmod(0o1777)
    assert_modes_while_served(tmp_path / "var", folder, 0o1777)
