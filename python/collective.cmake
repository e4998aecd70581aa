# trainyard._collective (pybind11 over trainyard::dist, include/trainyard/dist.h) and the
# horovod.torch-compatible Python API:
#   ${TRAINYARD_PYTHON_DIR}/trainyard/_collective*.so, trainyard/torch/__init__.py
#   ${TRAINYARD_PYTHON_COMPAT_DIR}/horovod/horovod/   `import horovod.torch as hvd`
# Included at the end of python/CMakeLists.txt (after trainyard_core is defined). Needs the torch
# adapter (ty_dist, built with libtorch) and torch's Python binding (libtorch_python, from the
# same PyTorch build as the interpreter's torch: Debian's libtorch-dev and python3-torch are one
# build). Tests run pytest under mpirun with 2 ranks, or on 2-4 ranks over MPI and Gloo (needs the
# MPI transport).
set(_ty_torch_python_ok FALSE)
if(TARGET ty_dist AND TARGET trainyard_core)
  find_library(TRAINYARD_TORCH_PYTHON_LIBRARY torch_python
    HINTS ${TORCH_INSTALL_PREFIX}/lib ${Python3_SITELIB}/torch/lib)
  # The interpreter's torch must be the libtorch we compile against: same version, same C++ ABI
  # (tensors cross the boundary as C++ objects).
  execute_process(
    COMMAND ${TRAINYARD_PYTHON_EXECUTABLE} -c
      "import torch; print(torch.__version__.split('+')[0][:len('${Torch_VERSION}')], int(torch._C._GLIBCXX_USE_CXX11_ABI))"
    OUTPUT_VARIABLE _ty_py_torch OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _ty_py_torch_rc)
  string(REGEX MATCH "_GLIBCXX_USE_CXX11_ABI=([01])" _ty_abi_match "${TORCH_CXX_FLAGS}")
  set(_ty_abi "${CMAKE_MATCH_1}")
  if(_ty_abi STREQUAL "")
    set(_ty_abi 1)
  endif()
  if(NOT TRAINYARD_TORCH_PYTHON_LIBRARY)
    message(STATUS "trainyard: trainyard.torch skipped (no libtorch_python)")
  elseif(NOT _ty_py_torch_rc EQUAL 0 OR NOT _ty_py_torch STREQUAL "${Torch_VERSION} ${_ty_abi}")
    message(WARNING "trainyard: trainyard.torch skipped: ${TRAINYARD_PYTHON_EXECUTABLE}'s torch "
                    "(version, CXX11 ABI: '${_ty_py_torch}') is not the libtorch found "
                    "('${Torch_VERSION} ${_ty_abi}')")
  else()
    set(_ty_torch_python_ok TRUE)
  endif()
endif()
if(_ty_torch_python_ok)
  set(TRAINYARD_COLLECTIVE_PY_FILES
    trainyard/torch/__init__.py
    trainyard/torch/mpi_ops.py
    trainyard/torch/optimizer.py
    trainyard/torch/functions.py
    trainyard/torch/compression.py
    trainyard/torch/sync_batch_norm.py
  )
  foreach(file ${TRAINYARD_COLLECTIVE_PY_FILES})
    configure_file(${file} ${TRAINYARD_PYTHON_DIR}/${file} COPYONLY)
  endforeach()
  # Every .py of the compatibility package (python/horovod/**; docs/horovod.md lists its names).
  file(GLOB_RECURSE TRAINYARD_HOROVOD_COMPAT_FILES CONFIGURE_DEPENDS
       RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/horovod/*.py)
  foreach(file ${TRAINYARD_HOROVOD_COMPAT_FILES})
    configure_file(${file} ${TRAINYARD_PYTHON_COMPAT_DIR}/horovod/${file} COPYONLY)
  endforeach()

  pybind11_add_module(trainyard_collective_py MODULE collective_module.cc)
  target_link_libraries(trainyard_collective_py PRIVATE ty_dist ${TRAINYARD_TORCH_PYTHON_LIBRARY}
    trainyard_warnings)
  set_target_properties(trainyard_collective_py PROPERTIES
    OUTPUT_NAME _collective
    LIBRARY_OUTPUT_DIRECTORY ${TRAINYARD_PYTHON_DIR}/trainyard)

  # A second extension linking trainyard::dist, for the test that both see one runtime
  # (tests/test_hvd_one_runtime.py); not part of the package.
  pybind11_add_module(trainyard_dist_probe MODULE tests/dist_probe_module.cc)
  target_link_libraries(trainyard_dist_probe PRIVATE ty_dist ${TRAINYARD_TORCH_PYTHON_LIBRARY}
    trainyard_warnings)
  set_target_properties(trainyard_dist_probe PROPERTIES
    OUTPUT_NAME trainyard_dist_probe
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/python-test)

  # Multi-rank tests: pytest in every rank (the files also run, as single-rank checks, through
  # the generic python.test_* entries above). A file with a line
  #   # hvd-matrix: mpi gloo ranks 2 3 4
  # gets one entry per transport and rank count, python.hvd.<name>.<mpi|gloo>.<N> (Gloo ranks are
  # started by tests/gloo_ranks.py with torch.distributed's RANK/WORLD_SIZE/MASTER_*; the gloo
  # entries exist when the Gloo transport is built, the mpi ones with MPI); a file without it gets
  # python.hvd.<name>, 2 ranks under mpirun.
  set(TRAINYARD_HVD_TESTS "")
  if(TRAINYARD_COLLECTIVE_MPI OR TRAINYARD_COLLECTIVE_GLOO)
    file(GLOB TRAINYARD_HVD_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_hvd_*.py)
  endif()
  set(_ty_hvd_pytest ${TRAINYARD_PYTHON_EXECUTABLE} -m pytest -q -p no:cacheprovider
                     -p no:hypothesispytest)
  set(_ty_hvd_env "PYTHONPATH=${TRAINYARD_PYTHON_DIR}:${CMAKE_BINARY_DIR}/python-test:${TRAINYARD_PYTHON_COMPAT_DIR}/azureml:${TRAINYARD_PYTHON_COMPAT_DIR}/horovod;PYTHONDONTWRITEBYTECODE=1;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_mpi_yield_when_idle=1;OMP_NUM_THREADS=1")
  foreach(test ${TRAINYARD_HVD_TESTS})
    get_filename_component(test_name ${test} NAME_WE)
    string(REGEX REPLACE "^test_hvd_" "" test_name ${test_name})
    # The hvd-matrix line is read at configure time: an edit of the file configures again.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${test})
    file(STRINGS ${test} _ty_matrix REGEX "^# hvd-matrix:" LIMIT_COUNT 1)
    if(_ty_matrix STREQUAL "")
      if(NOT TRAINYARD_COLLECTIVE_MPI)
        continue()
      endif()
      add_test(NAME python.hvd.${test_name}
        COMMAND ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe --bind-to none -np 2
                ${_ty_hvd_pytest} ${test}
        WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/tests)
      set_tests_properties(python.hvd.${test_name} PROPERTIES TIMEOUT 180
        ENVIRONMENT "${_ty_hvd_env}")
      continue()
    endif()
    string(REGEX REPLACE "^# hvd-matrix:" "" _ty_matrix "${_ty_matrix}")
    string(REGEX MATCHALL "[^ \t]+" _ty_words "${_ty_matrix}")
    set(_ty_transports "")
    set(_ty_ranks "")
    set(_ty_in_ranks FALSE)
    foreach(word ${_ty_words})
      if(word STREQUAL "ranks")
        set(_ty_in_ranks TRUE)
      elseif(_ty_in_ranks AND word MATCHES "^[1-9]$")
        list(APPEND _ty_ranks ${word})
      elseif(NOT _ty_in_ranks AND word MATCHES "^(mpi|gloo)$")
        list(APPEND _ty_transports ${word})
      else()
        message(FATAL_ERROR "${test}: bad hvd-matrix word '${word}' (want: "
                            "# hvd-matrix: mpi gloo ranks 2 3 4)")
      endif()
    endforeach()
    if(_ty_transports STREQUAL "" OR _ty_ranks STREQUAL "")
      message(FATAL_ERROR "${test}: hvd-matrix names no transport or no rank count")
    endif()
    foreach(transport ${_ty_transports})
      if((transport STREQUAL "gloo" AND NOT TRAINYARD_COLLECTIVE_GLOO) OR
         (transport STREQUAL "mpi" AND NOT TRAINYARD_COLLECTIVE_MPI))
        continue()
      endif()
      foreach(n ${_ty_ranks})
        set(_ty_name python.hvd.${test_name}.${transport}.${n})
        if(transport STREQUAL "mpi")
          add_test(NAME ${_ty_name}
            COMMAND ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe --bind-to none
                    -np ${n} ${_ty_hvd_pytest} ${test}
            WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/tests)
        else()
          # gloo_ranks.py kills every rank at its own timeout, before ctest's.
          add_test(NAME ${_ty_name}
            COMMAND ${TRAINYARD_PYTHON_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/gloo_ranks.py
                    -n ${n} --timeout 280 --gloo-timeout 60 -- ${_ty_hvd_pytest} ${test}
            WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/tests)
        endif()
        # 4 ranks on 2 cores are oversubscribed: generous timeouts.
        set_tests_properties(${_ty_name} PROPERTIES TIMEOUT 300 ENVIRONMENT "${_ty_hvd_env}"
          LABELS "hvd-matrix")
      endforeach()
    endforeach()
  endforeach()

  # hvd.init() without mpirun: the test starts 2 Python ranks itself with torch.distributed's
  # RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT (the Gloo transport; skipped when it is not built).
  add_test(NAME python.gloo.init
    COMMAND ${TRAINYARD_PYTHON_EXECUTABLE} -m pytest -q -p no:cacheprovider -p no:hypothesispytest
            ${CMAKE_CURRENT_SOURCE_DIR}/tests/hvd_gloo_init_test.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/tests)
  set_tests_properties(python.gloo.init PROPERTIES TIMEOUT 180
    ENVIRONMENT "PYTHONPATH=${TRAINYARD_PYTHON_DIR}:${TRAINYARD_PYTHON_COMPAT_DIR}/azureml:${TRAINYARD_PYTHON_COMPAT_DIR}/horovod;PYTHONDONTWRITEBYTECODE=1;OMP_NUM_THREADS=1")
endif()
