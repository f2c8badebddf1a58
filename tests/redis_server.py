"""A real `redis-server` on 127.0.0.1 for the tests of the Redis store: started on a free port with nothing saved to
disk, stopped at the end. Tests skip, saying why, where the Debian package is not installed.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ('RedisServer', 'redis_server', 'start_redis')

REDIS = shutil.which('redis-server')
SKIP = 'redis-server is not installed (Debian: apt-get install -y redis-server)'


@dataclass
class RedisServer:
    """A running server."""

    process: subprocess.Popen[bytes]
    port: int

    def url(self, db: int = 0, **query: object) -> str:
        """`redis://127.0.0.1:PORT/DB[?k=v&...]`."""
        tail = '&'.join(f'{k}={v}' for k, v in query.items())
        return f'redis://127.0.0.1:{self.port}/{db}' + (f'?{tail}' if tail else '')

    def stop(self) -> None:
        """Terminate the server (a server already gone is left alone)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def start_redis(directory: Path) -> RedisServer:
    """Start a server whose files (none are written) would go to `directory`; waits until it answers."""
    if REDIS is None:
        pytest.skip(SKIP)
    port = _free_port()
    process = subprocess.Popen(
        [
            REDIS,
            '--port',
            str(port),
            '--bind',
            '127.0.0.1',
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5) as conn:
                conn.sendall(b'PING\r\n')
                if conn.recv(16).startswith(b'+PONG'):
                    return RedisServer(process=process, port=port)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f'redis-server did not answer on port {port}')


@pytest.fixture(scope='module')
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for a test module; tests keep apart by database number or key names."""
    server = start_redis(tmp_path_factory.mktemp('redis'))
    try:
        yield server
    finally:
        server.stop()
