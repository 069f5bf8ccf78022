# SPDX-License-Identifier: Apache-2.0
"""pytest plugin: Maru's own integration tests against kvtier-poold, Maru's files unchanged.

Loaded with `pytest -p maru_conftest` (`maru_peer.py tests` does it).  Maru's test modules build
their server in fixtures from maru_server's MaruServer, RpcServer and RpcAsyncServer on a port
they pick; this plugin puts kvtier-poold behind those names before the modules are collected, so
each fixture starts a kvtier-poold on that port (ready before the fixture's clients connect) and
its stop() stops it, failing the test on a non-zero exit or a sanitizer report.  The daemon also
serves the resource manager over TCP (--rm-tcp on a free port, named in HANDSHAKE), so Maru's
MaruHandler maps regions through it.  Maru's clients (maru_handler's RpcClient, RpcAsyncClient
and MaruHandler) are the real ones.

    KVT_POOLD       the kvtier-poold binary (required)
    KVT_POOLD_ARGS  extra options, split on blanks (default: --register-any-region)
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import maru_server
import maru_server.rpc_async_server
import maru_server.server

POOLD = os.environ.get("KVT_POOLD", "")
ARGS = os.environ.get("KVT_POOLD_ARGS", "--register-any-region").split()


class StateInPoold:
    """Maru's MaruServer holds the registry; with kvtier-poold the daemon holds it."""

    def __init__(self, *args, **kwargs):
        pass


class Poold:
    """A kvtier-poold where Maru's tests start an RpcServer or RpcAsyncServer."""

    def __init__(self, server=None, host="127.0.0.1", port=5555, **kwargs):
        if not os.access(POOLD, os.X_OK):
            raise RuntimeError("maru_conftest: KVT_POOLD=%r is not an executable kvtier-poold"
                               % POOLD)
        self.tmp = tempfile.mkdtemp(prefix="maru-conftest-")
        self.log = open(os.path.join(self.tmp, "stderr"), "w+")
        # the resource manager over TCP: Maru's MaruHandler learns its address from
        # HANDSHAKE and maps regions through it
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            rm_tcp = "127.0.0.1:%d" % s.getsockname()[1]
        cmd = [POOLD, "--rpc", "tcp://%s:%d" % (host, port), "--rm-socket",
               os.path.join(self.tmp, "rm.sock"), "--rm-tcp", rm_tcp, "--shm-pool", "1G"] + ARGS
        self.proc = subprocess.Popen(cmd, stderr=self.log)
        deadline = time.time() + 20
        while not self._said("ready"):
            if self.proc.poll() is not None or time.time() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("kvtier-poold did not start: %s" % self._text())
            time.sleep(0.01)

    def _text(self):
        self.log.seek(0)
        return self.log.read()

    def _said(self, what):
        return what in self._text()

    def start(self):
        # Maru's fixtures run start() on a thread and never join it before stop()
        while self.proc.poll() is None:
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        text = self._text()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.proc.returncode != 0 or "Sanitizer" in text or "runtime error" in text:
            raise AssertionError("kvtier-poold exit %s:\n%s" % (self.proc.returncode,
                                                               text[-3000:]))


maru_server.MaruServer = maru_server.server.MaruServer = StateInPoold
maru_server.RpcServer = Poold
maru_server.rpc_async_server.RpcAsyncServer = Poold


# Maru's tests that do not apply to kvtier-poold, each with the reason; strict, so one that
# starts passing is reported
NOT_APPLICABLE = {
    "test_rpc_async.py::TestAsyncPipeline::test_pipeline_lookup_prefetch":
        "registers with kv_offset=k * 10 where k is a str (a 60-character string, not an "
        "offset); Maru's Python server stores whatever it is given, kvtier-poold answers "
        "a non-integer offset as malformed",
}


def pytest_collection_modifyitems(config, items):
    import pytest
    for item in items:
        reason = NOT_APPLICABLE.get(item.nodeid.split("/")[-1])
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


def pytest_report_header(config):
    return "maru_conftest: Maru's servers are kvtier-poold %s %s" % (POOLD, " ".join(ARGS))
