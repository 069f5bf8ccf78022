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
        Maru's own integration tests (tests/integration/test_rpc_sync.py, test_rpc_async.py
        and test_handler.py, unchanged) with Maru's clients against kvtier-poold at PATH: the
        plugin maru_conftest.py (next to this file) starts a kvtier-poold (with --rm-tcp, so
        MaruHandler maps regions through it) wherever a test starts Maru's server.
        KVT_POOLD_ARGS replaces its extra options (default --register-any-region).
    maru_peer.py handler MARU_DIR --poold PATH [--chunks N]
        Maru's MaruHandler, unchanged, end to end through a kvtier-poold it starts with
        --rm-tcp: one process stores N 1 MiB chunks, then another process (another instance)
        retrieves them, mapping the writer's region through GET_ACCESS, and checks every byte.

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
             for t in ("test_rpc_sync.py", "test_rpc_async.py", "test_handler.py")]
    sys.exit(pytest.main(["-p", "maru_conftest", "--rootdir", maru_dir, "-p", "no:cacheprovider"]
                         + args + tests))


def chunk_bytes(i):
    return (b"chunk %06d " % i) * ((1 << 20) // 13) + b"\0" * ((1 << 20) % 13)


def handler_role(role, server_url, n):
    """One side of `handler`: a MaruHandler process that stores or retrieves."""
    from maru import MaruConfig, MaruHandler
    config = MaruConfig(server_url=server_url, instance_id="maru-peer-" + role,
                        pool_size=(n + 2) << 20, chunk_size_bytes=1 << 20)
    with MaruHandler(config) as h:
        for i in range(n):
            key = "maru-peer-chunk-%d" % i
            if role == "writer":
                a = h.alloc(size=1 << 20)
                a.buf[:1 << 20] = chunk_bytes(i)
                assert h.store(key=key, handle=a), key
            else:
                got = h.retrieve(key=key)
                assert got is not None, key + ": not found"
                assert bytes(got.view[:1 << 20]) == chunk_bytes(i), key + ": wrong bytes"
        print("%s (pid %d, instance %s): %d chunks of 1 MiB %s, region(s) %s" % (
            role, os.getpid(), config.instance_id, n,
            "stored" if role == "writer" else "retrieved and checked",
            h.get_owned_region_ids()), flush=True)
        if role == "writer":
            # stays connected until the reader is done: its region lives with it
            sys.stdin.readline()


def run_handler(maru_dir, poold, n):
    import signal
    import socket
    import subprocess
    import tempfile
    import time
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    tmp = tempfile.mkdtemp(prefix="maru-peer-handler-")
    rm_tcp = "127.0.0.1:%d" % ports[1]
    server_url = "tcp://127.0.0.1:%d" % ports[0]
    log = open(os.path.join(tmp, "poold.log"), "w+")
    d = subprocess.Popen([os.path.abspath(poold), "--rpc", server_url, "--rm-socket",
                          os.path.join(tmp, "rm.sock"), "--rm-tcp", rm_tcp, "--shm-pool", "1G"],
                         stderr=log)
    while True:
        log.seek(0)
        if "ready" in log.read():
            break
        if d.poll() is not None:
            log.seek(0)
            sys.exit("kvtier-poold did not start: " + log.read())
        time.sleep(0.02)
    print("kvtier-poold %s: rpc %s, rm over TCP %s" % (poold, server_url, rm_tcp), flush=True)
    me = [sys.executable, os.path.abspath(__file__), "handler-role", maru_dir]
    env = dict(os.environ, PYTHONPATH=os.path.abspath(maru_dir))
    w = subprocess.Popen(me + ["writer", server_url, str(n)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=env)
    line = w.stdout.readline()
    print(line, end="", flush=True)
    rc = subprocess.call(me + ["reader", server_url, str(n)], env=env) if line else 1
    w.stdin.close()
    rc = w.wait() or rc
    d.send_signal(signal.SIGTERM)
    rc = d.wait() or rc
    log.seek(0)
    text = log.read()
    if "Sanitizer" in text or "runtime error" in text:
        print(text[-3000:])
        rc = 1
    print("kvtier-poold exit %d; %s" % (d.returncode, "round trip OK" if rc == 0 else "FAILED"))
    sys.exit(rc)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "handler-role":
        sys.path.insert(0, os.path.abspath(sys.argv[2]))
        handler_role(sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["server", "bench", "tests", "handler"])
    ap.add_argument("maru_dir")
    ap.add_argument("--port", type=int, default=5556, help="server: the port to listen on")
    ap.add_argument("--target-port", type=int, default=0,
                    help="bench: drive the server on this port instead of Maru's own")
    ap.add_argument("--poold", default="",
                    help="tests, handler: the kvtier-poold binary to run against")
    ap.add_argument("--chunks", type=int, default=8, help="handler: chunks to store")
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
    if opts.what in ("tests", "handler") and not opts.poold:
        ap.error("%s: --poold PATH is required" % opts.what)
    if opts.what == "tests":
        run_tests(opts.maru_dir, opts.poold, rest)
    if opts.what == "handler":
        run_handler(opts.maru_dir, opts.poold, opts.chunks)
    stand_in_resource_manager()
    if opts.what == "server":
        run_server(opts.port)
    else:
        run_bench(opts.maru_dir, opts.target_port, rest)


if __name__ == "__main__":
    main()
