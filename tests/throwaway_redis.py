"""A redis-server of a test's own, which the test may stop (the shared one on 6379 stays up)."""

from __future__ import annotations

import pytest


class ThrowawayRedis:
    """A redis-server of this test's own, so it can be stopped without touching the shared one."""

    def __init__(self) -> None:
        from infra.local.emulator import free_port

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        import shutil
        import subprocess

        import redis

        from tests.waiting import wait_for

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def answers() -> bool:
            try:
                return client.ping()
            except redis.RedisError:
                return False

        wait_for(answers, timeout=10, what=f"redis-server on port {self.port} to answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=0.5)
