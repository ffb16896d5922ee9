"""`pip install .` for khub's Python module (docs/python.md §Install): CMake builds the pybind11
module (python/) and installs it, with the libkhub it links, as the package khub/ of a binary
wheel for the interpreter running pip. Where the C++ side comes from:

  KHUB_CMAKE_BUILD_DIR=DIR  a configured khub build (cmake -S . -B DIR) with the Python bindings on
                            for this interpreter's ABI: its target khub_python is brought up to
                            date there, nothing is rebuilt that is already built;
  KHUB_PREFIX=PREFIX        a `cmake --install` tree of khub (include/khub, lib/libkhub.so.X.Y.Z):
                            only the module is compiled, against it (python/CMakeLists.txt
                            standalone; KHUB_THIRD_PARTY_INCLUDE=DIR adds headers the system lacks);
  neither                   the whole of libkhub is configured and built from this tree in a
                            temporary folder (minutes: the same compile as `make build`).

Offline, with Debian's pip, setuptools and wheel (scripts/setup.sh):
  pip install --no-build-isolation --no-index .
Build files go to a temporary folder (KHUB_PIP_BUILD_BASE=DIR keeps them), never into the
source tree or its CMake build folder.
"""
import atexit
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = os.path.dirname(os.path.abspath(__file__))


def khub_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"^project\(khub VERSION ([0-9.]+)", f.read(), re.M)
    if not m:
        sys.exit("setup.py: no `project(khub VERSION x.y.z)` line in CMakeLists.txt")
    return m.group(1)


def fail(msg):
    sys.exit("setup.py: " + msg)


def run(cmd):
    print("setup.py: " + " ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def cache_value(build_dir, key):
    """A variable of DIR/CMakeCache.txt, or None."""
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"^%s:[A-Z]+=(.*)$" % re.escape(key), line.rstrip("\n"))
            if m:
                return m.group(1)
    return None


def ext_suffix(python):
    """EXT_SUFFIX of an interpreter (".cpython-311-x86_64-linux-gnu.so"): its extension ABI."""
    code = "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"
    return subprocess.check_output([python, "-c", code], text=True).strip()


class BuildWithCMake(build_py):
    """build_py that fills build_lib/khub from `cmake --install --component khub_python`."""

    def run(self):
        out = os.path.abspath(self.build_lib)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 2)
        build_dir = os.environ.get("KHUB_CMAKE_BUILD_DIR")
        prefix = os.environ.get("KHUB_PREFIX")
        if build_dir and prefix:
            fail("give KHUB_CMAKE_BUILD_DIR or KHUB_PREFIX, not both")
        if build_dir:
            build_dir = os.path.abspath(build_dir)
            if not os.path.isfile(os.path.join(build_dir, "CMakeCache.txt")):
                fail("KHUB_CMAKE_BUILD_DIR=%s is not a configured CMake build (no CMakeCache.txt)"
                     % build_dir)
            python = cache_value(build_dir, "Python_EXECUTABLE")
            if not python or cache_value(build_dir, "KHUB_PYTHON") == "OFF":
                fail("%s was configured without the Python bindings (KHUB_PYTHON, "
                     "cmake/khub_python.cmake)" % build_dir)
            theirs, ours = ext_suffix(python), sysconfig.get_config_var("EXT_SUFFIX")
            if theirs != ours:
                fail("%s builds the module for %s (%s), not for this interpreter %s (%s): "
                     "configure it with -DPython_EXECUTABLE=%s, or unset KHUB_CMAKE_BUILD_DIR"
                     % (build_dir, python, theirs, sys.executable, ours, sys.executable))
        else:
            build_dir = os.path.join(os.path.abspath(self.get_finalized_command("build").build_temp),
                                     "cmake")
            source = os.path.join(ROOT, "python") if prefix else ROOT
            args = ["cmake", "-S", source, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                    "-DPython_EXECUTABLE=" + sys.executable]
            if shutil.which("ninja"):
                args += ["-G", "Ninja"]
            if prefix:
                args.append("-DKHUB_PREFIX=" + os.path.abspath(prefix))
                if os.environ.get("KHUB_THIRD_PARTY_INCLUDE"):
                    args.append("-DKHUB_THIRD_PARTY_INCLUDE=" +
                                os.path.abspath(os.environ["KHUB_THIRD_PARTY_INCLUDE"]))
            else:
                args.append("-DKHUB_PYTHON=ON")
            run(args)
            if not prefix and cache_value(build_dir, "KHUB_HAVE_PYTHON") == "OFF":
                fail("CMake turned the Python bindings off (its message above says why)")
        run(["cmake", "--build", build_dir, "--target", "khub_python", "-j", jobs])
        run(["cmake", "--install", build_dir, "--component", "khub_python", "--prefix", out])
        if not os.path.isfile(os.path.join(out, "khub", "__init__.py")):
            fail("cmake --install wrote no khub/__init__.py under " + out)


class BinaryDistribution(Distribution):
    """The wheel holds a compiled module: platform-specific, never pure Python."""

    def has_ext_modules(self):
        return True


def build_base():
    base = os.environ.get("KHUB_PIP_BUILD_BASE")
    if base:
        return os.path.abspath(base)
    base = tempfile.mkdtemp(prefix="khub-pip-build-")
    atexit.register(shutil.rmtree, base, True)
    return base


BASE = build_base()
setup(
    version=khub_version(),
    packages=["khub"],
    package_dir={"khub": "python/khub"},
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildWithCMake},
    options={"build": {"build_base": BASE}, "egg_info": {"egg_base": BASE},
             "bdist_wheel": {"bdist_dir": os.path.join(BASE, "wheel")}},
    zip_safe=False,
)
