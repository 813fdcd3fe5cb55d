"""MiniStack in a virtual environment of its own, served by hypercorn on loopback only.

MiniStack pins botocore exactly, so it never shares an environment with SoundBite (whose
boto3 moves on its own schedule): the first start creates its environment under the user's
cache directory, keyed by the pinned requirements, and every later start reuses it. Two
processes starting at once (test workers) take a lock, so one installs and the other waits.

Its own entry point binds every interface unless told otherwise and opens more listeners
(an MQTT one for IoT); here it is served by hypercorn (`ministack_serve.py`), in one process,
bound to the address it is given (127.0.0.1), with those listeners, Docker and shared state
directories off.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

VERSION = "1.5.33"
REQUIREMENTS = (f"ministack=={VERSION}", "cryptography>=41")
"""cryptography signs Cognito tokens with a key the JWKS publishes; without it MiniStack signs
them with a static key that no verifier accepts."""

HOME_VARIABLE = "SOUNDBITE_MINISTACK_HOME"

SERVE = Path(__file__).with_name("ministack_serve.py")
"""The script MiniStack's interpreter runs: its app on hypercorn, with one correction."""


def home() -> Path:
    """Where MiniStack's environment lives: `SOUNDBITE_MINISTACK_HOME`, or the user's cache."""
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:10]
    return cache / "soundbite" / f"ministack-{VERSION}-py{sys.version_info[0]}{sys.version_info[1]}-{key}"


def python() -> Path:
    return home() / "bin" / "python"


def ensure_installed(log=None) -> Path:
    """Create MiniStack's environment once (under a lock); returns its interpreter."""
    root = home()
    done = root / ".installed"
    if done.exists():
        return python()
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                out = log or subprocess.DEVNULL
                subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True,
                               stdout=out, stderr=out)
                subprocess.run([str(python()), "-m", "pip", "install", "-q", *REQUIREMENTS],
                               check=True, stdout=out, stderr=out)
                done.write_text("\n".join(REQUIREMENTS) + "\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return python()


def command(host: str, port: int) -> list[str]:
    return [str(python()), "-I", str(SERVE), f"{host}:{port}"]  # -I: not beside our modules


def environment(host: str, port: int, state_dir: str) -> dict[str, str]:
    """MiniStack's settings: URLs it hands out name this address; nothing outside `state_dir`."""
    return {
        "GATEWAY_PORT": str(port),  # queue URLs and the like carry this port
        "MINISTACK_HOST": host,
        "BIND_HOST": host,
        "SFTP_HOST": host,
        "IOT_MTLS_ENABLED": "0",  # its MQTT listener would bind every interface
        "SFTP_ENABLED": "0",
        "DOCKER_HOST": f"unix://{state_dir}/no-docker.sock",  # never touch the machine's Docker
        "PERSIST_STATE": "0",
        "STATE_DIR": state_dir,
        "S3_DATA_DIR": os.path.join(state_dir, "s3"),
        "TMPDIR": state_dir,
        "LOG_LEVEL": "WARNING",
    }


def state_dir() -> str:
    return tempfile.mkdtemp(prefix="soundbite-ministack-")


def main() -> None:
    """`python -m infra.local.ministack`: install MiniStack's environment now (setup, CI)."""
    with contextlib.suppress(BrokenPipeError):
        print(ensure_installed(log=sys.stderr))


if __name__ == "__main__":
    main()
