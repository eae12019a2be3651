# SPDX-License-Identifier: Apache-2.0
# Run at every build (cmake -P): writes HAUL_COMMIT — the git commit the tree
# was built from, "-dirty" with uncommitted changes, "unknown" outside git —
# into OUT, and only when it changed, so a commit recompiles one file.
execute_process(COMMAND git -C "${SRC}" describe --always --dirty --abbrev=10
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
endif()
set(text "// Generated at build time by core/version_commit.cmake.\n#pragma once\n#define HAUL_COMMIT \"${commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
