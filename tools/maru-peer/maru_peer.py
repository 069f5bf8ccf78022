#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs Maru's own metadata server and its own RPC benchmark next to kvtier-poold, so the
issue #7 goal (ten times Maru's server) is measured on the same machine with the same clients.

    maru_peer.py server MARU_DIR [--port 5556]
        Maru's MaruServer (maru_server.server) on tcp://127.0.0.1:PORT; drive it with
        `kvtier-bench pool --server tcp://127.0.0.1:PORT`.
    maru_peer.py bench MARU_DIR [--target-port PORT] [rpc_benchmark.py options]
        Maru's benchmarks/rpc_benchmark.py with its Python clients.  Without --target-port it
        measures Maru's server in its own process, as upstream does; with it, the same clients
        drive the server on that port, unchanged: its worker connections register keys into
        regions another connection allocated, so run kvtier-poold with --register-any-region
        (e.g. kvtier-poold --register-any-region --rpc tcp://127.0.0.1:PORT --shm-pool 1G).
    maru_peer.py tests MARU_DIR --poold PATH [pytest options]
        Maru's own RPC integration tests (tests/integration/test_rpc_sync.py and
        test_rpc_async.py, unchanged) with Maru's clients against kvtier-poold at PATH: the
        plugin maru_conftest.py (next to this file) starts a kvtier-poold wherever a test
        starts Maru's server.  KVT_POOLD_ARGS replaces its extra options
        (default --register-any-region).

MARU_DIR is a checkout of github.com/xcena-dev/maru (maru_server, maru_shm, maru_common,
maru_handler, benchmarks).  Needs python3-zmq, python3-msgpack and python3-dacite.

Maru's server carves regions through its resource manager daemon, which needs CXL/DAX
hardware; lookups and registers never reach it.  Here an in-memory allocator stands in for
its client (MaruShmClient), so region handles are made up: nothing maps them.
"""
import argparse
import itertools
import os
import sys


def stand_in_resource_manager():
    import maru_server.allocation_manager as am
    import maru_shm
    from maru_shm import MaruHandle

    class InMemoryShmClient:
        ids = itertools.count(1)

        def __init__(self, address=None, **kw):
            self.next_off = 0

        def is_running(self):
            return True

        def alloc(self, size, dax_path=""):
            h = MaruHandle(region_id=next(self.ids), offset=self.next_off, length=size,
                           auth_token=0)
            self.next_off += size
            return h

        def free(self, handle):
            pass

        def stats(self):
            return []

        def close(self):
            pass

    maru_shm.MaruShmClient = InMemoryShmClient
    am.MaruShmClient = InMemoryShmClient


def run_server(port):
    from maru_server.server import main
    sys.argv = ["maru-server", "--port", str(port), "--log-level", "WARNING"]
    main()


def run_bench(maru_dir, target_port, args):
    path = os.path.join(maru_dir, "benchmarks", "rpc_benchmark.py")
    ns = {"__name__": "maru_rpc_benchmark", "__file__": path}
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), ns)
    if target_port:
        class NoServer:
            def stop(self):
                pass

            def close(self):
                pass

        ns["find_available_port"] = lambda: target_port
        ns["start_server"] = lambda port, mode="sync", delay_us=0: (NoServer(), NoServer(), None)
    sys.argv = ["rpc_benchmark.py"] + args
    ns["main"]()


def run_tests(maru_dir, poold, args):
    import pytest
    os.environ["KVT_POOLD"] = os.path.abspath(poold)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    tests = [os.path.join(maru_dir, "tests", "integration", t)
             for t in ("test_rpc_sync.py", "test_rpc_async.py")]
    sys.exit(pytest.main(["-p", "maru_conftest", "--rootdir", maru_dir, "-p", "no:cacheprovider"]
                         + args + tests))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["server", "bench", "tests"])
    ap.add_argument("maru_dir")
    ap.add_argument("--port", type=int, default=5556, help="server: the port to listen on")
    ap.add_argument("--target-port", type=int, default=0,
                    help="bench: drive the server on this port instead of Maru's own")
    ap.add_argument("--poold", default="",
                    help="tests: the kvtier-poold binary Maru's tests run against")
    opts, rest = ap.parse_known_args()
    if not os.path.isdir(os.path.join(opts.maru_dir, "maru_server")):
        ap.error("%s: not a Maru checkout (no maru_server/)" % opts.maru_dir)
    for mod, pkg in (("zmq", "python3-zmq"), ("msgpack", "python3-msgpack"),
                     ("dacite", "python3-dacite")):
        try:
            __import__(mod)
        except ImportError:
            sys.exit("maru_peer.py: Maru needs the Python module %s: apt-get install %s"
                     % (mod, pkg))
    sys.path.insert(0, os.path.abspath(opts.maru_dir))
    if opts.what == "tests":
        if not opts.poold:
            ap.error("tests: --poold PATH is required")
        run_tests(opts.maru_dir, opts.poold, rest)
    stand_in_resource_manager()
    if opts.what == "server":
        run_server(opts.port)
    else:
        run_bench(opts.maru_dir, opts.target_port, rest)


if __name__ == "__main__":
    main()
