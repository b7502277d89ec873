"""The secret the librarian and the masters share (its API, restricted
files' tokens)."""

import os
import secrets
from pathlib import Path


def librarianSecret(state_dir, secret_file=""):
    """The librarian's secret, made once and kept in C{secret_file} (by
    default in the state dir)."""
    path = Path(secret_file) if secret_file else (
        Path(state_dir) / "librarian.secret")
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode("ascii")
