# The web UI (web/, docs/web.md), compiled into a library: web/build.mjs bundles the TypeScript
# with esbuild and web/embed.py turns the bundle into a C++ source (string literals and a table,
# src/server/web_assets.h) that src/server/web.cc serves. It needs web/node_modules (scripts/
# setup.sh runs `npm ci` in web/); without it the server is built with a page that says the UI is
# missing, and the API works all the same.
#
#   trainyard_web_assets(TARGET)    adds the generated source to TARGET
function(trainyard_web_assets target)
  set(web_dir ${PROJECT_SOURCE_DIR}/web)
  set(out_cc ${CMAKE_CURRENT_BINARY_DIR}/web_assets.cc)
  find_program(TY_PYTHON3 python3 REQUIRED)
  find_program(TY_NODE node)
  find_program(TY_NPM npm)
  if(TY_NODE AND EXISTS ${web_dir}/node_modules/esbuild AND EXISTS ${web_dir}/node_modules/uplot)
    file(GLOB_RECURSE web_sources CONFIGURE_DEPENDS ${web_dir}/src/*)
    set(dist ${CMAKE_BINARY_DIR}/web/dist)
    add_custom_command(
      OUTPUT ${out_cc}
      COMMAND ${TY_NODE} ${web_dir}/build.mjs --outdir ${dist}
      COMMAND ${TY_PYTHON3} ${web_dir}/embed.py ${dist} ${out_cc}
      DEPENDS ${web_sources} ${web_dir}/index.html ${web_dir}/build.mjs ${web_dir}/embed.py
              ${web_dir}/package-lock.json ${web_dir}/tsconfig.json
      COMMENT "Bundling the web UI (esbuild) and embedding it"
      VERBATIM)
    # The TypeScript check (strict), in ctest so that CI runs it; esbuild only strips types.
    if(TY_NPM)
      add_test(NAME web_typecheck COMMAND ${TY_NPM} run --silent check WORKING_DIRECTORY ${web_dir})
      set_tests_properties(web_typecheck PROPERTIES TIMEOUT 300 LABELS web)
    endif()
  else()
    set(reason "it needs node and web/node_modules at build time (scripts/setup.sh runs npm ci in web/)")
    message(STATUS "web UI not built: ${reason}; the server will serve a page that says so")
    add_custom_command(
      OUTPUT ${out_cc}
      COMMAND ${TY_PYTHON3} ${web_dir}/embed.py --unavailable ${reason} ${out_cc}
      DEPENDS ${web_dir}/embed.py
      COMMENT "Embedding a placeholder for the web UI"
      VERBATIM)
  endif()
  # The bundle is one long string literal: longer than the 64 KiB that -Wpedantic (clang) asks of
  # portable literals; GCC and clang take any length.
  set_source_files_properties(${out_cc} PROPERTIES COMPILE_OPTIONS -Wno-overlength-strings)
  target_sources(${target} PRIVATE ${out_cc})
endfunction()
