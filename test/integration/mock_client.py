"""The mock vendor API (test/mock_vendor/server.py) as a child process, for tests."""

import json
import os
import subprocess
import sys
import urllib.request

MOCK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mock_vendor", "server.py")


class Mock:
    """The mock vendor API as a child process on a loopback port."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, MOCK, "--port", "0", *(args or ("--page-cap", "2"))],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])
        self.base = f"http://127.0.0.1:{self.port}"

    def call(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        req = urllib.request.Request(self.base + path, data=data, method="POST" if body is not None else "GET")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def requests(self):
        return self.call("/_mock/requests")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
