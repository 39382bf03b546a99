"""A real S3 server on loopback: moto's server mode in a process of its own.

    with LoopbackS3() as s3:
        root = s3.bucket_uri()            # a fresh bucket: s3://<name>/agents
        os.environ.update(s3.env)         # how memgpt-tui finds it (AWS_ENDPOINT_URL, keys, region)
        s3.requests()                     # requests served so far, by method (moto's own counters)

Moto implements conditional writes (If-None-Match / If-Match on PUT), which the store's lease needs.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from tests.fakes.openai_server import unused_port


class LoopbackS3:
    def __init__(self) -> None:
        self.port = unused_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> LoopbackS3:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return self
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the loopback S3 server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    def __enter__(self) -> LoopbackS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def create_bucket(self) -> str:
        name = f"memgpt-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()
        return name

    def bucket_uri(self, prefix: str = "agents") -> str:
        return f"s3://{self.create_bucket()}/{prefix}"
