# Debian's android-libboringssl lives outside the linker's paths:
# libssl.so.0/libcrypto.so.0 under /usr/lib/<arch>/android, headers (which
# shadow OpenSSL's) under /usr/include/android. tlstap_link_boringssl(<target>)
# builds a target against it; the executable finds the libraries through its
# build RPATH. Used by the bpf tests' BoringSSL peer and the BoringSSL
# benchmark workload.
set(TLSTAP_BORINGSSL_LIBDIR /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android)
find_library(BORINGSSL_SSL ssl PATHS ${TLSTAP_BORINGSSL_LIBDIR} NO_DEFAULT_PATH)
find_library(BORINGSSL_CRYPTO crypto PATHS ${TLSTAP_BORINGSSL_LIBDIR} NO_DEFAULT_PATH)
find_path(BORINGSSL_INCLUDE openssl/base.h PATHS /usr/include/android NO_DEFAULT_PATH)

function(tlstap_link_boringssl target)
  if(NOT BORINGSSL_SSL OR NOT BORINGSSL_CRYPTO OR NOT BORINGSSL_INCLUDE)
    message(FATAL_ERROR "${target}: BoringSSL not found under ${TLSTAP_BORINGSSL_LIBDIR} "
                        "(run scripts/install-deps.sh: android-libboringssl-dev)")
  endif()
  target_include_directories(${target} SYSTEM BEFORE PRIVATE ${BORINGSSL_INCLUDE})
  target_link_libraries(${target} PRIVATE ${BORINGSSL_SSL} ${BORINGSSL_CRYPTO})
  set_target_properties(${target} PROPERTIES BUILD_RPATH ${TLSTAP_BORINGSSL_LIBDIR})
endfunction()
