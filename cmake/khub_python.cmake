# Whether the Python bindings are built (docs/python.md), decided before tests/ so that the Python
# tests know. KHUB_PYTHON (default ON) builds them when a Python interpreter with development
# headers and pybind11 are found, and turns them off with a message otherwise.
#
# Which interpreter: Python_EXECUTABLE when given (-DPython_EXECUTABLE=...); else /usr/bin/python3
# when it exists — Debian's, where scripts/setup.sh installs python3-dev, pybind11-dev,
# python3-numpy and python3-torch (a pyenv or venv python3 earlier on PATH has none of them); else
# the first python3 on PATH. The module is built for that interpreter's ABI and the Python tests
# run under it.
option(KHUB_PYTHON "Build the Python bindings (python/) when Python 3 dev headers and pybind11 are found" ON)
set(KHUB_HAVE_PYTHON OFF)
if(KHUB_PYTHON)
  if(NOT Python_EXECUTABLE AND EXISTS /usr/bin/python3)
    set(Python_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "The Python the khub module is built for")
  endif()
  find_package(Python 3.8 COMPONENTS Interpreter Development.Module QUIET)
  if(Python_FOUND)
    if(NOT pybind11_DIR)
      execute_process(COMMAND ${Python_EXECUTABLE} -m pybind11 --cmakedir
                      OUTPUT_VARIABLE _khub_pybind11_dir OUTPUT_STRIP_TRAILING_WHITESPACE
                      ERROR_QUIET RESULT_VARIABLE _khub_pybind11_rc)
      if(_khub_pybind11_rc EQUAL 0 AND EXISTS "${_khub_pybind11_dir}")
        set(pybind11_DIR "${_khub_pybind11_dir}" CACHE PATH "pybind11's CMake package")
      endif()
    endif()
    find_package(pybind11 2.6 CONFIG QUIET)
  endif()
  if(Python_FOUND AND pybind11_FOUND)
    set(KHUB_HAVE_PYTHON ON)
    message(STATUS "khub: Python bindings ON (${Python_EXECUTABLE}, Python ${Python_VERSION}, "
                   "pybind11 ${pybind11_VERSION})")
  elseif(NOT Python_FOUND)
    message(STATUS "khub: Python bindings OFF: no Python 3 with development headers "
                   "(python3-dev) for ${Python_EXECUTABLE}")
  else()
    message(STATUS "khub: Python bindings OFF: pybind11 not found (pybind11-dev, or "
                   "pip's pybind11 for ${Python_EXECUTABLE})")
  endif()
else()
  message(STATUS "khub: Python bindings OFF (KHUB_PYTHON=OFF)")
endif()
