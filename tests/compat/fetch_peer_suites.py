"""Fetch the peer projects' own test suites from their sdists (pip download).

Django's ``tests/cache/`` and Flask-Caching's ``tests/test_backend_cache.py``
are not installed with the packages, so the conformance tests take them from
the source distributions of the installed versions:
``pip download --no-binary :all: --no-deps django==<installed>`` (and the
same for Flask-Caching), unpacked under ``build/peer-suites/`` (git-ignored).
A second run finds them there and downloads nothing.

Run by ``tests/compat/conftest.py`` (so ``python -m pytest`` runs the suites)
or by hand: ``python tests/compat/fetch_peer_suites.py [DEST]``.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEST = ROOT / "build" / "peer-suites"

#: distribution -> (sdist name prefix, files wanted from its tests/, target dir)
SUITES = {
    "django": ("django", "tests/cache/", "django/cache"),
    "flask-caching": ("flask_caching", "tests/test_backend_cache.py", "flask_caching"),
}


def suite_dir(dist: str, dest: Path = DEFAULT_DEST) -> Path:
    """Where the unpacked suite of ``dist`` lives."""
    return dest / SUITES[dist][2]


def fetch(dist: str, dest: Path = DEFAULT_DEST) -> Path:
    """Download and unpack the suite of the installed ``dist``; return its dir.

    Raises:
        RuntimeError: pip could not download the sdist, or it lacks the files.
    """
    version = importlib.metadata.version(dist)
    target = suite_dir(dist, dest)
    stamp = target / ".version"
    if stamp.exists() and stamp.read_text().strip() == version:
        return target
    sdist_name, wanted, _ = SUITES[dist]
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                "--dest",
                tmp,
                f"{dist}=={version}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        archives = list(Path(tmp).glob(f"{sdist_name}-*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise RuntimeError(
                f"pip download of the {dist}=={version} sdist failed: "
                f"{result.stderr.strip()[-500:]}"
            )
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                parts = member.name.split("/", 1)
                inner = parts[1] if len(parts) == 2 else ""
                if not member.isfile() or not inner.startswith(wanted):
                    continue
                name = inner[len(wanted) :] or Path(wanted).name
                source = archive.extractfile(member)
                if source is None or "/" in name:
                    continue
                (target / name).write_bytes(source.read())
    if not any(target.iterdir()):
        raise RuntimeError(f"the {dist} sdist has no {wanted}")
    stamp.write_text(version + "\n")
    return target


def main(argv: list[str]) -> int:
    """Fetch both suites into ``argv[0]`` (default ``build/peer-suites``)."""
    dest = Path(argv[0]) if argv else DEFAULT_DEST
    for dist in SUITES:
        print(f"{dist}: {fetch(dist, dest)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
