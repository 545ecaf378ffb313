#!/usr/bin/env bash
# Installs every package tlstap needs to build, run and test, from Debian's
# archive. Idempotent: a machine that has them all is left as it is.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libssl-dev nlohmann-json3-dev libcapstone-dev
  libhttp-parser-dev  # HTTP/1 parsing (src/protocols/http1)
  libnghttp2-dev  # HPACK decoding for HTTP/2 records (src/protocols/http2)
  libcivetweb-dev  # the --metrics HTTP server (src/export/prometheus)
  libcurl4-openssl-dev  # posts --otlp spans (src/export/otlp)
  help2man  # the man page tlstap(8), from tlstap --help (cmake/Install.cmake)
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang-format
  bash-completion  # install_test drives completion/tlstap.bash
  libclang-rt-dev  # libFuzzer and ASan runtimes for fuzz/ (clang only recommends them)
  openssl curl python3 procps iproute2 util-linux libcap2-bin
  gnutls-bin libgnutls30 libgnutls-openssl27 nodejs golang-go
  libnss3-tools libnss3 libnspr4 android-libboringssl android-libboringssl-dev
  libgnutls28-dev libnss3-dev libnspr4-dev  # the bench workloads on GnuTLS and NSS
  tshark  # reads back the pcapng files (pcapng_tshark_test); brings capinfos (wireshark-common)
  nginx  # the HTTP/1 server side of --records (nginx_records_bpf_test)
  openjdk-17-jdk-headless  # a Java TLS client (tests/progs/TlsJava.java): --list names the JVM (list_bpf_test)
  postgresql libpq-dev  # PostgreSQL records: server and psql, the libpq test client (postgres_records_bpf_test)
  prometheus  # scrapes --metrics in metrics_bpf_test (run by the test, not as a service)
  # MySQL records (mysql_records_bpf_test): mariadbd started by the test in its
  # temp dir (no service), the mariadb client, and libmariadb for the
  # prepared-statement client tests/progs/mysql_stmt_client.cc
  mariadb-server mariadb-client libmariadb-dev
  # the vm tier (scripts/vm/): Debian kernels fetched with apt-get download and
  # unpacked with dpkg-deb, modules decompressed (xz, zstd) and indexed with
  # depmod (kmod), a busybox initramfs packed with cpio, booted under qemu
  qemu-system-x86 busybox-static cpio kmod xz-utils zstd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
