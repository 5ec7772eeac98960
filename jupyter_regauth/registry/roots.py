"""The system's CA roots, read by OpenSSL when a verification needs one, not all at start.

``ssl.create_default_context()`` parses every certificate of the system bundle
(``ca-certificates.crt``, some 140 roots): 45 ms with OpenSSL 3 on two cores, which every command
that talks to a registry pays, though a registry with a private CA needs none of those roots and
one with a public certificate needs one. OpenSSL reads a *hashed directory* (one file per root,
named by the hash of its subject) lazily instead, at verification. So the bundle is split once
into such a directory in the user's cache, named after the bundle's path, inode, size and
modification time, so that an updated bundle gets a directory of its own. The roots trusted are
the same: the bundle's and those of the system's hashed directory, as OpenSSL's defaults.

Where this cannot be done exactly (a block that is not a plain certificate, a cache that cannot
be written), the context loads the system's defaults as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import ssl
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ..fileio import cache_root

log = logging.getLogger(__name__)

UNUSED_SECONDS = 30 * 86400
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


def system_context() -> ssl.SSLContext:
    """``ssl.create_default_context()`` with the same system roots, loaded on demand."""
    if sys.platform == "win32":  # the roots come from the system's certificate store
        return ssl.create_default_context()
    paths = ssl.get_default_verify_paths()
    # What OpenSSL's own defaults read: the environment's settings first.
    bundle = os.environ.get(paths.openssl_cafile_env) or paths.openssl_cafile
    directory = os.environ.get(paths.openssl_capath_env) or paths.openssl_capath
    hashed = hashed_bundle(Path(bundle)) if os.path.isfile(bundle) else ""
    if hashed is None:
        return ssl.create_default_context()
    capath = os.pathsep.join(filter(None, [hashed, directory]))
    try:
        return ssl.create_default_context(capath=capath)
    except ssl.SSLError:  # not expected of directories; fall back rather than fail
        return ssl.create_default_context()


def hashed_bundle(bundle: Path) -> str | None:
    """A hashed directory holding the certificates of ``bundle``, made on first use; ``None``
    where the bundle cannot be represented exactly or the cache cannot be written."""
    try:
        st = bundle.stat()
        stamp = f"{bundle.resolve()}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}"
        root = cache_root() / "ca-roots"
        final = root / hashlib.sha256(stamp.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        whole = final.with_name(final.name + ".whole")  # this bundle cannot be split
        if final.is_dir():
            with contextlib.suppress(OSError):
                os.utime(final)  # in use: see _remove_unused
            return str(final)
        if whole.exists():
            return None
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        files = _split(bundle.read_bytes())
        if files is None:
            whole.touch()
            return None
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        try:
            for name, pem in files.items():
                (staging / name).write_bytes(pem)
            staging.chmod(0o755)  # certificates are public; as /etc/ssl/certs
            os.rename(staging, final)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not final.is_dir():  # another process may have made it meanwhile
                raise
        _remove_unused(root)
        return str(final)
    except OSError as exc:
        log.debug("system CA roots loaded whole: %s", exc)
        return None


def _split(data: bytes) -> dict[str, bytes] | None:
    """``{"<subject hash>.<n>": pem}`` for each certificate of a PEM bundle, or ``None`` if it
    holds anything else (OpenSSL's trusted-certificate form, CRLs, text it would skip)."""
    from OpenSSL import crypto  # only when a bundle is first split

    blocks = list(_BLOCK.finditer(data))
    if data.count(b"-----BEGIN ") != len(blocks):
        return None
    files: dict[str, bytes] = {}
    same_subject: Counter[int] = Counter()
    for block in blocks:
        if block.group(1) != b"CERTIFICATE":
            return None
        try:
            cert = crypto.load_certificate(crypto.FILETYPE_PEM, block.group(0))
        except crypto.Error:
            return None
        subject = cert.subject_name_hash()
        files[f"{subject:08x}.{same_subject[subject]}"] = block.group(0) + b"\n"
        same_subject[subject] += 1
    return files


def _remove_unused(root: Path) -> None:
    """Drop directories no process has used for a month: those of former bundles, and staging
    left by a killed process. Not sooner: a running server's contexts read theirs lazily, and
    another process may have another bundle (``SSL_CERT_FILE``)."""
    stale = time.time() - UNUSED_SECONDS
    for entry in root.iterdir():
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < stale:
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
