#!/usr/bin/env python3
"""Write build.ninja for kvtier.

Checks the Debian packages kvtier builds with; as root it installs the missing
ones with apt-get, otherwise it names them and exits 1.  Then it writes one
build.ninja holding every variant, each in its own folder:

    build/release   -O2, the library, tools and the demo
    build/debug     -O0 -g with asserts
    build/asan      -fsanitize=address,undefined (unit tests and stress run here)
    build/tsan      -fsanitize=thread (the stress harness runs here)
    build/clang     release flags built with clang, so both compilers stay warning-free

Targets: `ninja` (release), `ninja demo`, `ninja check` (every test), `ninja install`
(honours DESTDIR, --prefix and --libdir), `ninja deb` (Debian packages from debian/ into build/deb).  Python standard library only.
"""
import argparse
import glob
import os
import platform
import shutil
import subprocess
import sys

PACKAGES = [
    "ninja-build", "pkg-config", "gcc", "clang", "libclang-rt-14-dev",
    # llvm-symbolizer: sanitizer reports name functions (suppressions never depend on it)
    "llvm",
    "liburcu-dev", "libck-dev", "libnuma-dev", "libjemalloc-dev", "liburing-dev",
    "libxxhash-dev", "libyaml-dev", "gnuplot-nox", "valgrind",
    # the resp L2 adapter, and the real servers its tests start
    "libhiredis-dev", "redis-server", "redis-tools",
    # kvtier-poold speaks Maru's protocol (ZeroMQ + MessagePack); its tests use a Python client
    "libzmq3-dev", "libmsgpack-dev", "python3-zmq", "python3-msgpack",
    # tools/maru-peer and kvtier-bench pool --peer-maru run Maru's own Python server and clients
    "python3-dacite",
    # the kvtier Python package (a C extension) and its tests, with Debian's python3
    "python3-dev", "python3-pytest", "python3-numpy", "python3-torch", "python3-yaml",
    # the metrics endpoint (metrics.listen, kvtier-poold --metrics); promtool checks its text in tests
    "libmicrohttpd-dev", "prometheus",
    # kvtier-poold tells systemd when it is ready (sd_notify, Type=notify)
    "libsystemd-dev",
    # `ninja deb`: Debian binary packages built by debhelper from debian/, then checked by lintian
    # (help2man: the manual pages, from each program's --help)
    # (build-essential: every package build's implicit build dependency)
    "dpkg-dev", "debhelper", "dh-python", "fakeroot", "lintian", "help2man", "build-essential",
]
PKGCONFIG = ["liburcu-bp", "liburcu-cds", "numa", "jemalloc", "liburing", "libxxhash", "yaml-0.1",
             "hiredis", "libzmq", "msgpack", "libmicrohttpd"]
# libraries only one program links, kept out of libkvtier (and so out of kvtier.pc and libkvtier0's
# dependencies): program -> pkg-config names
TOOL_PKGCONFIG = {"kvtier-poold": ["libsystemd"]}
# libck ships no .pc file
EXTRA_LIBS = ["-lck", "-lm", "-ldl", "-pthread"]

VARIANTS = {
    "release": {"cc": "gcc", "cflags": "-O2 -g -DNDEBUG", "ldflags": ""},
    "debug": {"cc": "gcc", "cflags": "-O0 -g3", "ldflags": ""},
    "asan": {"cc": "gcc", "cflags": "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined "
             "-fno-sanitize-recover=undefined -DKVT_NO_JEMALLOC", "ldflags": "-fsanitize=address,undefined",
             "no_jemalloc": True},
    "tsan": {"cc": "clang", "cflags": "-O1 -g -fsanitize=thread -DKVT_NO_JEMALLOC",
             "ldflags": "-fsanitize=thread", "no_jemalloc": True},
    "clang": {"cc": "clang", "cflags": "-O2 -g -DNDEBUG", "ldflags": ""},
}
WARN = "-std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter"
# extra flags for one source file, in every variant (and the Python and fuzz copies of the
# library): core/hash_avx2.c and core/hash_avx512.c are XXH3 built for AVX2 and AVX-512, which
# core/hash.c calls only on a CPU that has them
FILE_CFLAGS = ({"core/hash_avx2.c": "-mavx2", "core/hash_avx512.c": "-mavx512f"}
               if platform.machine() == "x86_64" else {})
# the library; every other top-level folder is a program (poold, tools) or tests
LIB_DIRS = ["core", "actors", "proto/maru", "l2", "l2/fs", "l2/resp", "l2/pool", "api"]
# program -> its source folder
TOOLS = {"kvtier": "tools/kvtier", "kvtier-bench": "tools/kvtier-bench",
         "kvtier-stress": "tools/kvtier-stress", "kvtier-poold": "poold"}
# unit-test programs: tests/<dir>/test_NAME.c, <dir> the path of the source folder it tests
# (tests/l2/fs/test_fs_adapter.c tests l2/fs), each built as build/<variant>/tests/<dir>/test_NAME;
# tests/run.py runs the same list
TEST_SOURCES = "tests/**/test_*.c"
# fault-injection programs (tests/fault/test_*.c): linked with the rest of tests/fault/ and
# -Wl,--wrap=X for each X below, the calls through which kvtier acquires memory, mappings,
# fds, threads and library objects, so the Nth can be made to fail (tests/fault/inject.h);
# the daemon is linked the same way as tests/fault/kvtier-poold-fault
FAULT_DIR = "tests/fault"
FAULT_WRAPS = ["malloc", "calloc", "realloc", "posix_memalign", "mallocx", "rallocx", "strdup",
               "mmap64", "eventfd",
               "io_uring_queue_init", "pthread_create", "_cds_lfht_new",
               "urcu_bp_create_call_rcu_data", "yaml_parser_initialize", "yaml_parser_load",
               "redisConnectWithTimeout", "redisCommand", "redisCommandArgv", "zmq_ctx_new",
               "zmq_socket"]
# fuzz target (tests/fuzz/NAME.c, seeds in tests/fuzz/corpus/NAME without the fuzz_) -> the
# library sources it needs; LIBKVTIER stands for the whole library, linked as an archive
# (build/fuzz/libkvtier.a, fuzz flags) for a target that reaches into api/ (kvt_config_check)
LIBKVTIER = "libkvtier.a"
FUZZ = {
    "fuzz_maru": ["proto/maru/*.c"],
    "fuzz_config_yaml": [LIBKVTIER],
    "fuzz_l2_adapters": [LIBKVTIER],
    "fuzz_resp_reader": ["l2/resp/rio_reader.c", "l2/resp/resp_slot.c", "l2/resp/resp_value.c",
                         "l2/fschunk.c", "core/hash*.c"],
    # log_msg() is the target's own, silent: a fuzzer must not print per input
    "fuzz_daxfmt": ["core/daxfmt.c", "core/hash*.c"],
    "fuzz_fschunk": ["l2/fschunk.c", "l2/resp/resp_value.c", "core/hash*.c"],
}
# the Python package: its C extension (one .so for every CPython >= 3.11, the limited API) is
# built for these variants into build/<variant>/python/kvtier/ beside the package's .py files
PY_VARIANTS = ["release", "clang"]
PY_LIMITED_API = "0x030B0000"
PY_EXT = "_kvtier.abi3.so"
VERSION = "0.1.0"
SONAME = "libkvtier.so." + VERSION.split(".")[0]
# the usual chain: libkvtier.so (for -lkvtier) -> SONAME (what programs load) -> the real file
SO_REAL = "libkvtier.so." + VERSION
SO_LINKS = (("libkvtier.so", SONAME), (SONAME, SO_REAL))
# the binary packages debian/control describes, built by `ninja deb` into build/deb
DEB_PACKAGES = ["libkvtier0", "libkvtier-dev", "kvtier-tools", "kvtier-poold", "python3-kvtier"]


def missing_packages():
    missing = []
    for pkg in PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(pkg)
    return missing


def ensure_packages():
    if not shutil.which("dpkg-query"):
        print("configure: not a Debian system; install the equivalents of: " + " ".join(PACKAGES))
        return
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        print("configure: missing Debian packages; run as root or install them:\n"
              "    apt-get install -y " + " ".join(missing), file=sys.stderr)
        sys.exit(1)
    print("configure: installing " + " ".join(missing), flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                   check=True, env=env)


def pkgconfig(flag, names=PKGCONFIG):
    r = subprocess.run(["pkg-config", flag] + names, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("configure: pkg-config %s failed for %s" % (flag, " ".join(names)))
    return r.stdout.strip()


def sources(pattern):
    return sorted(glob.glob(pattern, recursive=True))


def src_cflags(src, cflags):
    return (cflags + " " + FILE_CFLAGS[src]) if src in FILE_CFLAGS else cflags


def obj(variant, src):
    return "build/%s/obj/%s.o" % (variant, src[:-2])


def write_ninja(args):
    cflags_pc = pkgconfig("--cflags")
    tool_libs = {t: pkgconfig("--libs", names) for t, names in TOOL_PKGCONFIG.items()}
    for names in TOOL_PKGCONFIG.values():
        cflags_pc += " " + pkgconfig("--cflags", names)
    libs = pkgconfig("--libs") + " " + " ".join(EXTRA_LIBS)
    lib_srcs = [s for d in LIB_DIRS for s in sources(d + "/*.c")]
    test_common = sources("tests/common/*.c")
    tests = sources(TEST_SOURCES)
    plugins = sorted(d for d in glob.glob("plugins/*") if os.path.isdir(d))
    # one .so per file: plugins the registry tests load, broken on purpose
    test_plugins = sources("tests/plugins/*.c")
    out = []
    w = out.append
    w("# generated by configure.py %s; do not edit" % " ".join(sys.argv[1:]))
    w("ninja_required_version = 1.10")
    w("builddir = build")
    w("prefix = %s" % args.prefix)
    w("libdir = %s" % args.libdir)
    w("warn = %s" % WARN)
    w("pc_cflags = %s" % cflags_pc)
    w("libs = %s" % libs)
    w("rule cc")
    # hidden by default: kvtier.h marks what leaves the library, kvtier.map seals the rest
    w("  command = $cc -MMD -MF $out.d $warn -fPIC -fvisibility=hidden -pthread -Iinclude -I. $pc_cflags "
      "$cflags -c $in -o $out")
    w("  depfile = $out.d")
    w("  deps = gcc")
    w("  description = CC $out")
    w("rule ar")
    w("  command = rm -f $out && ar rcs $out $in")
    w("  description = AR $out")
    w("rule so")
    w("  command = $cc -shared -Wl,-soname,%s -Wl,--version-script=kvtier.map "
      "$so_ldflags -o $out $in $ldflags $libs" % SONAME)
    w("  description = SO $out")
    w("rule symlink")
    w("  command = ln -sfn $target $out")
    w("  description = LN $out")
    w("rule plugin")
    w("  command = $cc -shared -o $out $in $ldflags")
    w("  description = PLUGIN $out")
    w("rule link")
    w("  command = $cc -o $out $in $ldflags $libs")
    w("  description = LINK $out")
    w("rule pyext")
    w("  command = $cc -shared -Wl,--version-script=python/ext/ext.map -o $out $in $ldflags $libs")
    w("  description = PYEXT $out")
    w("rule run")
    w("  command = $cmd")
    w("  description = $desc")
    w("  pool = console")
    w("rule gen")
    w("  command = python3 configure.py %s" % " ".join(sys.argv[1:]))
    w("  generator = 1")
    w("  description = CONFIGURE")
    w("build build.ninja: gen configure.py")

    for variant, v in VARIANTS.items():
        d = "build/" + variant
        w("")
        w("# ---- variant %s" % variant)
        # sanitizers must see every allocation, so they build without jemalloc
        vlibs = libs.replace("-ljemalloc", "") if v.get("no_jemalloc") else libs
        lib_objs = []
        for s in lib_srcs + sources("tools/common/*.c") + test_common:
            o = obj(variant, s)
            w("build %s: cc %s" % (o, s))
            w("  cc = %s" % v["cc"])
            w("  cflags = %s" % src_cflags(s, v["cflags"]))
            if s in lib_srcs:
                lib_objs.append(o)
        w("build %s/libkvtier.a: ar %s" % (d, " ".join(lib_objs)))
        w("build %s/%s: so %s | kvtier.map" % (d, SO_REAL, " ".join(lib_objs)))
        w("  cc = %s" % v["cc"])
        w("  ldflags = %s" % v["ldflags"])
        w("  libs = %s" % vlibs)
        # a sanitizer's runtime comes with the program, so only plain builds can insist
        # that the library resolves every symbol itself
        w("  so_ldflags = %s" % ("" if v.get("no_jemalloc") else "-Wl,--no-undefined"))
        targets = ["%s/libkvtier.a" % d, "%s/%s" % (d, SO_REAL)]
        for link, target in SO_LINKS:
            w("build %s/%s: symlink | %s/%s" % (d, link, d, target))
            w("  target = %s" % target)
            targets.append("%s/%s" % (d, link))
        tool_common = [obj(variant, s) for s in sources("tools/common/*.c")]
        for tool in TOOLS:
            srcs = sources(TOOLS[tool] + "/*.c")
            if not srcs:
                continue
            for s in srcs:
                w("build %s: cc %s" % (obj(variant, s), s))
                w("  cc = %s" % v["cc"])
                w("  cflags = %s" % v["cflags"])
            w("build %s/%s: link %s %s %s/libkvtier.a" % (
                d, tool, " ".join(obj(variant, s) for s in srcs), " ".join(tool_common), d))
            w("  cc = %s" % v["cc"])
            w("  ldflags = %s" % v["ldflags"])
            w("  libs = %s %s" % (vlibs, tool_libs.get(tool, "")))
            targets.append("%s/%s" % (d, tool))
        for p in plugins:
            name = os.path.basename(p)
            srcs = sources(p + "/*.c")
            for s in srcs:
                w("build %s: cc %s" % (obj(variant, s), s))
                w("  cc = %s" % v["cc"])
                w("  cflags = %s" % v["cflags"])
            w("build %s/plugins/kvt_%s.so: plugin %s" % (d, name, " ".join(obj(variant, s) for s in srcs)))
            w("  cc = %s" % v["cc"])
            w("  ldflags = %s" % v["ldflags"])
            targets.append("%s/plugins/kvt_%s.so" % (d, name))
        for s in test_plugins:
            so = "%s/tests/plugins/kvt_%s.so" % (d, os.path.basename(s)[:-2])
            w("build %s: cc %s" % (obj(variant, s), s))
            w("  cc = %s" % v["cc"])
            w("  cflags = %s" % v["cflags"])
            w("build %s: plugin %s" % (so, obj(variant, s)))
            w("  cc = %s" % v["cc"])
            w("  ldflags = %s" % v["ldflags"])
            targets.append(so)
        # the tests share the tools' helpers (ports, redis servers) as objects too
        common_objs = " ".join(obj(variant, s) for s in test_common + sources("tools/common/*.c"))
        fault_srcs = [s for s in sources(FAULT_DIR + "/*.c") if s not in tests]
        fault_objs = " ".join(obj(variant, s) for s in fault_srcs)
        fault_ldflags = "%s %s" % (v["ldflags"], " ".join("-Wl,--wrap=" + x for x in FAULT_WRAPS))
        for s in fault_srcs:
            w("build %s: cc %s" % (obj(variant, s), s))
            w("  cc = %s" % v["cc"])
            w("  cflags = %s" % v["cflags"])
        for t in tests:
            w("build %s: cc %s" % (obj(variant, t), t))
            w("  cc = %s" % v["cc"])
            w("  cflags = %s" % v["cflags"])
            name = t[len("tests/"):-2]
            fault = t.startswith(FAULT_DIR + "/")
            w("build %s/tests/%s: link %s %s %s %s/libkvtier.a" % (
                d, name, obj(variant, t), fault_objs if fault else "", common_objs, d))
            w("  cc = %s" % v["cc"])
            w("  ldflags = %s" % (fault_ldflags if fault else v["ldflags"]))
            w("  libs = %s" % vlibs)
            targets.append("%s/tests/%s" % (d, name))
        poold_objs = " ".join(obj(variant, s) for s in sources(TOOLS["kvtier-poold"] + "/*.c"))
        inject = obj(variant, FAULT_DIR + "/inject.c")
        w("build %s/tests/fault/kvtier-poold-fault: link %s %s %s %s/libkvtier.a" % (
            d, poold_objs, inject, " ".join(tool_common), d))
        w("  cc = %s" % v["cc"])
        w("  ldflags = %s" % fault_ldflags)
        w("  libs = %s %s" % (vlibs, tool_libs.get("kvtier-poold", "")))
        targets.append("%s/tests/fault/kvtier-poold-fault" % d)
        if variant in PY_VARIANTS:
            targets += write_python(w, variant, v, lib_srcs, vlibs)
        w("build %s: phony %s" % (variant, " ".join(targets)))

    write_fuzz(w, libs, lib_srcs)
    w("")
    w("build kvtier.pc: run configure.py")
    w("  cmd = python3 configure.py --write-pc $prefix --libdir $libdir")
    w("  desc = PC kvtier.pc")
    w("build demo: run release")
    w("  cmd = build/release/kvtier demo")
    w("  desc = DEMO")
    w("build check: run asan tsan clang release fuzz-build")
    w("  cmd = python3 tests/run.py")
    w("  desc = CHECK")
    # what `ninja install` installs, and no more (the release variant also has the tests)
    dist = ["build/release/%s" % f for f in [SO_REAL, "libkvtier.a"] + [l for l, _ in SO_LINKS] +
            list(TOOLS) + ["python/kvtier/" + PY_EXT]]
    dist += ["build/release/python/kvtier/" + os.path.basename(s) for s in sources("python/kvtier/*.py")]
    w("build dist: phony %s" % " ".join(dist))
    w("build install: run dist kvtier.pc")
    w("  cmd = python3 configure.py --install $prefix --libdir $libdir")
    w("  desc = INSTALL")
    w("build deb: run dist")
    w("  cmd = python3 configure.py --deb")
    w("  desc = DEB build/deb")
    w("default release kvtier.pc")
    with open("build.ninja", "w") as f:
        f.write("\n".join(out) + "\n")


def python_include():
    """The headers of the python3 the package is for: Debian's, whichever python3 runs this."""
    exe = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    r = subprocess.run([exe, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
                       stdout=subprocess.PIPE, text=True, check=True)
    return r.stdout.strip()


def write_python(w, variant, v, lib_srcs, vlibs):
    """The kvtier package importable from build/VARIANT/python: the C extension with the library
    compiled into it (so it needs no rpath) and the package's .py files beside it.  That copy of
    the library allocates with malloc: Debian's jemalloc uses initial-exec TLS, which a module
    dlopen()ed into a running python3 cannot have ("cannot allocate memory in static TLS block")."""
    d = "build/%s/python/kvtier" % variant
    cflags = "%s -DPy_LIMITED_API=%s -I%s" % (v["cflags"], PY_LIMITED_API, python_include())
    objs = []
    for s in sources("python/ext/*.c"):
        objs.append(obj(variant, s))
        w("build %s: cc %s" % (objs[-1], s))
        w("  cc = %s" % v["cc"])
        w("  cflags = %s" % cflags)
    for s in lib_srcs:
        objs.append("build/%s/obj-py/%s.o" % (variant, s[:-2]))
        w("build %s: cc %s" % (objs[-1], s))
        w("  cc = %s" % v["cc"])
        w("  cflags = %s -DKVT_NO_JEMALLOC" % src_cflags(s, v["cflags"]))
    w("build %s/%s: pyext %s | python/ext/ext.map" % (d, PY_EXT, " ".join(objs)))
    w("  cc = %s" % v["cc"])
    # libpython's symbols come from the python3 that loads the module
    w("  ldflags = %s" % v["ldflags"])
    w("  libs = %s" % vlibs.replace("-ljemalloc", ""))
    targets = ["%s/%s" % (d, PY_EXT)]
    # links, so that an edited .py is live without a rebuild
    for s in sources("python/kvtier/*.py"):
        targets.append("%s/%s" % (d, os.path.basename(s)))
        w("build %s: symlink | %s" % (targets[-1], s))
        w("  target = ../../../../%s" % s)
    return targets


def python_site(prefix):
    """Where Debian's python3 looks for packages under @prefix: /usr/lib/python3/dist-packages
    for /usr, PREFIX/lib/python3.X/dist-packages for any other prefix (/usr/local)."""
    if prefix.rstrip("/") == "/usr":
        return "lib/python3/dist-packages"
    exe = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    r = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                       stdout=subprocess.PIPE, text=True, check=True)
    return "lib/python%s/dist-packages" % r.stdout.strip()


def write_fuzz(w, libs, lib_srcs):
    """libFuzzer targets (clang), each with the library sources it decodes with: `ninja check`
    runs each for a bounded time over its seed corpus (tests/run.py), `ninja fuzz` for long."""
    d = "build/fuzz"
    # undefined behaviour stops the run, as in the asan variant, so tests/run.py fails on it
    cflags = ("-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined "
              "-fno-sanitize-recover=undefined -DKVT_NO_JEMALLOC")
    w("")
    w("# ---- fuzz targets")
    targets = []
    built = set()  # a library source several targets need is compiled once

    def compile_once(s):
        if s not in built:
            built.add(s)
            w("build %s: cc %s" % (obj("fuzz", s), s))
            w("  cc = clang")
            w("  cflags = %s" % src_cflags(s, cflags))

    # "libkvtier.a" in a target's list: the whole library, built with the fuzz flags, as an
    # archive, so the link takes only the objects the target reaches
    if any(LIBKVTIER in deps for deps in FUZZ.values()):
        for s in lib_srcs:
            compile_once(s)
        w("build %s/%s: ar %s" % (d, LIBKVTIER, " ".join(obj("fuzz", s) for s in lib_srcs)))
    for target, deps in sorted(FUZZ.items()):
        srcs = ["tests/fuzz/%s.c" % target] + [s for pattern in deps if pattern != LIBKVTIER
                                                for s in sources(pattern)]
        for s in srcs:
            compile_once(s)
        archive = " %s/%s" % (d, LIBKVTIER) if LIBKVTIER in deps else ""
        w("build %s/%s: link %s%s" % (d, target, " ".join(obj("fuzz", s) for s in srcs), archive))
        w("  cc = clang")
        w("  ldflags = -fsanitize=fuzzer,address,undefined")
        w("  libs = %s" % libs.replace("-ljemalloc", ""))
        targets.append("%s/%s" % (d, target))
    w("build fuzz-build: phony %s" % " ".join(targets))
    w("build fuzz: run fuzz-build")
    w("  cmd = python3 tests/run.py --fuzz-only")
    w("  desc = FUZZ")


# Debian's libzmq.pc names a static libprotokit.a it does not ship, and libmicrohttpd.pc's
# Requires.private pulls gnutls and its -lunistring, whose -dev packages nothing else needs, so
# a static link through Requires.private fails; -lzmq and -lmicrohttpd themselves link fine.
PC_DIRECT_LIBS = {"libzmq": "-lzmq", "libmicrohttpd": "-lmicrohttpd"}


def write_pc(prefix, libdir):
    requires = [p for p in PKGCONFIG if p not in PC_DIRECT_LIBS]
    direct = [PC_DIRECT_LIBS[p] for p in PKGCONFIG if p in PC_DIRECT_LIBS]
    with open("kvtier.pc", "w") as f:
        f.write("prefix=%s\nlibdir=${prefix}/%s\nincludedir=${prefix}/include\n\n"
                "Name: kvtier\nDescription: tiered KV-cache store for LLM inference engines\n"
                "Version: %s\nRequires.private: %s\nLibs: -L${libdir} -lkvtier\n"
                "Libs.private: %s\nCflags: -I${includedir}\n"
                % (prefix, libdir, VERSION, " ".join(requires), " ".join(direct + EXTRA_LIBS)))


def build_debs():
    """`ninja deb`: the Debian binary packages (debian/) into build/deb/.  dpkg-buildpackage
    runs on a copy of the tree in build/deb/src, so that its configure step (prefix /usr) leaves
    this tree's build.ninja alone and the packages land in the copy's parent, build/deb.  The
    copy takes build/release and ninja's logs along: ninja sees the same commands and rebuilds
    only what changed."""
    out = "build/deb"
    src = os.path.join(out, "src")
    shutil.rmtree(out, ignore_errors=True)
    skip = shutil.ignore_patterns(".git", "build", "build.ninja", "kvtier.pc", "__pycache__",
                                  ".pytest_cache")
    shutil.copytree(".", src, ignore=skip, symlinks=True)
    # without the test programs: `dist` does not need them
    shutil.copytree("build/release", os.path.join(src, "build/release"), symlinks=True,
                    ignore=shutil.ignore_patterns("tests"))
    for f in ("build/.ninja_log", "build/.ninja_deps"):
        if os.path.exists(f):
            shutil.copy2(f, os.path.join(src, f))
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck")
    r = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, env=env)
    if r.returncode:
        sys.exit("configure: dpkg-buildpackage in %s failed (exit %d); its output is above"
                 % (src, r.returncode))
    debs = sorted(glob.glob(os.path.join(out, "*.deb")))
    for deb in debs:
        print("deb: " + deb)
    shutil.rmtree(src)
    if len(debs) != len(DEB_PACKAGES):
        sys.exit("configure: dpkg-buildpackage made %d packages, expected %d (%s)"
                 % (len(debs), len(DEB_PACKAGES), ", ".join(DEB_PACKAGES)))


def install(prefix, libdir):
    dest = os.environ.get("DESTDIR", "") + prefix
    files = [("build/release/" + SO_REAL, libdir + "/" + SO_REAL, 0o755),
             ("build/release/libkvtier.a", libdir + "/libkvtier.a", 0o644),
             ("include/kvtier.h", "include/kvtier.h", 0o644),
             ("include/kvtier/l2.h", "include/kvtier/l2.h", 0o644),
             ("include/kvtier/cuda.h", "include/kvtier/cuda.h", 0o644),
             ("kvtier.pc", libdir + "/pkgconfig/kvtier.pc", 0o644)]
    files += [("build/release/" + t, "bin/" + t, 0o755) for t in TOOLS
              if os.path.exists("build/release/" + t)]
    site = python_site(prefix)
    # the package's modules and its extension; not the __pycache__ an import left beside them
    for src in sorted(glob.glob("build/release/python/kvtier/*.py") +
                      ["build/release/python/kvtier/" + PY_EXT]):
        files.append((src, "%s/kvtier/%s" % (site, os.path.basename(src)),
                      0o755 if src.endswith(".so") else 0o644))
    for src, rel, mode in files:
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        os.chmod(dst, mode)
        print("install %s -> %s" % (src, dst))
    for name, target in SO_LINKS:
        link = os.path.join(dest, libdir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(target, link)
        print("install %s -> %s" % (link, target))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", default="/usr/local")
    ap.add_argument("--sanitize", choices=["address,undefined", "thread"],
                    help="accepted for symmetry: every variant is always written; "
                         "this names the one `ninja` builds by default")
    # Debian's packages use lib/<multiarch triplet> (debian/rules)
    ap.add_argument("--libdir", default="lib", help="libraries' folder under the prefix (default lib)")
    ap.add_argument("--write-pc", metavar="PREFIX")
    ap.add_argument("--install", metavar="PREFIX")
    ap.add_argument("--deb", action="store_true", help="build the Debian packages (`ninja deb`)")
    args = ap.parse_args()
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    if args.write_pc:
        write_pc(args.write_pc, args.libdir)
        return
    if args.install:
        install(args.install, args.libdir)
        return
    if args.deb:
        build_debs()
        return
    ensure_packages()
    write_ninja(args)
    if args.sanitize:
        name = "asan" if args.sanitize.startswith("address") else "tsan"
        with open("build.ninja") as f:
            text = f.read().replace("default release kvtier.pc", "default %s" % name)
        with open("build.ninja", "w") as f:
            f.write(text)
    print("configure: wrote build.ninja (variants: %s)" % ", ".join(VARIANTS))


if __name__ == "__main__":
    main()
