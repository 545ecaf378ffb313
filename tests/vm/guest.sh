#!/usr/bin/env bash
# The vm tier's guest side: runs inside a qemu guest started by
# scripts/vm/run.sh (CTest: vm.linux-6.1, vm.linux-6.12), on that guest's
# kernel, with the host's build tree at its usual path:
#
#   scripts/vm/run.sh --kernel 6.12 -- tests/vm/guest.sh BUILD_DIR
#
# 1. Prints the kernel and checks what tlstap needs from it: BTF, kprobes on
#    the kTLS functions, the tls module. A missing one fails with its name.
# 2. Runs bpf-tier test binaries from BUILD_DIR/tests/bpf (the selection
#    below), each writing gtest XML into the share.
# 3. Runs ktls_bpf_test: every kTLS path on every kernel, the cipher
#    variants on 6.1 only (see below).
#
# Writes into the share ($TLSTAP_VM_SHARE): kernel (uname -r), summary.tsv
# (one line per check and per test binary: name, PASS/FAIL/ABSENT, passed/
# total, seconds, what ran; scripts/vm/matrix.py prints them as a table),
# and NAME.xml per binary. Exits 0 when every check and binary passed.
#
# TLSTAP_VM_BPF_TIER=full runs every *_bpf_test binary in full instead of
# the selection (about ... min per kernel under TCG: see below).
set -euo pipefail

build=${1:?usage: guest.sh BUILD_DIR (inside a vm guest: scripts/vm/run.sh)}
share=${TLSTAP_VM_SHARE:?guest.sh runs inside a vm guest: scripts/vm/run.sh --kernel X -- tests/vm/guest.sh BUILD_DIR}
build=$(cd "$build" && pwd)
bin_dir=$build/tests/bpf
summary=$share/summary.tsv
: >"$summary"
failed=0

# record NAME STATUS COUNT SECONDS WHAT: one line of summary.tsv.
record() {
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$summary"
  [[ $2 != FAIL ]] || failed=1
}

echo "guest.sh: kernel $(uname -r) ($(uname -v)); $(nproc) CPUs"
uname -r >"$share/kernel"

# --- What tlstap needs from the kernel ------------------------------------
check() {  # check NAME DESCRIPTION COMMAND...: one line, PASS or FAIL
  local name=$1 what=$2
  shift 2
  if "$@" >/dev/null 2>&1; then
    echo "guest.sh: check $name: ok ($what)"
    record "check:$name" PASS - - "$what"
  else
    echo "guest.sh: check $name: MISSING ($what)"
    record "check:$name" FAIL - - "$what"
  fi
}
tls_module() { modprobe tls && test -r /proc/net/tls_stat; }
kprobes() {  # kprobes where kTLS capture puts them can be created and removed
  local events=/sys/kernel/tracing/kprobe_events fn
  for fn in tls_sw_sendmsg tls_sw_recvmsg; do
    echo "p:tlstap_vm_check $fn" >>"$events" && echo "-:tlstap_vm_check" >>"$events" || return 1
  done
}
check btf "/sys/kernel/btf/vmlinux" test -r /sys/kernel/btf/vmlinux
check tls-module "modprobe tls; /proc/net/tls_stat" tls_module
check kprobes "kprobes on tls_sw_sendmsg and tls_sw_recvmsg" kprobes

# --- bpf-tier binaries -----------------------------------------------------
# run_binary NAME FILTER: one gtest binary, its XML into the share, one
# summary line. A binary missing from the build fails: the tier is not run.
run_binary() {
  local name=$1 filter=$2 exe=$bin_dir/$1 xml=$share/$1.xml start status counts
  if [[ ! -x $exe ]]; then
    echo "guest.sh: $exe is not built"
    record "$name" FAIL - - "not built"
    return
  fi
  echo "guest.sh: === $name --gtest_filter=$filter"
  start=$SECONDS
  set +e
  # A binary that hangs must not eat the whole tier's time.
  timeout -k 10 "${TLSTAP_VM_BINARY_TIMEOUT:-900}" \
    "$exe" --gtest_filter="$filter" --gtest_output="xml:$xml" --gtest_color=no
  status=$?
  set -e
  # <testsuites tests="N" failures="F" disabled="D" errors="E" ...>
  counts=$(sed -n 's/^<testsuites tests="\([0-9]*\)" failures="\([0-9]*\)" disabled="[0-9]*" errors="\([0-9]*\)".*/\1 \2 \3/p' "$xml" 2>/dev/null | head -n1)
  local total=0 bad=0 f e
  if [[ -n $counts ]]; then
    read -r total f e <<<"$counts"
    bad=$((f + e))
  fi
  local verdict=PASS
  if ((status != 0 || total == 0)); then verdict=FAIL; fi
  ((status != 124)) || echo "guest.sh: $name timed out"
  record "$name" "$verdict" "$((total - bad))/$total" "$((SECONDS - start))" "$filter"
  echo "guest.sh: $name: $verdict, $((total - bad))/$total passed, $((SECONDS - start)) s"
}

# The selection and why. Under TCG a bpf-tier test costs 12-60 s (tlstap's
# start-up attaches uprobes to every TLS library of the host; 6.1 ran this
# selection and ktls_bpf_test in 394 s, 6.12 is 2-4x slower per test), so
# the full tier (62 tests) would take 15-50 min per kernel: too close to
# CI's 90 minutes for two kernels. The guests run one
# test per capture path instead (the host runs them all natively), chosen to
# cover: OpenSSL through the socket tracepoints (6.3+; 6.1 takes the
# sys_enter fallback by itself) and through sys_enter forced, a 1 MiB call
# in chunks, Python's _ex calls and a retried non-blocking write, curl,
# GnuTLS, NSS, node's custom BIO, BoringSSL, Go, no state left by a killed
# process, nothing left attached after SIGTERM (and sys_enter loaded in
# place of the socket tracepoints before 6.3), OpenSSL secrets read at both ends, a Go server's,
# a GnuTLS server's and a BoringSSL server's TLS 1.3 secrets (key log == the
# program's own; BoringSSL's handshake ones read at its handshake's socket
# writes), and packets in a pcapng file tshark decrypts alone (tcx on 6.12,
# cls_bpf on 6.1: no tcx before 6.6), from curl, gnutls-serv and a BoringSSL
# TLS 1.3 client. TLSTAP_VM_BPF_TIER=full runs everything.
selection=(
  "openssl_cli_bpf_test Sizes/OpenSslCliTest.BothDirectionsExactlyOnce/tls1_3_1MiB:Sizes/OpenSslCliTest.BothDirectionsExactlyOnce/tls1_2_100B_sys_enter"
  "python_ssl_bpf_test Versions/PythonSslTest.ExchangeExactlyOnce/tls1_2_ipv4:PythonNonBlockingTest.*"
  "curl_bpf_test Files/CurlTest.RequestAndResponseExactlyOnce/tls1_3_16KiB_ipv4"
  "gnutls_bpf_test Sizes/GnuTlsTest.EchoBothWaysExactlyOnce/tls1_3_100B"
  "nss_bpf_test Sizes/NssTest.ClientAndServerExactlyOncePlainDescriptorsNever/tls1_3_post5000B"
  "node_bpf_test Sizes/NodeTest.ClientAndServerExactlyOnceAndAttributed/100B"
  "boringssl_bpf_test Sizes/BoringSslTest.EchoBothWaysExactlyOnce/tls1_2_1B"
  "go_bpf_test Builds/GoTlsTest.ExchangeExactlyOnce/tls_go_tls1_3"
  "lifecycle_bpf_test LifecycleTest.ProcessKilledInsideSslReadLeavesNoState:LifecycleTest.SigtermExitsCleanlyAndDetachesEverything"
  "keys_bpf_test Ciphers/KeysTest.OpensslClientSide/tls1_3_aes_256_gcm:Ciphers/KeysTest.OpensslServerSide/tls1_2_aes_gcm:Versions/GoKeysTest.ServerWithoutKeyLogWriter/tls1_3:Ciphers/GnuTlsKeysTest.ServerSide/tls1_3_aes_256_gcm:Ciphers/BoringKeysTest.ServerSide/tls1_3_aes_128_gcm"
  "pcapng_bpf_test Ciphers/OpensslPcapTest.ClientSide/tls1_3_aes_gcm:Ciphers/OpensslPcapTest.GnutlsServerSide/tls1_2_chacha20:Versions/BoringPcapTest.ClientSide/tls1_3"
)
if [[ ${TLSTAP_VM_BPF_TIER:-} == full ]]; then
  for exe in "$bin_dir"/*_bpf_test; do
    [[ ${exe##*/} == ktls_bpf_test ]] || run_binary "${exe##*/}" '*'
  done
else
  for entry in "${selection[@]}"; do
    run_binary ${entry% *} "${entry#* }"
  done
fi
# --- kTLS: ktls_bpf_test on every kernel -----------------------------------
# Every kTLS capture path on every kernel: write/read (TLS 1.2), write with
# SSL_read (TLS 1.3: the kernel sends only), sendfile, splice, SSL calls on
# kTLS sockets reported once, the kprobe fallback for write/read and for
# sendfile/splice, and the module loaded after tlstap. The cipher variants
# (AES-256-GCM, ChaCha20, the TLS 1.3 repeats of a path) change what the
# kernel encrypts, not where tlstap reads: they run on the first kernel of
# the tier only (6.1, the faster guest), and everywhere with
# TLSTAP_VM_BPF_TIER=full.
ktls_paths="KtlsSupportTest.*:KtlsLateModuleTest.*"
for p in tls1_2_aes128gcm_write_read tls1_3_aes128gcm_write_ssl tls1_2_sendfile tls1_2_splice \
  tls1_2_ssl_calls_once kprobes_tls1_2_write_read kprobes_tls1_2_sendfile_splice; do
  ktls_paths+=":Paths/KtlsTest.ExchangeExactlyOnce/$p"
done
ktls_filter=$ktls_paths
if [[ ${TLSTAP_VM_BPF_TIER:-} == full || ${TLSTAP_VM_KERNEL:-} == 6.1 ]]; then
  ktls_filter='*'
fi
if [[ -x $bin_dir/ktls_bpf_test ]]; then
  run_binary ktls_bpf_test "$ktls_filter"
else
  echo "guest.sh: ktls_bpf_test is not built in $bin_dir: kTLS capture NOT tested"
  record ktls_bpf_test ABSENT - - "not built"
fi

echo "guest.sh: summary (kernel $(uname -r)):"
column -t -s $'\t' "$summary" 2>/dev/null || cat "$summary"
exit "$failed"
