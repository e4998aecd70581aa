# trainyard._collective (pybind11 over src/collective) and the horovod.torch-compatible Python API:
#   ${TRAINYARD_PYTHON_DIR}/trainyard/_collective*.so, trainyard/torch/__init__.py
#   ${TRAINYARD_PYTHON_COMPAT_DIR}/horovod/horovod/   `import horovod.torch as hvd`
# Included at the end of python/CMakeLists.txt (after trainyard_core is defined); needs the MPI
# transport of the collective runtime. Tests run pytest under mpirun with 2 ranks.
if(TRAINYARD_COLLECTIVE_MPI AND TARGET trainyard_core AND TARGET ty_collective)
  # The static library ends up in a shared module.
  set_target_properties(ty_collective PROPERTIES POSITION_INDEPENDENT_CODE ON)

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
  set(TRAINYARD_HOROVOD_COMPAT_FILES
    horovod/__init__.py
    horovod/torch/__init__.py
    horovod/common/__init__.py
    horovod/common/exceptions.py
  )
  foreach(file ${TRAINYARD_HOROVOD_COMPAT_FILES})
    configure_file(${file} ${TRAINYARD_PYTHON_COMPAT_DIR}/horovod/${file} COPYONLY)
  endforeach()

  pybind11_add_module(trainyard_collective_py MODULE collective_module.cc)
  target_link_libraries(trainyard_collective_py PRIVATE ty_collective trainyard_warnings)
  set_target_properties(trainyard_collective_py PROPERTIES
    OUTPUT_NAME _collective
    LIBRARY_OUTPUT_DIRECTORY ${TRAINYARD_PYTHON_DIR}/trainyard)

  # Multi-rank tests: pytest in every rank (the files also run, as single-rank checks, through
  # the generic python.test_* entries above).
  file(GLOB TRAINYARD_HVD_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_hvd_*.py)
  foreach(test ${TRAINYARD_HVD_TESTS})
    get_filename_component(test_name ${test} NAME_WE)
    string(REGEX REPLACE "^test_hvd_" "" test_name ${test_name})
    add_test(NAME python.hvd.${test_name}
      COMMAND ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe --bind-to none -np 2
              ${TRAINYARD_PYTHON_EXECUTABLE} -m pytest -q -p no:cacheprovider -p no:hypothesispytest
              ${test}
      WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/tests)
    set_tests_properties(python.hvd.${test_name} PROPERTIES TIMEOUT 180
      ENVIRONMENT "PYTHONPATH=${TRAINYARD_PYTHON_DIR}:${TRAINYARD_PYTHON_COMPAT_DIR}/azureml:${TRAINYARD_PYTHON_COMPAT_DIR}/horovod;PYTHONDONTWRITEBYTECODE=1;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_mpi_yield_when_idle=1;OMP_NUM_THREADS=1")
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
