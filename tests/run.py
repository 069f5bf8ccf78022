#!/usr/bin/env python3
"""Run every kvtier test and print one closing line CI reads: `N passed, N failed, N skipped`.

What runs (each line of output is PASS/FAIL/SKIP name):
  - the include-layering check (tests/check_layers.py, the table in README "Source layout");
  - every unit-test program (tests/**/test_*.c, built by configure.py at the same path below
    build/<variant>/tests/, e.g. l2/fs/test_fs_adapter) of build/asan (ASan+UBSan), one line per
    case, and again of build/tsan (ThreadSanitizer; its cases are named tsan/...), except the
    fault-injection programs (tests/fault/: the Nth allocation, mapping, fd, thread fails, for
    every N; ASan only);
  - kvtier-poold's protocol and multi-process tests (tests/poold/run_pool_tests.py, Python; its
    cases are named poold/...);
  - the kvtier Python package's pytest suite (tests/python), against build/release/python;
  - the C embedding example from README.md, compiled against build/asan and run, and linked against
    the build tree's shared library (build/release/libkvtier.so, found through its SONAME chain);
  - kvtier-stress on every tier, under ASan and under TSan, as STRESS_PLAN below says (the one
    place the plan is written; KVT_STRESS_SECONDS, default 30, scales it);
  - `ninja install` into a temporary DESTDIR, then the example built with pkg-config against it.
  - `ninja deb` (deb/...): each Debian package holds its files, libkvtier-dev needs the very
    libkvtier0 built with it, and lintian reports no error.
  - every libFuzzer target of build/fuzz for KVT_FUZZ_SECONDS (default 20) over its seed corpus
    (tests/fuzz/corpus/NAME); `ninja fuzz` runs only those, for 600 s each unless KVT_FUZZ_SECONDS.
`ninja check` builds the asan, tsan, clang and release variants and the fuzz targets first.

    tests/run.py [-k PATTERN] [-j N] [--fuzz-only]
-k runs only the groups and unit-test programs whose name contains PATTERN (e.g. -k l2/,
-k l2/fs/, -k poold/ or -k stress/pool); -j runs that many unit-test programs at once (output
stays in order).
"""
import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import configure  # noqa: E402  (the package and library lists live there only)
counts = {"passed": 0, "failed": 0, "skipped": 0}
failures = []
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:strict_string_checks=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "TSAN_OPTIONS": "halt_on_error=1:second_deadlock_stack=1:suppressions=%s"
                    % os.path.join(ROOT, "tests", "tsan.supp"),
}


def record(status, name, detail=""):
    key = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}[status]
    counts[key] += 1
    print("%s %s%s" % (status, name, (": " + detail) if detail else ""), flush=True)
    if status == "FAIL":
        failures.append(name)


def run(cmd, timeout, env=None, cwd=ROOT):
    """(exit status, stdout+stderr) of @cmd under the sanitizer options; -1 past @timeout."""
    e = dict(os.environ, **SAN_ENV)
    e.update(env or {})
    try:
        p = subprocess.run(cmd, cwd=cwd, env=e, timeout=timeout, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as ex:
        out = ex.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        return -1, out + "\n(time limit %ds)" % timeout


def parse_cases(out, prefix):
    seen = 0
    for line in out.splitlines():
        m = re.match(r"^(PASS|FAIL|SKIP) (\S+)(.*)$", line)
        if m:
            seen += 1
            record(m.group(1), prefix + m.group(2), m.group(3).lstrip(": "))
    return seen


def layers_check():
    rc, out = run([sys.executable, "tests/check_layers.py"], timeout=120)
    if parse_cases(out, "") == 0 or rc != 0:
        print(out)
    if rc != 0 and not any(f.startswith("layers/") for f in failures):
        record("FAIL", "layers/check", "exit %d" % rc)


def unit_test_programs():
    """The unit-test programs configure.py builds, by their path below tests/ without .c
    (l2/fs/test_fs_adapter): from the sources, so a program left in a build folder after its
    source moved or went away is not run, and one not built is a failure, not a silence."""
    return [os.path.relpath(s, "tests")[:-2] for s in configure.sources(configure.TEST_SOURCES)]


# the fault-injection programs (tests/fault/) need LeakSanitizer's check after every
# failure point, which ThreadSanitizer has not: they run under ASan only
ASAN_ONLY = ("fault/",)


def unit_tests(variant, prefix, jobs, selected):
    tests_dir = os.path.join(ROOT, "build", variant, "tests")
    suites = []
    for name in unit_test_programs():
        suite = prefix + name
        binary = os.path.join(tests_dir, name)
        if not selected(suite) or (variant != "asan" and name.startswith(ASAN_ONLY)):
            continue
        if not os.access(binary, os.X_OK):
            record("FAIL", suite, "not built (ninja build/%s/tests/%s)" % (variant, name))
            continue
        suites.append((suite, binary))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        runs = [(suite, pool.submit(run, [binary], 900)) for suite, binary in suites]
        for suite, fut in runs:
            rc, out = fut.result()
            seen = parse_cases(out, suite + "/")
            if rc != 0 or seen == 0:
                print(out[-6000:])
            if seen == 0:
                record("FAIL", suite, "ran no case (exit %d)" % rc)
            elif rc != 0 and not any(f.startswith(suite + "/") for f in failures):
                record("FAIL", suite, "exit %d after its cases" % rc)


def fuzz_tests(seconds, selected):
    """Each libFuzzer target for @seconds over a scratch corpus seeded from the tree's (new inputs go
    to the scratch directory; a crash input is printed and kept in build/fuzz)."""
    for exe in sorted(glob.glob(os.path.join(ROOT, "build/fuzz/fuzz_*"))):
        name = os.path.basename(exe)
        if not selected("fuzz/" + name):
            continue
        seeds = os.path.join(ROOT, "tests/fuzz/corpus", name[len("fuzz_"):])
        scratch = tempfile.mkdtemp(prefix="kvt-fuzz-")
        rc, out = run([exe, "-max_total_time=%d" % seconds, "-timeout=10", "-rss_limit_mb=2048",
                       "-print_final_stats=1", "-artifact_prefix=" + os.path.join(ROOT, "build/fuzz/"),
                       scratch, seeds], timeout=seconds + 120)
        shutil.rmtree(scratch, ignore_errors=True)
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
        if rc != 0 or not runs:
            print(out[-6000:])
        record("PASS" if rc == 0 and runs else "FAIL", "fuzz/%s-%ds" % (name, seconds),
               ("%s inputs" % runs.group(1)) if rc == 0 and runs else "exit %d" % rc)


def readme_example():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- example:begin -->\s*```c\n(.*?)```\s*<!-- example:end -->", text, re.S)
    if not m:
        record("FAIL", "readme/example", "no example block in README.md")
        return None
    tmp = tempfile.mkdtemp(prefix="kvt-example-")
    src = os.path.join(tmp, "example.c")
    with open(src, "w") as f:
        f.write(m.group(1))
    return tmp, src


def pc_libs():
    """What a static link of libkvtier.a needs, without jemalloc (the asan build has none)."""
    names = [p for p in configure.PKGCONFIG if p != "jemalloc"]
    return subprocess.run(["pkg-config", "--libs"] + names,
                          stdout=subprocess.PIPE, text=True).stdout.split() + configure.EXTRA_LIBS


def example_tests():
    got = readme_example()
    if not got:
        return
    tmp, src = got
    exe = os.path.join(tmp, "example")
    cc = ["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
          "-I" + os.path.join(ROOT, "include"), src, os.path.join(ROOT, "build/asan/libkvtier.a"),
          "-o", exe] + pc_libs()
    rc, out = run(cc, timeout=120)
    if rc != 0:
        print(out)
        record("FAIL", "readme/example-compiles", "see compiler output")
    else:
        record("PASS", "readme/example-compiles")
        rc, out = run([exe], timeout=120)
        if rc != 0:
            print(out)
        record("PASS" if rc == 0 else "FAIL", "readme/example-runs", "" if rc == 0 else "exit %d" % rc)
    shared_library_test(src, tmp, os.path.join(ROOT, "build/release"), "readme/example-build-tree-so")
    install_test(src, tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def shared_library_test(src, tmp, libdir, name):
    """The example linked with -lkvtier against libdir and run with only LD_LIBRARY_PATH to find
    it: the program asks for the SONAME, so the whole symlink chain must be there."""
    exe = os.path.join(tmp, "example-shared")
    rc, out = run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(ROOT, "include"),
                   src, "-L" + libdir, "-lkvtier", "-o", exe], timeout=120)
    if rc == 0:
        rc, out = run([exe], timeout=120, env={"LD_LIBRARY_PATH": libdir})
    if rc != 0:
        print(out)
    record("PASS" if rc == 0 else "FAIL", name, "" if rc == 0 else "exit %d" % rc)


def install_test(src, tmp):
    dest = os.path.join(tmp, "destdir")
    rc, out = run(["ninja", "install"], timeout=300, env={"DESTDIR": dest})
    if rc != 0:
        print(out)
        record("FAIL", "install/destdir", "ninja install failed")
        return
    pcdir = glob.glob(os.path.join(dest, "**/pkgconfig"), recursive=True)
    if not pcdir:
        record("FAIL", "install/destdir", "no pkgconfig dir installed")
        return
    env = {"PKG_CONFIG_PATH": pcdir[0],
           "PKG_CONFIG_SYSROOT_DIR": dest}
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "--static", "kvtier"],
                           stdout=subprocess.PIPE, text=True,
                           env=dict(os.environ, **env)).stdout.split()
    exe = os.path.join(tmp, "example-installed")
    static_lib = os.path.join(os.path.dirname(pcdir[0]), "libkvtier.a")
    flags = [f for f in flags if f != "-lkvtier"]
    rc, out = run(["gcc", "-std=gnu11", src, static_lib, "-o", exe] + flags, timeout=120)
    if rc == 0:
        rc, out = run([exe], timeout=120)
    if rc != 0:
        print(out)
    record("PASS" if rc == 0 else "FAIL", "install/pkg-config-example")
    shared_library_test(src, tmp, os.path.dirname(pcdir[0]), "install/shared-example")
    python_install_test(dest)


def python_install_test(dest):
    """The installed Python package, imported by Debian's python3 from outside the tree, does a
    round trip: where Debian's python3 looks under the prefix (configure.python_site)."""
    site = glob.glob(os.path.join(dest, "**/dist-packages/kvtier/_kvtier.abi3.so"), recursive=True)
    if not site:
        record("FAIL", "install/python-package", "no kvtier package under dist-packages")
        return
    code = ("import kvtier; s = kvtier.Store(chunk_size=16, kv_layers=1, kv_heads=1, head_dim=64,"
            " max_local_cpu_size='0.01'); k = s.chunk_keys(range(16)); s.put(k, [b'x' * 4096]);"
            " b = [bytearray(4096)]; assert s.get(k, b) == [4096] and b[0] == b'x' * 4096;"
            " assert kvtier.__file__.startswith(%r); s.close(); print('round trip ok')"
            % os.path.dirname(os.path.dirname(site[0])))
    rc, out = run(["/usr/bin/python3", "-c", code], timeout=120, cwd="/",
                  env={"PYTHONPATH": os.path.dirname(os.path.dirname(site[0]))})
    if rc != 0:
        print(out)
    record("PASS" if rc == 0 else "FAIL", "install/python-package")


def deb_files(triplet):
    """package -> the paths (as dpkg-deb --contents names them) it must hold."""
    lib = "./usr/lib/%s/" % triplet
    return {
        "libkvtier0": [lib + configure.SO_REAL, lib + configure.SONAME],
        "libkvtier-dev": ["./usr/include/kvtier.h", "./usr/include/kvtier/l2.h",
                          "./usr/include/kvtier/cuda.h", lib + "libkvtier.a", lib + "libkvtier.so",
                          lib + "pkgconfig/kvtier.pc"],
        "kvtier-tools": ["./usr/bin/kvtier", "./usr/bin/kvtier-bench", "./usr/bin/kvtier-stress",
                         "./usr/share/man/man1/kvtier.1.gz"],
        "kvtier-poold": ["./usr/bin/kvtier-poold", "./lib/systemd/system/kvtier-poold.service",
                         "./etc/default/kvtier-poold", "./usr/share/man/man1/kvtier-poold.1.gz"],
        "python3-kvtier": ["./usr/lib/python3/dist-packages/kvtier/__init__.py",
                           "./usr/lib/python3/dist-packages/kvtier/" + configure.PY_EXT],
    }


def deb_tests():
    """`ninja deb`, then each package's metadata and files: what apt would install."""
    rc, out = run(["ninja", "deb"], timeout=600)
    if rc != 0:
        print(out[-6000:])
        record("FAIL", "deb/build", "ninja deb: exit %d" % rc)
        return
    record("PASS", "deb/build")
    triplet = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], stdout=subprocess.PIPE,
                             text=True).stdout.strip()
    for pkg, want in deb_files(triplet).items():
        debs = glob.glob(os.path.join(ROOT, "build/deb/%s_%s_*.deb" % (pkg, configure.VERSION)))
        if len(debs) != 1:
            record("FAIL", "deb/" + pkg, "%d packages built" % len(debs))
            continue
        info = subprocess.run(["dpkg-deb", "-f", debs[0], "Package", "Depends"],
                              stdout=subprocess.PIPE, text=True).stdout
        names = set()
        for line in subprocess.run(["dpkg-deb", "-c", debs[0]], stdout=subprocess.PIPE,
                                   text=True).stdout.splitlines():
            # mode owner size date time NAME [-> TARGET]
            names.add(line.split()[5])
        missing = [w for w in want if w not in names]
        why = "missing " + ", ".join(missing) if missing else ""
        if pkg == "libkvtier-dev" and "libkvtier0 (= %s)" % configure.VERSION not in info:
            why = "does not depend on its libkvtier0: " + info
        if pkg == "libkvtier0":
            shlibs = subprocess.run(["dpkg-deb", "--info", debs[0], "shlibs"],
                                    stdout=subprocess.PIPE, text=True).stdout
            if "libkvtier 0 libkvtier0" not in shlibs:
                why = "shlibs: %r" % shlibs
        if pkg == "kvtier-poold":
            unit = subprocess.run("dpkg-deb --fsys-tarfile %s | tar -xO "
                                  "./lib/systemd/system/kvtier-poold.service" % debs[0],
                                  shell=True, stdout=subprocess.PIPE, text=True).stdout
            if "Type=notify" not in unit or "ExecStart=/usr/bin/kvtier-poold " not in unit:
                why = "unit: %r" % unit
        record("FAIL" if why else "PASS", "deb/" + pkg, why)
    if not shutil.which("lintian"):
        record("SKIP", "deb/lintian", "lintian is not installed")
        return
    rc, out = run(["lintian"] + sorted(glob.glob(os.path.join(ROOT, "build/deb/*.deb"))), timeout=300)
    errors = [l for l in out.splitlines() if l.startswith("E:")]
    tags = [l for l in out.splitlines() if l[:2] in ("E:", "W:")]
    if tags:
        print("\n".join(tags))
    record("FAIL" if errors else "PASS", "deb/lintian", "%d errors" % len(errors) if errors else "")


# The stress plan: (name, kvtier-stress arguments, length in units of KVT_STRESS_SECONDS,
# variants).  What each tier's run does to kvtier is kvtier-stress --help's to say.
STRESS_PLAN = (
    # a short pin lease keeps the pin-monitor racing the index actor (it once touched an entry a
    # duplicate insert had just freed)
    ("l1", ["--tier", "l1", "--pin-ttl-ms", "5"], 1, ("asan", "tsan")),
    # an emulated device in /dev/shm, reopened and checked at the end
    ("dax", ["--tier", "dax"], 2, ("asan", "tsan")),
    # a fresh directory in /var/tmp, injected EIO, chunk files corrupted behind the adapter's back
    ("fs", ["--tier", "fs"], 2, ("asan", "tsan")),
    ("fs-staging", ["--tier", "fs", "--fs-mode", "staging"], 2 / 3, ("asan",)),
    # 1 MiB chunks: a get of 5 or more loads in waves, promoted while the next loads
    ("fs-waves", ["--tier", "fs", "--chunk-kb", "1024"], 2 / 3, ("tsan",)),
    # a Redis Cluster of 3 masters the harness starts, values corrupted, a master paused 400 ms
    # every 2.5 s
    ("resp", ["--tier", "resp"], 1, ("asan", "tsan")),
    # 3 engine processes sharing one keyspace through a kvtier-poold the harness starts, one
    # SIGKILLed while it holds pins and replaced every quarter of the run
    ("pool", ["--tier", "pool"], 2, ("asan",)),
    ("pool", ["--tier", "pool"], 1, ("tsan",)),
)


def stress_tests(selected):
    """Every run of STRESS_PLAN, KVT_STRESS_SECONDS (default 30) a unit."""
    seconds = int(os.environ.get("KVT_STRESS_SECONDS", "30"))
    runs = [(tier, args, max(1, int(units * seconds)), variants)
            for tier, args, units, variants in STRESS_PLAN]
    for tier, args, secs, variants in runs:
        for variant in variants:
            name = "stress/%s-%s-%ds" % (tier, variant, secs)
            if not selected(name):
                continue
            exe = os.path.join(ROOT, "build", variant, "kvtier-stress")
            if not os.path.exists(exe):
                record("FAIL", name, "kvtier-stress not built")
                continue
            # the harness reads KVT_STRESS_SECONDS over --seconds: give it this run's
            env = {"KVT_STRESS_SECONDS": str(secs)}
            if tier.startswith("fs") or tier in ("resp", "pool"):
                # the fs and resp adapters warn of every corrupt file or value they remove
                # (hundreds, all expected), kvtier-poold of every delete refused as pinned
                # (its log is printed when it fails), which would crowd a failure's report
                # out of the output kept below
                env["KVT_LOG"] = "error"
            rc, out = run([exe] + args + ["--seconds", str(secs), "--threads", "4"],
                          timeout=secs * 4 + 120, env=env)
            tail = "\n".join(out.splitlines()[-6:])
            print(tail if rc == 0 else out[-12000:])
            record("PASS" if rc == 0 else "FAIL", name, "" if rc == 0 else "exit %d" % rc)


def pool_tests():
    """kvtier-poold's protocol and multi-process tests (Python, against the ASan daemon)."""
    rc, out = run([sys.executable, "tests/poold/run_pool_tests.py", "build/asan"], timeout=900)
    seen = parse_cases(out, "poold/")
    if rc != 0 or seen == 0:
        print(out[-6000:])
    if seen == 0 or (rc != 0 and not any(f.startswith("poold/") for f in failures)):
        record("FAIL", "poold/run_pool_tests", "exit %d" % rc)


def python_tests(selected):
    """The kvtier Python package's pytest suite (tests/python), with Debian's python3 (the one
    configure.py installs pytest, numpy and torch for), importing the package from
    build/release/python: a PASS/FAIL line per test, then pytest's own summary line."""
    # no bytecode written beside the package: the build tree installs what is there
    env = {"PYTHONPATH": os.path.join(ROOT, "build", "release", "python"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    rc, out = run(["/usr/bin/python3", "-m", "pytest", "-v", "-p", "no:cacheprovider",
                   "tests/python"], timeout=1800, env=env)
    seen = 0
    for line in out.splitlines():
        m = re.match(r"tests/python/(\S+)\.py::(\S+) (PASSED|FAILED|ERROR|SKIPPED)", line)
        if m and selected("python/%s/%s" % (m.group(1), m.group(2))):
            seen += 1
            record({"PASSED": "PASS", "SKIPPED": "SKIP"}.get(m.group(3), "FAIL"),
                   "python/%s/%s" % (m.group(1), m.group(2)))
    if rc != 0 or seen == 0:
        print(out[-12000:])
    else:
        print("pytest: " + out.strip().splitlines()[-1].strip("= "))
    if seen == 0 or (rc != 0 and not any(f.startswith("python/") for f in failures)):
        record("FAIL", "python/pytest", "exit %d" % rc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", dest="pattern", default="", help="run only what has PATTERN in its name")
    ap.add_argument("-j", dest="jobs", type=int, default=1, help="unit-test programs at once")
    ap.add_argument("--fuzz-only", action="store_true", help="only the fuzz targets (ninja fuzz)")
    args = ap.parse_args()
    os.chdir(ROOT)

    def selected(name):
        return args.pattern in name

    if args.fuzz_only:
        fuzz_tests(int(os.environ.get("KVT_FUZZ_SECONDS", "600")), selected)
    else:
        if selected("layers/"):
            layers_check()
        unit_tests("asan", "", args.jobs, selected)
        unit_tests("tsan", "tsan/", args.jobs, selected)
        if selected("poold/"):
            pool_tests()
        if selected("python/") or args.pattern.startswith("python/"):
            python_tests(selected)
        if selected("readme/") or selected("install/"):
            example_tests()
        if selected("deb/"):
            deb_tests()
        stress_tests(selected)
        fuzz_tests(int(os.environ.get("KVT_FUZZ_SECONDS", "20")), selected)
    if failures:
        print("failed: " + ", ".join(failures))
    print("%d passed, %d failed, %d skipped" % (counts["passed"], counts["failed"], counts["skipped"]))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
