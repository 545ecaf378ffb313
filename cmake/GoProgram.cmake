# Go programs the tests and benchmarks drive, built by Debian's golang-go
# (GOPATH mode: one main package, standard library only, nothing fetched).
#
# tlstap_go_program(<output file> <main.go> [go build flags...])
# adds a command producing <output file>; collect the outputs in a target.
find_program(GO_EXECUTABLE go)

function(tlstap_go_program output source)
  if(NOT GO_EXECUTABLE)
    return()
  endif()
  add_custom_command(OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -E env GOCACHE=${CMAKE_BINARY_DIR}/go-cache
            GOPATH=${CMAKE_BINARY_DIR}/go-path GO111MODULE=off GOFLAGS=
            ${GO_EXECUTABLE} build ${ARGN} -o ${output} ${source}
    DEPENDS ${source} VERBATIM)
endfunction()

if(NOT GO_EXECUTABLE)
  message(WARNING "go not found: the Go tests will fail and the Go benchmark cannot run "
                  "(scripts/install-deps.sh installs golang-go)")
endif()
