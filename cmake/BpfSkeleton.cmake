# Compiles BPF C units with clang, links them into one object with bpftool
# and generates a libbpf skeleton header from it. Warnings are errors.

find_program(BPFTOOL bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
find_program(BPF_CLANG clang REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(TLSTAP_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(TLSTAP_BPF_ARCH arm64)
else()
  message(FATAL_ERROR "tlstap: no BPF target arch for ${CMAKE_SYSTEM_PROCESSOR}")
endif()

# vmlinux.h: the kernel's types, vendored per architecture under
# bpf/vmlinux/ (as libbpf-bootstrap does), so the build does not depend on
# the build host's kernel; CO-RE relocations adapt the programs to the
# kernel they load on. TLSTAP_VMLINUX_BTF=/sys/kernel/btf/vmlinux dumps it
# from a kernel's BTF instead (an architecture not vendored yet;
# scripts/update-vmlinux.sh refreshes the vendored one).
set(TLSTAP_VMLINUX_BTF "" CACHE FILEPATH "Kernel BTF to dump vmlinux.h from instead of bpf/vmlinux/")
set(TLSTAP_BPF_GEN ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${TLSTAP_BPF_GEN})
set(vendored_vmlinux ${CMAKE_SOURCE_DIR}/bpf/vmlinux/${TLSTAP_BPF_ARCH}/vmlinux.h)
if(NOT TLSTAP_VMLINUX_BTF AND NOT EXISTS ${vendored_vmlinux})
  message(STATUS "tlstap: no vendored vmlinux.h for ${TLSTAP_BPF_ARCH}: dumping this kernel's")
  set(TLSTAP_VMLINUX_BTF /sys/kernel/btf/vmlinux)
endif()
if(TLSTAP_VMLINUX_BTF)
  add_custom_command(
    OUTPUT ${TLSTAP_BPF_GEN}/vmlinux.h
    COMMAND ${BPFTOOL} btf dump file ${TLSTAP_VMLINUX_BTF} format c > ${TLSTAP_BPF_GEN}/vmlinux.h
    COMMENT "Generating vmlinux.h from ${TLSTAP_VMLINUX_BTF}"
    VERBATIM)
else()
  add_custom_command(
    OUTPUT ${TLSTAP_BPF_GEN}/vmlinux.h
    COMMAND ${CMAKE_COMMAND} -E copy ${vendored_vmlinux} ${TLSTAP_BPF_GEN}/vmlinux.h
    DEPENDS ${vendored_vmlinux}
    COMMENT "vmlinux.h from bpf/vmlinux/${TLSTAP_BPF_ARCH}"
    VERBATIM)
endif()

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
      COMMAND ${BPF_CLANG} -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_${TLSTAP_BPF_ARCH}
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
