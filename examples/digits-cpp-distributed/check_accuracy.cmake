# ctest examples.digits_cpp_distributed.2: runs the example on 2 ranks and fails unless it exits
# 0 and rank 0 reports "test_accuracy X" with X >= 0.96 (what examples/digits/train.py reaches).
#   cmake -DMPIEXEC=mpirun -DPROGRAM=digits_cpp_distributed -DOUTPUT_DIR=dir -P check_accuracy.cmake
execute_process(
  COMMAND ${MPIEXEC} --allow-run-as-root --oversubscribe --bind-to none -np 2
          ${PROGRAM} --output-dir ${OUTPUT_DIR}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 100)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example failed (exit ${rc})")
endif()
if(NOT out MATCHES "test_accuracy ([0-9.]+)")
  message(FATAL_ERROR "no test_accuracy line in the output")
endif()
set(acc ${CMAKE_MATCH_1})
if(acc LESS 0.96)
  message(FATAL_ERROR "test accuracy ${acc} < 0.96")
endif()
if(NOT EXISTS ${OUTPUT_DIR}/model.pt)
  message(FATAL_ERROR "rank 0 did not write ${OUTPUT_DIR}/model.pt")
endif()
message("OK: test accuracy ${acc} >= 0.96 on 2 ranks")
