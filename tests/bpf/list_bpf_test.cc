// tlstap --list: with openssl s_server and gnutls-serv running, every TLS
// library they map is listed with its kind and version, its processes, and
// whether probes attached: attached for OpenSSL, off for GnuTLS under
// --no-gnutls. Then tlstap exits 0, leaving nothing attached.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

class ListTest : public BpfTest {};

// The two-line entry of the library whose file name starts with `file` (maps
// show libgnutls.so.30 under its real name, libgnutls.so.30.34.3): "" if none.
std::string EntryOf(const std::string& listing, const std::string& file) {
  std::istringstream in(listing);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(" ") && line.substr(line.rfind('/') + 1).starts_with(file)) {
      std::string detail;
      std::getline(in, detail);
      return line + "\n" + detail;
    }
  }
  return "";
}

TEST_F(ListTest, ListsLibrariesProcessesAndWhetherAttached) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const int ossl_port = FreeTcpPort(), gnutls_port = FreeTcpPort();
  ASSERT_GT(ossl_port, 0);
  ASSERT_GT(gnutls_port, 0);
  Subprocess ossl(Command({kOpenssl, "s_server", "-accept", HostPort("127.0.0.1", ossl_port),
                           "-cert", cert.cert, "-key", cert.key, "-quiet"}));
  ASSERT_TRUE(ossl.ok()) << ossl.error();
  Subprocess gnutls(
      Command({"/usr/bin/gnutls-serv", "--echo", "-q", "-p", std::to_string(gnutls_port),
               "--x509certfile", cert.cert, "--x509keyfile", cert.key}));
  ASSERT_TRUE(gnutls.ok()) << gnutls.error();
  ASSERT_TRUE(WaitForListen(ossl_port, 10s)) << ossl.Stderr();
  ASSERT_TRUE(WaitForListen(gnutls_port, 10s)) << gnutls.Stderr();

  RunResult r = RunToEnd(Command({kTlstap, "--list", "--no-gnutls"}), 60s);
  ASSERT_TRUE(r.status.has_value()) << "tlstap --list did not finish; stderr:\n" << r.err;
  EXPECT_EQ(*r.status, 0) << r.err;

  const std::string libssl = EntryOf(r.out, "libssl.so.3");
  ASSERT_NE(libssl, "") << "no libssl.so.3 in:\n" << r.out;
  EXPECT_NE(libssl.find("\n  openssl 3; attached 5 probes; "), std::string::npos) << libssl;
  EXPECT_NE(libssl.find(std::to_string(ossl.pid()) + " (openssl)"), std::string::npos) << libssl;

  const std::string libgnutls = EntryOf(r.out, "libgnutls.so.30");
  ASSERT_NE(libgnutls, "") << "no libgnutls.so.30 in:\n" << r.out;
  EXPECT_NE(libgnutls.find("\n  gnutls 30; off (--no-gnutls or --lib); "), std::string::npos)
      << libgnutls;
  EXPECT_NE(libgnutls.find(std::to_string(gnutls.pid()) + " (gnutls-serv)"), std::string::npos)
      << libgnutls;
  // GnuTLS's OpenSSL compatibility library is no target of its own.
  EXPECT_EQ(EntryOf(r.out, "libgnutls-openssl.so.27"), "") << r.out;
}

}  // namespace
}  // namespace tlstap::bpf_test
