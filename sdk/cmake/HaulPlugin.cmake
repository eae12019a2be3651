# SPDX-License-Identifier: Apache-2.0
# haul_add_plugin(<target> SOURCES <files...> [OUTPUT_NAME <name>])
#
# Builds a haul plugin: a MODULE library with hidden visibility, so the only
# exported symbol is haul_plugin_entry, linked against the SDK headers.
function(haul_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_NAME" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "haul_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  if(TARGET Haul::sdk)
    target_link_libraries(${target} PRIVATE Haul::sdk)
  else()
    target_link_libraries(${target} PRIVATE haul_sdk)
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_NAME)
    set_target_properties(${target} PROPERTIES OUTPUT_NAME ${ARG_OUTPUT_NAME})
  endif()
  # A plugin must not leave undefined symbols for the host to resolve.
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
endfunction()
