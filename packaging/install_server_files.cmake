# SPDX-License-Identifier: Apache-2.0
# Runs at install time (install(SCRIPT)): the systemd units, pointing at this
# prefix's haul and config, and /etc/haul/agent.yaml.example — /etc for the
# /usr prefix (the Debian package), PREFIX/etc otherwise, as GNUInstallDirs
# decides. The units are installed disabled: nothing here enables them.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${prefix}/etc")
endif()
file(MAKE_DIRECTORY "${HAUL_STAGE_DIR}")
foreach(unit haul-agent.service haul-consul-watch@.service)
  file(READ "${HAUL_SOURCE_DIR}/examples/systemd/${unit}" text)
  string(REPLACE "/usr/local/bin/haul" "${prefix}/bin/haul" text "${text}")
  string(REPLACE "/etc/haul/" "${etc}/haul/" text "${text}")
  # The example's "install -m 644 … /etc/systemd/system/" hint: done already.
  string(REGEX REPLACE "#   install -m 644 [^\n]*\n" "" text "${text}")
  file(WRITE "${HAUL_STAGE_DIR}/${unit}" "${text}")
  file(INSTALL "${HAUL_STAGE_DIR}/${unit}" DESTINATION "${prefix}/lib/systemd/system")
endforeach()
file(INSTALL "${HAUL_SOURCE_DIR}/examples/pipelines/agent.yaml" DESTINATION "${etc}/haul" RENAME agent.yaml.example)
