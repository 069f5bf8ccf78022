#!/usr/bin/env python3
"""Protocol tests for kvtier-poold, run against a daemon each test starts.

Usage: python3 tests/poold/run_pool_tests.py BUILD_DIR [NAME...]

Speaks Maru's wire protocols from their specification (reference maru.md
section 2): the ZeroMQ metadata RPC with a 16-byte big-endian header and
MessagePack maps, and the resource-manager protocol on a Unix socket with
SCM_RIGHTS fd passing.  Prints one "PASS name" / "FAIL name: why" /
"SKIP name: why" line per case, then "N passed, N failed"; exits 1 on any
failure.  Needs python3-zmq and python3-msgpack (re-executes under
/usr/bin/python3 when the first interpreter lacks them).
"""
import os
import sys

try:
    import msgpack
    import zmq
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("SKIP pool: python3-zmq and python3-msgpack are not installed")
    sys.exit(0)

import array
import errno
import mmap
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import traceback

HDR = "!HBBBBBBII"
REQUEST_ALLOC, RETURN_ALLOC, LIST_ALLOCATIONS = 0x01, 0x03, 0x04
REGISTER_KV, LOOKUP_KV, EXISTS_KV, DELETE_KV, PIN_KV, UNPIN_KV = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
BATCH_REGISTER_KV, BATCH_LOOKUP_KV, BATCH_EXISTS_KV, BATCH_PIN_KV, BATCH_UNPIN_KV = (
    0x20, 0x21, 0x22, 0x23, 0x24)
GET_STATS, HEARTBEAT, REPORT_STATS, GET_USAGE, HANDSHAKE, SHUTDOWN = (
    0xF0, 0xF1, 0xF2, 0xF3, 0xFE, 0xFF)
MB = 1 << 20
BUILD = None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """A kvtier-poold on a free port, a temp socket and a /dev/shm pool."""

    def __init__(self, *extra, pool="64M"):
        self.tmp = tempfile.mkdtemp(prefix="poold-test-")
        self.addr = "tcp://127.0.0.1:%d" % free_port()
        self.sock = os.path.join(self.tmp, "rm.sock")
        self.log = open(os.path.join(self.tmp, "stderr"), "w+")
        args = [os.path.join(BUILD, "kvtier-poold"), "--rpc", self.addr, "--rm-socket",
                self.sock, "--shm-pool", pool] + list(extra)
        env = dict(os.environ, KVT_LOG=os.environ.get("KVT_LOG", "warn"))
        self.proc = subprocess.Popen(args, stderr=self.log, env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            self.log.seek(0)
            if "ready" in self.log.read():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.log.seek(0)
        raise RuntimeError("daemon did not start: " + self.log.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        text = self.log.read()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if "ERROR: AddressSanitizer" in text or "runtime error" in text or "LeakSanitizer" in text:
            raise AssertionError("sanitizer report:\n" + text[-3000:])
        return self.proc.returncode, text


class Client:
    """Maru's async client shape: a DEALER, empty delimiter, seq matching."""

    def __init__(self, addr, kind=zmq.DEALER):
        self.ctx = zmq.Context.instance()
        self.s = self.ctx.socket(kind)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.setsockopt(zmq.RCVTIMEO, 10000)
        self.kind = kind
        self.s.connect(addr)
        self.seq = 0

    def raw(self, data):
        if self.kind == zmq.DEALER:
            self.s.send_multipart([b"", data])
        else:
            self.s.send(data)
        frames = self.s.recv_multipart()
        return frames[-1]

    def call(self, t, payload, flags=0):
        self.seq += 1
        p = msgpack.packb(payload, use_bin_type=True)
        resp = self.raw(struct.pack(HDR, 0xCF00, 1, t, flags, 0, 0, 0, self.seq, len(p)) + p)
        h = struct.unpack(HDR, resp[:16])
        assert h[0] == 0xCF00 and h[1] == 1, h
        assert h[2] == t | 0x80, "response type %#x for %#x" % (h[2], t)
        assert h[3] == flags and h[7] == self.seq, h
        assert h[8] == len(resp) - 16
        return msgpack.unpackb(resp[16:], raw=False)

    def close(self):
        self.s.close()

    # helpers
    def alloc(self, inst, size=4 * MB):
        r = self.call(REQUEST_ALLOC, {"instance_id": inst, "size": size})
        assert r["success"], r
        return r["handle"]

    def reg(self, key, rid, off=0, length=100):
        return self.call(REGISTER_KV, {"key": key, "region_id": rid, "kv_offset": off,
                                       "kv_length": length})

    def stats(self):
        return self.call(GET_STATS, {})


def rm_call(path, mtype, payload=b"", want_fd=False, raw=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(raw if raw is not None else struct.pack("=IHHI", 0x4D415255, 1, mtype,
                                                       len(payload)) + payload)
    fds = array.array("i")
    msg, anc, _, _ = s.recvmsg(12 + 1024, socket.CMSG_SPACE(4))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:4])
    while len(msg) >= 12 and len(msg) < 12 + struct.unpack("=I", msg[8:12])[0]:
        more = s.recv(4096)
        if not more:
            break
        msg += more
    s.close()
    if not msg:
        return None, None, None
    magic, ver, t, n = struct.unpack("=IHHI", msg[:12])
    assert magic == 0x4D415255 and ver == 1
    return t, msg[12:12 + n], (fds[0] if fds else None)


def handle_bytes(h):
    return struct.pack("=QQQQ", h["region_id"], h["offset"], h["length"], h["auth_token"])


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---------------------------------------------------------------- RPC basics
@test
def header_echo_and_response_codes(d):
    c = Client(d.addr)
    r = c.call(HEARTBEAT, {}, flags=0x05)
    assert list(r) == ["connection"], r
    for t in (GET_STATS, HANDSHAKE, REPORT_STATS, GET_USAGE):
        c.call(t, {})
    r = c.call(HANDSHAKE, {"client_version": 1, "instance_id": "x"})
    assert r["success"] and r["server_version"] == 1 and r["rm_address"] == d.sock, r
    # beyond Maru: the connection (HEARTBEAT names the same) and the lease
    assert r["client_lease_ms"] == 60000, r
    assert c.call(HEARTBEAT, {})["connection"] == r["connection"]
    other = Client(d.addr)
    assert other.call(HEARTBEAT, {})["connection"] != r["connection"]


@test
def sync_req_client_works(d):
    c = Client(d.addr, zmq.REQ)
    assert list(c.call(HEARTBEAT, {})) == ["connection"]
    h = c.alloc("req-inst")
    assert c.reg("k", h["region_id"])["is_new"]


@test
def alloc_list_return(d):
    a, b = Client(d.addr), Client(d.addr)
    ha = a.alloc("A", 3 * MB)
    assert ha["length"] == 4 * MB and ha["offset"] % (2 * MB) == 0 and ha["auth_token"], ha
    hb = b.alloc("B", 2 * MB)
    assert hb["offset"] != ha["offset"]
    ids = [h["region_id"] for h in a.call(LIST_ALLOCATIONS, {"exclude_instance_id": "A"})[
        "allocations"]]
    assert ids == [hb["region_id"]], ids
    assert len(a.call(LIST_ALLOCATIONS, {})["allocations"]) == 2
    assert not b.call(RETURN_ALLOC, {"instance_id": "B", "region_id": ha["region_id"]})["success"]
    assert not a.call(RETURN_ALLOC, {"instance_id": "A", "region_id": 999})["success"]
    assert a.call(RETURN_ALLOC, {"instance_id": "A", "region_id": ha["region_id"]})["success"]
    st = a.stats()["allocation_manager"]
    assert st["num_allocations"] == 1 and st["pool_free"] == 62 * MB, st
    r = a.call(REQUEST_ALLOC, {"instance_id": "A", "size": 1 << 40})
    assert r["success"] is False and "error" in r, r


@test
def register_lookup_exists_delete(d):
    c = Client(d.addr)
    h = c.alloc("A")
    rid = h["region_id"]
    assert c.reg("k1", rid, 1 * MB, 4096) == {"success": True, "is_new": True}
    assert c.reg("k1", rid, 2 * MB, 4096) == {"success": True, "is_new": False}
    r = c.call(LOOKUP_KV, {"key": "k1"})
    assert r["found"] and r["handle"] == h and r["kv_offset"] == MB and r["kv_length"] == 4096, r
    assert c.call(EXISTS_KV, {"key": "k1"}) == {"exists": True}
    assert c.call(EXISTS_KV, {"key": "nope"}) == {"exists": False}
    assert c.call(LOOKUP_KV, {"key": "nope"}) == {"found": False}
    assert c.call(DELETE_KV, {"key": "k1"}) == {"success": True, "result": "DELETED"}
    assert c.call(DELETE_KV, {"key": "k1"}) == {"success": False, "result": "NOT_FOUND"}
    assert c.reg("k1", rid, 0, 10)["is_new"]  # delete, then re-register
    kv = c.stats()["kv_manager"]
    assert kv["total_entries"] == 1 and kv["total_size"] == 10, kv


@test
def int_and_str_keys_are_distinct(d):
    c = Client(d.addr)
    rid = c.alloc("A")["region_id"]
    assert c.reg(5, rid, 0, 1)["is_new"]
    assert c.reg("5", rid, 0, 2)["is_new"]
    assert c.reg(-7, rid, 0, 3)["is_new"]
    assert c.reg(2**64 - 1, rid, 0, 4)["is_new"]
    assert c.call(LOOKUP_KV, {"key": 5})["kv_length"] == 1
    assert c.call(LOOKUP_KV, {"key": "5"})["kv_length"] == 2
    assert c.call(LOOKUP_KV, {"key": -7})["kv_length"] == 3
    assert c.call(LOOKUP_KV, {"key": 2**64 - 1})["kv_length"] == 4
    assert c.call(BATCH_EXISTS_KV, {"keys": [5, "5", 6]})["results"] == [True, True, False]


@test
def register_refused_outside_own_region(d):
    a, b = Client(d.addr), Client(d.addr)
    ra = a.alloc("A")["region_id"]
    b.alloc("B")
    r = b.reg("x", ra)  # B writes into A's region
    assert r["success"] is False and "error" in r, r
    assert a.reg("y", ra, 4 * MB - 10, 11)["success"] is False  # past the end
    assert a.reg("y", ra, 2**63, 2**63)["success"] is False  # overflow
    assert a.reg("y", 12345)["success"] is False  # unknown region
    assert Client(d.addr).reg("z", ra)["success"] is False  # unbound connection
    assert a.reg("y", ra, 4 * MB - 10, 10)["is_new"]
    r = a.call(BATCH_REGISTER_KV, {"entries": [
        {"key": "b1", "region_id": ra, "kv_offset": 0, "kv_length": 1},
        {"key": "b2", "region_id": ra, "kv_offset": 4 * MB, "kv_length": 1}]})
    assert r["results"] == [True, False] and r["refused"] == [1], r
    assert a.call(EXISTS_KV, {"key": "b2"}) == {"exists": False}
    assert a.stats()["kv_manager"]["refused_registers"] == 6


@test
def register_any_region_is_off_by_default(d):
    a, b = Client(d.addr), Client(d.addr)
    ra = a.alloc("A")["region_id"]
    r = b.reg("x", ra)
    assert r["success"] is False and "--register-any-region" in r["error"], r
    r = b.call(BATCH_REGISTER_KV, {"entries": [
        {"key": "x", "region_id": ra, "kv_offset": 0, "kv_length": 1}]})
    assert r["results"] == [False] and r["refused"] == [0], r
    assert b.call(EXISTS_KV, {"key": "x"}) == {"exists": False}
    d.log.seek(0)
    assert "register-any-region" not in d.log.read()


@test
def register_any_region_accepts_other_callers_regions(d):
    d.log.seek(0)
    assert "--register-any-region: any connection may register" in d.log.read()
    a, b, unbound = Client(d.addr), Client(d.addr), Client(d.addr)
    ha = a.alloc("A")
    ra = ha["region_id"]
    b.alloc("B")
    assert b.reg("x", ra, 4096, 100)["is_new"]  # into A's region, from another instance
    assert unbound.reg("y", ra, 0, 10)["is_new"]  # from a connection with no region at all
    r = unbound.call(BATCH_REGISTER_KV, {"entries": [
        {"key": "b1", "region_id": ra, "kv_offset": 8192, "kv_length": 1},
        {"key": "b2", "region_id": ra, "kv_offset": 4 * MB, "kv_length": 1}]})
    assert r["results"] == [True, False] and r["refused"] == [1], r  # bounds still hold
    assert unbound.reg("z", 12345)["success"] is False  # a region must exist
    r = a.call(LOOKUP_KV, {"key": "x"})
    assert r["found"] and r["handle"]["region_id"] == ra and r["kv_offset"] == 4096, r
    a.call(SHUTDOWN, {})  # A's region is released but kept by its keys: Maru still accepts
    assert b.reg("w", ra, 0, 1)["is_new"]
    for k in ("x", "y", "b1", "w"):
        b.call(DELETE_KV, {"key": k})
    r = b.reg("v", ra)  # the last key went, and the region with it
    assert r["success"] is False and "existing region" in r["error"], r
    b.call(SHUTDOWN, {})
    st = unbound.stats()
    assert st["kv_manager"]["refused_registers"] == 3, st["kv_manager"]
    assert st["allocation_manager"]["pool_free"] == st["allocation_manager"]["pool_total"], st


register_any_region_accepts_other_callers_regions.args = ("--register-any-region",)


@test
def one_connection_speaks_for_several_instances(d):
    # Maru's own benchmark allocates and registers for several instances over one connection
    a, b = Client(d.addr), Client(d.addr)
    r0 = a.alloc("P0")["region_id"]
    r1 = a.alloc("P1")["region_id"]
    assert a.reg("p0", r0)["is_new"] and a.reg("p1", r1)["is_new"]
    assert b.reg("x", r1)["success"] is False  # still the caller's regions only
    assert len(b.call(LIST_ALLOCATIONS, {})["allocations"]) == 2
    a.call(SHUTDOWN, {})
    # both instances went with the connection; their keys keep their regions
    assert b.call(LIST_ALLOCATIONS, {})["allocations"] == []
    assert b.call(LOOKUP_KV, {"key": "p1"})["found"]
    b.call(DELETE_KV, {"key": "p0"})
    b.call(DELETE_KV, {"key": "p1"})
    st = b.stats()["allocation_manager"]
    assert st["num_allocations"] == 0 and st["pool_free"] == st["pool_total"], st


@test
def pins_owned_capped_and_counted(d):
    a, b = Client(d.addr), Client(d.addr)
    rid = a.alloc("A")["region_id"]
    a.reg("k", rid)
    assert a.call(PIN_KV, {"key": "k"}) == {"exists": True}
    assert a.call(PIN_KV, {"key": "k"}) == {"exists": True}
    assert b.call(PIN_KV, {"key": "k"}) == {"exists": True}
    assert a.call(PIN_KV, {"key": "missing"}) == {"exists": False}
    r = a.call(PIN_KV, {"key": "k"})  # cap is 3 in this daemon
    assert r["exists"] is False and "error" in r, r
    kv = a.stats()["kv_manager"]
    assert kv["pinned_entries"] == 1 and kv["total_pins"] == 3 and kv["pin_cap_refusals"] == 1, kv
    assert a.call(DELETE_KV, {"key": "k"}) == {"success": False, "result": "PINNED"}
    c = Client(d.addr)
    assert c.call(UNPIN_KV, {"key": "k"}) == {"success": False}  # not c's pin
    assert b.call(UNPIN_KV, {"key": "k"}) == {"success": True}
    assert b.call(UNPIN_KV, {"key": "k"}) == {"success": False}  # underflow guard
    assert a.call(UNPIN_KV, {"key": "k"})["success"] and a.call(UNPIN_KV, {"key": "k"})["success"]
    assert a.call(UNPIN_KV, {"key": "k"}) == {"success": False}
    assert a.call(UNPIN_KV, {"key": "missing"}) == {"success": False}
    kv = a.stats()["kv_manager"]
    assert kv["total_pins"] == 0 and kv["pinned_entries"] == 0, kv
    assert kv["unpin_underflows"] == 3 and kv["delete_refused_pinned"] == 1, kv
    assert a.call(DELETE_KV, {"key": "k"})["result"] == "DELETED"


pins_owned_capped_and_counted.args = ("--max-pins-per-key", "3")


@test
def batch_ops(d):
    c = Client(d.addr)
    h = c.alloc("A")
    rid = h["region_id"]
    ents = [{"key": k, "region_id": rid, "kv_offset": i * 4096, "kv_length": 4096}
            for i, k in enumerate(["a", "b", "a", "c"])]
    r = c.call(BATCH_REGISTER_KV, {"entries": ents})
    assert r == {"success": True, "results": [True, True, False, True]}, r
    assert c.call(BATCH_REGISTER_KV, {"entries": []})["results"] == []
    r = c.call(BATCH_LOOKUP_KV, {"keys": ["c", "zz", "a"]})["entries"]
    assert [e["found"] for e in r] == [True, False, True] and r[0]["kv_offset"] == 3 * 4096, r
    assert r[2]["kv_offset"] == 0 and r[0]["handle"] == h and r[2]["handle"] == h, r
    assert c.call(BATCH_EXISTS_KV, {"keys": ["a", "zz", "b"]})["results"] == [True, False, True]
    assert c.call(BATCH_EXISTS_KV, {"keys": []})["results"] == []
    # prefix stop: [hit, miss, hit] -> [T, F, F] and the third stays unpinned
    assert c.call(BATCH_PIN_KV, {"keys": ["a", "zz", "b"]})["results"] == [True, False, False]
    assert c.call(DELETE_KV, {"key": "b"})["result"] == "DELETED"
    assert c.call(BATCH_PIN_KV, {"keys": ["zz", "a"]})["results"] == [False, False]
    assert c.call(BATCH_PIN_KV, {"keys": []})["results"] == []
    assert c.call(BATCH_PIN_KV, {"keys": ["a", "c"]})["results"] == [True, True]
    assert c.stats()["kv_manager"]["total_pins"] == 3
    assert c.call(BATCH_UNPIN_KV, {"keys": ["a", "zz", "c", "c"]})["results"] == [
        True, False, True, False]
    assert c.call(BATCH_UNPIN_KV, {"keys": ["a"]})["results"] == [True]
    assert c.call(BATCH_UNPIN_KV, {"keys": []})["results"] == []
    assert c.stats()["kv_manager"]["total_pins"] == 0


@test
def read_replies_are_msgpacks_own_bytes(d):
    # the front end writes lookup answers itself, not through msgpack-c: every
    # reply must be the bytes a msgpack packer gives for what it decodes to
    # (integers in their smallest form), in every width a region allows, and
    # batches longer than the lookups' chunk of 32 keys keep their order
    c = Client(d.addr)
    h = c.alloc("A")
    rid = h["region_id"]
    widths = [(0, 1), (127, 128), (255, 256), (65535, 65536), (65536, 4 * MB - 65536)]
    keys = []
    for i in range(70):
        off, length = widths[i % len(widths)]
        k = "w%d" % i if i % 3 else i
        assert c.reg(k, rid, off, length)["is_new"]
        keys.append((k, off, length))

    def raw(t, payload):
        c.seq += 1
        p = msgpack.packb(payload, use_bin_type=True)
        resp = c.raw(struct.pack(HDR, 0xCF00, 1, t, 0, 0, 0, 0, c.seq, len(p)) + p)
        body = resp[16:]
        assert body == msgpack.packb(msgpack.unpackb(body, raw=False), use_bin_type=True), body
        return msgpack.unpackb(body, raw=False)

    asked = [k for k, _, _ in keys] + ["absent", 10 ** 6]
    got = raw(BATCH_LOOKUP_KV, {"keys": asked})["entries"]
    assert len(got) == len(asked), got
    for (k, off, length), e in zip(keys, got):
        assert e == {"found": True, "handle": h, "kv_offset": off, "kv_length": length}, (k, e)
    assert got[-2:] == [{"found": False}, {"found": False}], got[-2:]
    assert raw(BATCH_EXISTS_KV, {"keys": asked})["results"] == [True] * 70 + [False, False]
    for k, off, length in keys[:len(widths)]:
        assert raw(LOOKUP_KV, {"key": k}) == {"found": True, "handle": h, "kv_offset": off,
                                             "kv_length": length}
        assert raw(EXISTS_KV, {"key": k}) == {"exists": True}
    assert raw(LOOKUP_KV, {"key": "absent"}) == {"found": False}
    assert raw(EXISTS_KV, {"key": "absent"}) == {"exists": False}


@test
def deferred_free_after_owner_leaves(d):
    a, b = Client(d.addr), Client(d.addr)
    h = a.alloc("A")
    rid = h["region_id"]
    a.reg("k1", rid)
    a.reg("k2", rid, 4096)
    assert a.call(RETURN_ALLOC, {"instance_id": "A", "region_id": rid})["success"]
    assert a.reg("k3", rid)["success"] is False  # returned: no new keys
    assert b.call(LOOKUP_KV, {"key": "k1"})["found"]  # data stays readable
    assert b.call(LIST_ALLOCATIONS, {})["allocations"] == []
    st = b.stats()["allocation_manager"]
    assert st["num_allocations"] == 1 and st["deferred_frees"] == 1, st
    b.call(DELETE_KV, {"key": "k1"})
    assert b.stats()["allocation_manager"]["num_allocations"] == 1
    b.call(DELETE_KV, {"key": "k2"})
    st = b.stats()["allocation_manager"]
    assert st["num_allocations"] == 0 and st["pool_free"] == st["pool_total"], st
    # the freed region's token no longer opens anything
    t, _, fd = rm_call(d.sock, 9, handle_bytes(h))
    assert t == 255 and fd is None


@test
def pin_ttl_force_release(d):
    c = Client(d.addr)
    rid = c.alloc("A")["region_id"]
    c.reg("k", rid)
    assert c.call(PIN_KV, {"key": "k"})["exists"]
    deadline = time.time() + 10
    while time.time() < deadline and c.stats()["kv_manager"]["total_pins"]:
        time.sleep(0.05)
    kv = c.stats()["kv_manager"]
    assert kv["total_pins"] == 0 and kv["force_unpins"] == 1, kv
    assert c.call(UNPIN_KV, {"key": "k"}) == {"success": False}
    assert c.call(DELETE_KV, {"key": "k"})["result"] == "DELETED"


pin_ttl_force_release.args = ("--pin-ttl-ms", "300")


@test
def shutdown_message_releases_client(d):
    a, b = Client(d.addr), Client(d.addr)
    rid = a.alloc("A")["region_id"]
    a.reg("k", rid)
    a.call(PIN_KV, {"key": "k"})
    assert a.call(SHUTDOWN, {}) == {"success": True}
    time.sleep(0.2)
    st = b.stats()
    assert st["kv_manager"]["total_pins"] == 0, st
    assert b.call(LIST_ALLOCATIONS, {})["allocations"] == []  # A is disconnected
    assert st["allocation_manager"]["num_allocations"] == 1  # deferred: k references it
    assert b.call(DELETE_KV, {"key": "k"})["result"] == "DELETED"
    assert b.stats()["allocation_manager"]["num_allocations"] == 0


@test
def lease_expiry_releases_client(d):
    a, b = Client(d.addr), Client(d.addr)
    rid = a.alloc("A")["region_id"]
    a.reg("k", rid)
    a.call(PIN_KV, {"key": "k"})
    a.alloc("A")  # an empty region: freed at once when A goes
    deadline = time.time() + 10
    while time.time() < deadline:
        st = b.stats()  # b keeps its own lease alive
        if st["kv_manager"]["total_pins"] == 0:
            break
        time.sleep(0.1)
    assert st["kv_manager"]["total_pins"] == 0, st
    assert st["server"]["leases_expired"] >= 1, st
    assert st["allocation_manager"]["num_allocations"] == 1, st
    assert b.call(LOOKUP_KV, {"key": "k"})["found"]


lease_expiry_releases_client.args = ("--client-lease-ms", "700")

CHILD = r'''
import sys, struct, time, msgpack, zmq
addr, inst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = zmq.Context().socket(zmq.DEALER); s.connect(addr)
seq = [0]
def call(t, p):
    seq[0] += 1
    b = msgpack.packb(p, use_bin_type=True)
    s.send_multipart([b"", struct.pack("!HBBBBBBII", 0xCF00, 1, t, 0, 0, 0, 0, seq[0], len(b)) + b])
    return msgpack.unpackb(s.recv_multipart()[-1][16:], raw=False)
rid = call(1, {"instance_id": inst, "size": 4 << 20})["handle"]["region_id"]
keys = ["shared-%d" % i for i in range(n)]
ents = [{"key": k, "region_id": rid, "kv_offset": i * 4096, "kv_length": 4096}
        for i, k in enumerate(keys)]
mode = sys.argv[4]
if mode == "pin":
    call(0x20, {"entries": ents})
    print(sum(call(0x23, {"keys": keys})["results"]), flush=True)
    time.sleep(3600)
else:
    r = call(0x20, {"entries": ents})["results"]
    print(rid, "".join("1" if x else "0" for x in r), flush=True)
'''


@test
def kill9_client_loses_pins_and_regions(d):
    child = subprocess.Popen([sys.executable, "-c", CHILD, d.addr, "victim", "50", "pin"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "50"
    c = Client(d.addr)
    kv = c.stats()["kv_manager"]
    assert kv["total_pins"] == 50 and kv["pinned_entries"] == 50, kv
    assert c.call(DELETE_KV, {"key": "shared-0"})["result"] == "PINNED"
    child.kill()
    child.wait()
    deadline = time.time() + 5  # the lease is 60 s: only the closed socket can do it
    while time.time() < deadline and c.stats()["kv_manager"]["total_pins"]:
        time.sleep(0.05)
    st = c.stats()
    assert st["kv_manager"]["total_pins"] == 0, st
    assert st["allocation_manager"]["num_allocations"] == 1  # its keys keep it
    assert c.call(LIST_ALLOCATIONS, {})["allocations"] == []
    for i in range(50):
        assert c.call(DELETE_KV, {"key": "shared-%d" % i})["result"] == "DELETED"
    st = c.stats()["allocation_manager"]
    assert st["num_allocations"] == 0 and st["pool_free"] == st["pool_total"], st


kill9_client_loses_pins_and_regions.args = ("--client-lease-ms", "60000")


@test
def a_new_peer_on_a_closed_peers_fd_keeps_its_pins(d):
    # A peer that connects as another closes often gets its fd.  While the
    # daemon is busy, the new peer's first request could be served before
    # the old peer's DISCONNECTED event, which then took the new peer along
    # (its pins released, its regions freed).  Busy clients keep the
    # daemon in its serve loop; each round closes A, connects B, pins and
    # unpins: B must hold its pin.  (Before the fix about half of such runs
    # here lost a pin or two in ~1000 rounds.)
    owner = Client(d.addr)
    owner.reg("k", owner.alloc("owner")["region_id"])
    stop = threading.Event()

    def flood():
        # 64 requests in flight each: the daemon serves bursts of them
        c = Client(d.addr)
        p = msgpack.packb({"key": "k"})
        req = [b"", struct.pack(HDR, 0xCF00, 1, EXISTS_KV, 0, 0, 0, 0, 1, len(p)) + p]
        while not stop.is_set():
            for _ in range(64):
                c.s.send_multipart(req)
            for _ in range(64):
                c.s.recv_multipart()
        c.close()

    threads = [threading.Thread(target=flood) for _ in range(3)]
    for t in threads:
        t.start()
    lost = rounds = 0
    try:
        deadline = time.time() + 6
        while time.time() < deadline:
            a = Client(d.addr)
            a.call(HEARTBEAT, {})
            a.close()
            b = Client(d.addr)
            assert b.call(PIN_KV, {"key": "k"}) == {"exists": True}
            lost += not b.call(UNPIN_KV, {"key": "k"})["success"]
            b.close()
            rounds += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert rounds > 100 and lost == 0, "%d of %d new peers lost their pin" % (lost, rounds)
    kv = owner.stats()["kv_manager"]
    assert kv["total_pins"] == 0 and kv["unpin_underflows"] == 0, kv


@test
def batch_register_race_leaks_nothing(d):
    n = 300
    kids = [subprocess.Popen([sys.executable, "-c", CHILD, d.addr, "racer%d" % i, str(n), "reg"],
                             stdout=subprocess.PIPE, text=True) for i in range(4)]
    outs = [k.communicate(timeout=60)[0].split() for k in kids]
    wins = [o[1] for o in outs]
    for i in range(n):
        assert sum(w[i] == "1" for w in wins) == 1, "key %d won %d times" % (i, sum(
            w[i] == "1" for w in wins))
    c = Client(d.addr)
    st = c.stats()
    assert st["kv_manager"]["total_entries"] == n
    # every key points into the region of the racer that won it
    rids = [int(o[0]) for o in outs]
    got = c.call(BATCH_LOOKUP_KV, {"keys": ["shared-%d" % i for i in range(n)]})["entries"]
    for i, e in enumerate(got):
        assert e["handle"]["region_id"] == rids[[w[i] for w in wins].index("1")]
    # the racers exited: their regions went (empty ones at once), keys keep the rest
    time.sleep(0.3)
    for i in range(n):
        c.call(DELETE_KV, {"key": "shared-%d" % i})
    st = c.stats()["allocation_manager"]
    assert st["num_allocations"] == 0 and st["pool_free"] == st["pool_total"], st


# ---------------------------------------------------------------- resource manager
@test
def rm_stats_getfd_zero_copy(d):
    t, p, _ = rm_call(d.sock, 5)
    assert t == 6
    n, = struct.unpack("=I", p[:4])
    pid, dtype, total, free, align = struct.unpack("=IIQQQ", p[4:36])
    assert n == 1 and total == 64 * MB and free == total and align == 2 * MB
    w, r = Client(d.addr), Client(d.addr)
    h = w.alloc("writer")
    t, p, fd = rm_call(d.sock, 9, handle_bytes(h))
    assert t == 10 and struct.unpack("=i", p)[0] == 0 and fd is not None
    m1 = mmap.mmap(fd, h["length"], offset=h["offset"])
    os.close(fd)
    m1[4096:4096 + 11] = b"hello, pool"
    w.reg("doc", h["region_id"], 4096, 11)
    e = r.call(LOOKUP_KV, {"key": "doc"})
    t, p, fd2 = rm_call(d.sock, 9, handle_bytes(e["handle"]))
    m2 = mmap.mmap(fd2, e["handle"]["length"], offset=e["handle"]["offset"])
    os.close(fd2)
    assert m2[e["kv_offset"]:e["kv_offset"] + e["kv_length"]] == b"hello, pool"
    m1.close()
    m2.close()
    bad = dict(h, auth_token=h["auth_token"] ^ 1)
    t, p, fd = rm_call(d.sock, 9, handle_bytes(bad))
    assert t == 255 and fd is None
    t, p, fd = rm_call(d.sock, 9, handle_bytes(dict(h, region_id=777)))
    assert t == 255 and fd is None
    assert w.stats()["server"]["rm_bad_token"] == 2
    st = os.stat(d.sock)
    assert st.st_mode & 0o777 == 0o600


RM_TCP_PORT = free_port()


def tcp_rm_call(s, mtype, payload=b"", version=2):
    s.sendall(struct.pack("<IHHI", 0x4D415255, version, mtype, len(payload)) + payload)
    hdr = b""
    while len(hdr) < 12:
        chunk = s.recv(12 - len(hdr))
        assert chunk, "resource manager closed the connection"
        hdr += chunk
    magic, ver, t, n = struct.unpack("<IHHI", hdr)
    assert magic == 0x4D415255 and ver == 2, (magic, ver)
    p = b""
    while len(p) < n:
        p += s.recv(n - len(p))
    return t, p


@test
def rm_tcp_get_access_maps_by_path(d):
    w, r = Client(d.addr), Client(d.addr)
    hs = r.call(HANDSHAKE, {"instance_id": "reader"})
    assert hs["rm_address"] == "127.0.0.1:%d" % RM_TCP_PORT, hs  # Maru's clients dial it
    s = socket.create_connection(("127.0.0.1", RM_TCP_PORT), timeout=10)
    t, p = tcp_rm_call(s, 5)  # STATS, then more requests on the same connection
    n, plen, dtype, total, free = struct.unpack("<IIIQQ", p[:28])
    assert t == 6 and n == 1 and total == 64 * MB and free == total
    h = w.alloc("writer")
    req = struct.pack("<QQQQ", h["region_id"], h["offset"], h["length"], h["auth_token"])
    t, p = tcp_rm_call(s, 9, req + struct.pack("<H", 6) + b"host:1")
    status, plen = struct.unpack("<iI", p[:8])
    path = p[8:8 + plen].decode()
    off, length = struct.unpack("<QQ", p[8 + plen:24 + plen])
    assert t == 10 and status == 0 and (off, length) == (h["offset"], h["length"]), p
    assert path == "/proc/%d/fd/%s" % (d.proc.pid, path.rsplit("/", 1)[1]), path
    fd = os.open(path, os.O_RDWR)  # as Maru's MaruShmClient.mmap does
    m1 = mmap.mmap(fd, length, offset=off)
    os.close(fd)
    m1[8192:8192 + 9] = b"over tcp!"
    w.reg("tcpdoc", h["region_id"], 8192, 9)
    e = r.call(LOOKUP_KV, {"key": "tcpdoc"})
    t, p, fd2 = rm_call(d.sock, 9, handle_bytes(e["handle"]))  # the fd-passing way agrees
    m2 = mmap.mmap(fd2, e["handle"]["length"], offset=e["handle"]["offset"])
    os.close(fd2)
    assert m2[e["kv_offset"]:e["kv_offset"] + e["kv_length"]] == b"over tcp!"
    m1.close()
    m2.close()
    bad = struct.pack("<QQQQ", h["region_id"], h["offset"], h["length"], h["auth_token"] ^ 1)
    t, p = tcp_rm_call(s, 9, bad)
    assert t == 255 and struct.unpack("<i", p[:4])[0] == -errno.EACCES, p
    t, p = tcp_rm_call(s, 9, req[:16])  # shorter than a handle
    assert t == 255 and struct.unpack("<i", p[:4])[0] == -errno.EINVAL, p
    t, p = tcp_rm_call(s, 1, struct.pack("<QII", MB, 0, 0))  # regions come from the RPC
    assert t == 255 and b"REQUEST_ALLOC" in p, p
    t, p = tcp_rm_call(s, 5, version=1)  # version 1 is the Unix socket's
    assert t == 255 and s.recv(1) == b""  # and closes the connection
    s.close()
    st = w.stats()["server"]
    assert st["rm_bad_token"] == 1 and st["rm_bad"] == 2, st


rm_tcp_get_access_maps_by_path.args = ("--rm-tcp", "127.0.0.1:%d" % RM_TCP_PORT)


@test
def rm_alloc_free(d):
    t, p, fd = rm_call(d.sock, 1, struct.pack("=QII", 3 * MB, 0xFFFFFFFF, 0))
    assert t == 2 and fd is not None
    os.close(fd)
    status, _, rid, off, length, tok, req = struct.unpack("=iIQQQQQ", p)
    assert status == 0 and length == 4 * MB and req == 3 * MB
    h = {"region_id": rid, "offset": off, "length": length, "auth_token": tok}
    t, p, _ = rm_call(d.sock, 3, handle_bytes(dict(h, auth_token=tok + 1)))
    assert t == 4 and struct.unpack("=i", p)[0] != 0
    t, p, _ = rm_call(d.sock, 3, handle_bytes(h))
    assert t == 4 and struct.unpack("=i", p)[0] == 0
    t, p, _ = rm_call(d.sock, 5)
    assert struct.unpack("=IIQQQ", p[4:36])[3] == 64 * MB


@test
def rm_bad_input(d):
    # wrong magic -> ERROR_RESP; truncated header -> closed; unknown type; short payload
    t, p, _ = rm_call(d.sock, 0, raw=struct.pack("=IHHI", 0x12345678, 1, 5, 0))
    assert t == 255
    assert rm_call(d.sock, 0, raw=b"MARU")[0] is None
    t, p, _ = rm_call(d.sock, 0, raw=struct.pack("=IHHI", 0x4D415255, 1, 77, 0))
    assert t == 255
    t, p, _ = rm_call(d.sock, 0, raw=struct.pack("=IHHI", 0x4D415255, 1, 9, 4) + b"abcd")
    assert t == 255
    t, p, _ = rm_call(d.sock, 0, raw=struct.pack("=IHHI", 0x4D415255, 1, 9, 5000))
    assert t == 255
    assert Client(d.addr).stats()["server"]["rm_bad"] == 5


# ---------------------------------------------------------------- hostile input
@test
def rpc_bad_input_answered_and_counted(d):
    c = Client(d.addr)
    rid = c.alloc("A")["region_id"]
    c.reg("keep", rid)
    before = c.stats()

    def hdr(t, n, magic=0xCF00, ver=1, seq=9):
        return struct.pack(HDR, magic, ver, t, 0, 0, 0, 0, seq, n)
    cases = [
        b"",                                         # empty
        b"\xcf\x00\x01",                              # truncated header
        hdr(0x11, 0, magic=0xBEEF),                  # wrong magic
        hdr(0x11, 0, ver=2),                         # wrong version
        hdr(0x11, 100) + b"\x80",                    # payload truncated
        hdr(0x11, 1 << 30),                          # oversized
        hdr(0x11, 1) + b"\x01",                      # not a map
        hdr(0x11, 2) + b"\x81\x01",                  # map key not a string / truncated
        hdr(0x11, 5) + b"\x81\xa3key" ,              # value missing
        hdr(0x13, 1) + b"\x80",                      # key missing
        hdr(0x10, len(msgpack.packb({"key": "x", "region_id": "one", "kv_offset": 0,
                                     "kv_length": 1}))) + msgpack.packb(
            {"key": "x", "region_id": "one", "kv_offset": 0, "kv_length": 1}),
        hdr(0x21, 6) + b"\x81\xa4keys\xdd",            # array header truncated
        hdr(0x21, 10) + b"\x81\xa4keys\xdd\xff\xff\xff\xff\x00",  # huge count
        hdr(0x11, 7) + b"\x81\xa3key\xc0\xc0",       # nil key, trailing byte
        hdr(0x77, 1) + b"\x80",                      # unknown type
        hdr(0x11, 1 + 4 + 1 + 4 * 20) + b"\x81\xa3key" + b"\x91" * 20 + b"\x00" * 20,
    ]
    for raw in cases:
        r = msgpack.unpackb(c.raw(raw)[16:], raw=False)
        assert "error" in r, (raw, r)
    rng = random.Random(7)
    c = Client(d.addr)  # unbound: any flipped register that still decodes is refused
    good = struct.pack(HDR, 0xCF00, 1, 0x10, 0, 0, 0, 0, 1, 0)
    p = msgpack.packb({"key": "k", "region_id": rid, "kv_offset": 0, "kv_length": 1})
    base = bytearray(good[:12] + struct.pack("!I", len(p)) + p)
    for i in range(1500):
        m = bytearray(base)
        op = i % 3
        if op == 0:
            m = m[:rng.randrange(len(m))]
        elif op == 1:
            for _ in range(rng.randint(1, 4)):
                j = rng.randrange(len(m))
                m[j] ^= 1 << rng.randrange(8)
        else:
            m = bytearray(rng.randbytes(rng.randrange(64)))
        c.raw(bytes(m))
    after = c.stats()
    assert after["kv_manager"]["total_entries"] == 1, after
    assert c.call(LOOKUP_KV, {"key": "keep"})["found"]
    s = after["server"]
    bad = s["bad_header"] + s["bad_payload"] + s["oversized"] + s["unknown_type"]
    assert bad - sum(before["server"][k] for k in ("bad_header", "bad_payload", "oversized",
                                                   "unknown_type")) >= len(cases) + 500, s
    assert d.proc.poll() is None


@test
def ipc_endpoint_and_sigterm_cleanup(d):
    tmp = tempfile.mkdtemp(prefix="poold-ipc-")
    ep = "ipc://" + os.path.join(tmp, "rpc")
    sock = os.path.join(tmp, "rm.sock")
    before = set(os.listdir("/dev/shm"))
    p = subprocess.Popen([os.path.join(BUILD, "kvtier-poold"), "--rpc", ep, "--rm-socket", sock,
                          "--shm-pool", "8M"], stderr=subprocess.PIPE, text=True)
    try:
        assert "ready" in p.stderr.readline()
        # the pool file is unlinked once open: even a SIGKILL leaves nothing in /dev/shm
        created = set(os.listdir("/dev/shm")) - before
        assert not any(n.startswith("kvtier-poold.%d." % p.pid) for n in created), created
        c = Client(ep)
        assert c.alloc("A", 8 * MB)["length"] == 8 * MB
        assert c.call(REQUEST_ALLOC, {"instance_id": "A", "size": 1})["success"] is False
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=20)[1]
        assert p.returncode == 0, err
        assert "AddressSanitizer" not in err and "LeakSanitizer" not in err, err
        assert not os.path.exists(sock)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


ipc_endpoint_and_sigterm_cleanup.no_daemon = True


def notify_wait(ns, proc, want, deadline_s=20):
    """The first datagram on the NOTIFY_SOCKET @ns that holds the line @want, as a dict."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        ns.settimeout(max(0.05, min(1.0, deadline - time.time())))
        try:
            msg = ns.recv(4096).decode()
        except socket.timeout:
            assert proc.poll() is None, "daemon exited %s before %s" % (proc.returncode, want)
            continue
        fields = dict(l.split("=", 1) for l in msg.splitlines() if "=" in l)
        if want in msg.splitlines():
            return fields
    raise AssertionError("no %s on NOTIFY_SOCKET" % want)


@test
def systemd_notify_ready_and_sigterm_stop(d):
    """Type=notify: READY=1 only once the RPC endpoint and the RM socket take connections;
    SIGTERM: STOPPING=1, every client's connection closed, exit 0, nothing left behind, and
    the same endpoints free for the next start (systemd's restart)."""
    tmp = tempfile.mkdtemp(prefix="poold-notify-")
    port = free_port()
    ep = "tcp://127.0.0.1:%d" % port
    sock = os.path.join(tmp, "rm.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(os.path.join(tmp, "notify"))
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(tmp, "notify"))
    args = [os.path.join(BUILD, "kvtier-poold"), "--rpc", ep, "--rm-socket", sock,
            "--shm-pool", "8M"]
    procs = []
    try:
        for run in range(2):
            log = open(os.path.join(tmp, "stderr%d" % run), "w+")
            p = subprocess.Popen(args, stderr=log, env=env)
            procs.append(p)
            ready = notify_wait(ns, p, "READY=1")
            # the moment systemd would start dependent units, both sockets answer
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            rm = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            rm.connect(sock)
            rm.close()
            assert int(ready["MAINPID"]) == p.pid, ready
            c = Client(ep)
            assert c.call(HEARTBEAT, {})["connection"]
            h = c.alloc("A", 4 * MB)
            assert c.reg("k%d" % run, h["region_id"])["success"]
            assert c.call(LOOKUP_KV, {"key": "k%d" % run})["found"]
            p.send_signal(signal.SIGTERM)
            notify_wait(ns, p, "STOPPING=1")
            assert p.wait(20) == 0, "exit %s" % p.returncode
            # told: the open connection sees the end of the stream
            raw.settimeout(10)
            while raw.recv(4096):
                pass
            raw.close()
            c.close()
            log.seek(0)
            err = log.read()
            log.close()
            assert "kvtier-poold: stopped" in err, err
            assert "Sanitizer" not in err and "runtime error" not in err, err
            assert not os.path.exists(sock)
            assert not [n for n in os.listdir("/dev/shm")
                        if n.startswith("kvtier-poold.%d." % p.pid)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)


systemd_notify_ready_and_sigterm_stop.no_daemon = True


@test
def help_and_usage_errors(d):
    exe = os.path.join(BUILD, "kvtier-poold")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--shm-pool" in r.stdout
    r = subprocess.run([exe, "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2
    r = subprocess.run([exe], capture_output=True, text=True)
    assert r.returncode == 2 and "no pool" in r.stderr
    r = subprocess.run([exe, "--pool", "/nonexistent/dir/x:4M"], capture_output=True, text=True)
    assert r.returncode == 1 and "/nonexistent/dir/x" in r.stderr
    r = subprocess.run([exe, "--shm-pool", "4M", "--rm-socket", "/tmp/kvt-poold-usage-%d.sock"
                        % os.getpid(), "--rm-tcp", "no-port"], capture_output=True, text=True)
    assert r.returncode == 1 and "--rm-tcp \"no-port\": not HOST:PORT" in r.stderr, r.stderr


help_and_usage_errors.no_daemon = True


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metrics_cases  # noqa: E402
metrics_cases.register(sys.modules[__name__])


def main():
    global BUILD
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    BUILD = os.path.abspath(sys.argv[1])
    only = set(sys.argv[2:])
    if not os.path.exists(os.path.join(BUILD, "kvtier-poold")):
        print("SKIP pool: %s/kvtier-poold not built" % BUILD)
        return 0
    passed = failed = 0
    for fn in TESTS:
        if only and fn.__name__ not in only:
            continue
        d = None
        try:
            if not getattr(fn, "no_daemon", False):
                d = Daemon(*getattr(fn, "args", ()))
            fn(d)
            if d:
                rc, text = d.stop()
                assert rc == 0, "daemon exit %s:\n%s" % (rc, text[-2000:])
            print("PASS %s" % fn.__name__, flush=True)
            passed += 1
        except Exception as e:
            tb = traceback.format_exc().strip().splitlines()
            where = [l for l in tb if "run_pool_tests.py" in l]
            print("FAIL %s: %s %s" % (fn.__name__, (repr(e) or type(e).__name__)[:1500],
                                      where[-1].strip() if where else ""), flush=True)
            failed += 1
            if d:
                try:
                    d.stop()
                except Exception as e2:
                    print("  daemon: %s" % str(e2)[:1500])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
