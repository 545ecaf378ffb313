# Compiles BPF C units with clang, links them into one object with bpftool
# and generates a libbpf skeleton header from it. vmlinux.h is dumped from
# the build machine's kernel BTF; CO-RE relocations make the object portable.

find_program(BPFTOOL bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
find_program(BPF_CLANG clang REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(TLSTAP_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(TLSTAP_BPF_ARCH arm64)
else()
  message(FATAL_ERROR "tlstap: no BPF target arch for ${CMAKE_SYSTEM_PROCESSOR}")
endif()

set(TLSTAP_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "Kernel BTF to generate vmlinux.h from")
set(TLSTAP_BPF_GEN ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${TLSTAP_BPF_GEN})

add_custom_command(
  OUTPUT ${TLSTAP_BPF_GEN}/vmlinux.h
  COMMAND ${BPFTOOL} btf dump file ${TLSTAP_VMLINUX_BTF} format c > ${TLSTAP_BPF_GEN}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${TLSTAP_VMLINUX_BTF}"
  VERBATIM)
# A target, so skeletons declared in any directory can depend on it.
add_custom_target(tlstap_vmlinux_h DEPENDS ${TLSTAP_BPF_GEN}/vmlinux.h)

# tlstap_bpf_skeleton(<name> <unit.bpf.c>...) -> target <name>_skel, header
# <name>.skel.h in ${TLSTAP_BPF_GEN}.
function(tlstap_bpf_skeleton name)
  set(objects)
  file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/*.h)
  foreach(src ${ARGN})
    get_filename_component(base ${src} NAME_WE)
    set(obj ${TLSTAP_BPF_GEN}/${name}_${base}.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -g -O2 -Wall -target bpf -D__TARGET_ARCH_${TLSTAP_BPF_ARCH}
              -I${TLSTAP_BPF_GEN} -I${CMAKE_SOURCE_DIR}/bpf
              -c ${CMAKE_SOURCE_DIR}/${src} -o ${obj}
      DEPENDS ${CMAKE_SOURCE_DIR}/${src} ${bpf_headers}
      COMMENT "BPF ${src}"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()
  add_custom_command(
    OUTPUT ${TLSTAP_BPF_GEN}/${name}.bpf.o ${TLSTAP_BPF_GEN}/${name}.skel.h
    COMMAND ${BPFTOOL} gen object ${TLSTAP_BPF_GEN}/${name}.bpf.o ${objects}
    COMMAND ${BPFTOOL} gen skeleton ${TLSTAP_BPF_GEN}/${name}.bpf.o name ${name}
            > ${TLSTAP_BPF_GEN}/${name}.skel.h
    DEPENDS ${objects}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel DEPENDS ${TLSTAP_BPF_GEN}/${name}.skel.h)
  add_dependencies(${name}_skel tlstap_vmlinux_h)
endfunction()
