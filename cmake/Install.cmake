# `cmake --install build` (or `make install`): tlstap and tlstap-keyprobe
# side by side (tlstap runs the keyprobe from its own directory), the man
# page tlstap(8) made by help2man from the very --help text, and the bash
# completion, which reads --help too.
include(GNUInstallDirs)
find_program(HELP2MAN help2man REQUIRED)

add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/tlstap.8
  COMMAND ${HELP2MAN} --section 8 --no-info --no-discard-stderr
          --name "show the plaintext of TLS traffic, live, from eBPF probes"
          --output ${CMAKE_BINARY_DIR}/tlstap.8 $<TARGET_FILE:tlstap>
  DEPENDS tlstap
  COMMENT "Generating tlstap.8 from tlstap --help")
add_custom_target(tlstap_man ALL DEPENDS ${CMAKE_BINARY_DIR}/tlstap.8)

install(TARGETS tlstap tlstap-keyprobe RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${CMAKE_BINARY_DIR}/tlstap.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_SOURCE_DIR}/completion/tlstap.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME tlstap)
