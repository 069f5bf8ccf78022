"""kvtier-poold --metrics: cases run_pool_tests.py registers (kept apart so
that file stays small).  Real HTTP against the daemon's endpoint."""
import os
import shutil
import subprocess
import urllib.error
import urllib.request


def parse(text):
    """{(name, labels): value} of Prometheus text, comments skipped."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        out[(name, labels.rstrip("}"))] = float(value)
    return out


def register(m):
    @m.test
    def metrics_endpoint_counts_rpcs_by_type(d):
        addr = "127.0.0.1:%d" % m.free_port()
        dm = m.Daemon("--metrics", addr)
        try:
            c = m.Client(dm.addr)
            for _ in range(7):
                c.call(m.HEARTBEAT, {})
            for _ in range(3):
                c.stats()
            rid = c.alloc("inst-a")["region_id"]
            c.raw(b"\x00" * 5)  # malformed: answered with an error and counted
            # a 32-hex-digit key (the pool adapter's kind) enters the shared index
            assert c.reg("0123456789abcdef" * 2, rid)["success"]
            url = "http://%s/metrics" % addr
            with urllib.request.urlopen(url, timeout=10) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                text = r.read().decode()
            s = parse(text)
            h = "kvtier_poold_rpc_seconds"
            assert s[(h + "_count", 'type="heartbeat"')] == 7, text
            assert s[(h + "_count", 'type="get_stats"')] == 3
            assert s[(h + "_count", 'type="request_alloc"')] == 1
            assert s[(h + "_bucket", 'type="heartbeat",le="+Inf"')] == 7
            assert s[("kvtier_poold_requests_total", "")] == 13
            assert s[("kvtier_poold_errors_total", 'reason="bad_header"')] == 1
            assert s[("kvtier_poold_pool_bytes", 'pool="0"')] == 64 << 20
            assert s[("kvtier_poold_pool_free_bytes", 'pool="0"')] == (64 - 4) << 20
            assert s[("kvtier_poold_clients", "")] == 1
            assert s[("kvtier_poold_shared_index_keys", 'state="live"')] == 1
            assert s[("kvtier_poold_shared_index_keys", 'state="tombstone"')] == 0
            assert s[("kvtier_poold_shared_index_slots", "")] > 0
            assert s[("kvtier_poold_shared_index_incomplete", "")] == 0
            assert s[("kvtier_poold_shared_index_rebuilds_total", "")] == 0
            if shutil.which("promtool"):
                p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                assert p.returncode == 0, p.stdout
            try:
                urllib.request.urlopen("http://%s/other" % addr, timeout=10)
                raise AssertionError("/other answered")
            except urllib.error.HTTPError as e:
                assert e.code == 404
            # the tool reads the same endpoint
            tool = os.path.join(m.BUILD, "kvtier")
            if os.path.exists(tool):
                p = subprocess.run([tool, "stats", "--url", "http://" + addr],
                                   stdout=subprocess.PIPE, text=True, timeout=30)
                assert p.returncode == 0 and "kvtier_poold_requests_total" in p.stdout, p.stdout
                assert 'kvtier_poold_rpc_seconds_count{type="heartbeat"}' in p.stdout
            c.close()
        finally:
            rc, text = dm.stop()
        assert rc == 0, text[-2000:]

    metrics_endpoint_counts_rpcs_by_type.no_daemon = True

    @m.test
    def metrics_option_refuses_a_bad_address(d):
        exe = os.path.join(m.BUILD, "kvtier-poold")
        p = subprocess.run([exe, "--shm-pool", "8M", "--metrics", "localhost"],
                           stderr=subprocess.PIPE, text=True, timeout=30)
        assert p.returncode == 2, p.stderr
        assert "--metrics" in p.stderr and "localhost" in p.stderr and "PORT" in p.stderr, p.stderr

    metrics_option_refuses_a_bad_address.no_daemon = True
