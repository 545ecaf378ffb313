// tlstap --list: with openssl s_server and gnutls-serv running, every TLS
// library they map is listed with its kind and version, its processes, and
// whether probes attached: attached for OpenSSL, off for GnuTLS under
// --no-gnutls. Then tlstap exits 0, leaving nothing attached.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

class ListTest : public BpfTest {};

// The release of the go that built the peers ("1.19.8").
std::string GoVersion() {
  RunResult r = RunToEnd(Command({"/bin/sh", "-c", "go env GOVERSION"}), 30s);
  std::string v = r.out.substr(0, r.out.find('\n'));
  return v.starts_with("go") ? v.substr(2) : v;
}

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

// NSS is two files: libnspr4, where the plaintext passes (PR_Write,
// PR_Writev, PR_Send, PR_Read, PR_Recv with their returns, and PR_Close: 11
// probes) and libssl3 (SSL_ImportFD's return: 1); both kind nss with NSS's
// own versions. BoringSSL's libssl.so.0 is kind boringssl, off here.
TEST_F(ListTest, ListsNssFilesAndBoringSsl) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(MakeNssDb(dir));
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const int nss_port = FreeTcpPort(), boring_port = FreeTcpPort();
  ASSERT_GT(nss_port, 0);
  ASSERT_GT(boring_port, 0);
  Subprocess nss(Command({"/usr/bin/selfserv", "-d", "sql:" + dir.path(), "-e", "server", "-p",
                          std::to_string(nss_port)}));
  ASSERT_TRUE(nss.ok()) << nss.error();
  Subprocess boring(Command({TLSTAP_BORING_PEER, "server", std::to_string(boring_port), cert.cert,
                             cert.key, "1.3", "1"}));
  ASSERT_TRUE(boring.ok()) << boring.error();
  ASSERT_TRUE(WaitForListen(nss_port, 10s)) << nss.Stderr();
  ASSERT_TRUE(WaitForListen(boring_port, 10s)) << boring.Stderr();

  RunResult r = RunToEnd(Command({kTlstap, "--list", "--no-boringssl"}), 60s);
  ASSERT_TRUE(r.status.has_value()) << "tlstap --list did not finish; stderr:\n" << r.err;
  EXPECT_EQ(*r.status, 0) << r.err;
  RunResult nspr_version =
      RunToEnd(Command({"dpkg-query", "-W", "-f=${Version}", "libnspr4"}), 10s);
  RunResult nss_version = RunToEnd(Command({"dpkg-query", "-W", "-f=${Version}", "libnss3"}), 10s);
  // "2:4.35-1" -> "4.35"
  auto upstream = [](std::string v) {
    if (size_t colon = v.find(':'); colon != std::string::npos) v = v.substr(colon + 1);
    return v.substr(0, v.find('-'));
  };
  const std::string selfserv = std::to_string(nss.pid()) + " (selfserv)";

  const std::string nspr = EntryOf(r.out, "libnspr4.so");
  ASSERT_NE(nspr, "") << "no libnspr4.so in:\n" << r.out;
  EXPECT_NE(nspr.find("\n  nss NSPR " + upstream(nspr_version.out) + "; attached 11 probes; "),
            std::string::npos)
      << nspr;
  EXPECT_NE(nspr.find(selfserv), std::string::npos) << nspr;

  const std::string libssl3 = EntryOf(r.out, "libssl3.so");
  ASSERT_NE(libssl3, "") << "no libssl3.so in:\n" << r.out;
  EXPECT_NE(libssl3.find("\n  nss " + upstream(nss_version.out) + "; attached 1 probe; "),
            std::string::npos)
      << libssl3;
  EXPECT_NE(libssl3.find(selfserv), std::string::npos) << libssl3;
  // libnss3 (certificates, PKCS #11) is no target.
  EXPECT_EQ(EntryOf(r.out, "libnss3.so"), "") << r.out;

  const std::string android = EntryOf(r.out, "libssl.so.0");
  ASSERT_NE(android, "") << "no android libssl.so.0 in:\n" << r.out;
  EXPECT_NE(android.find("\n  boringssl 0; off (--no-boringssl or --lib); "), std::string::npos)
      << android;
  EXPECT_NE(android.find(std::to_string(boring.pid()) + " (tls_boring)"), std::string::npos)
      << android;
}

// A stripped Go program is listed as kind go with its toolchain version,
// its probes (two entries and one per RET) attached; off under --no-go.
TEST_F(ListTest, ListsGoPrograms) {
  const std::string program = std::string(kGoPeerDir) + "/tls_go_stripped";
  ASSERT_TRUE(std::filesystem::exists(program)) << program << " was not built: golang-go missing";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  Subprocess server(
      Command({program, "server", "exchange", "--cert", cert.cert, "--key", cert.key}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(server.WaitForStdout(
      [](std::string_view out) { return out.find("listening") != std::string_view::npos; }, 10s))
      << server.Stderr();

  for (bool off : {false, true}) {
    std::vector<std::string> argv = {kTlstap, "--list"};
    if (off) argv.push_back("--no-go");
    RunResult r = RunToEnd(Command(argv), 60s);
    ASSERT_TRUE(r.status.has_value()) << "tlstap --list did not finish; stderr:\n" << r.err;
    EXPECT_EQ(*r.status, 0) << r.err;
    const std::string entry = EntryOf(r.out, "tls_go_stripped");
    ASSERT_NE(entry, "") << "no tls_go_stripped in:\n" << r.out;
    EXPECT_NE(entry.find("\n  go 1."), std::string::npos) << entry;
    EXPECT_NE(entry.find(off ? "; off (--no-go or --lib); " : "; attached "), std::string::npos)
        << entry;
    EXPECT_NE(entry.find(std::to_string(server.pid()) + " (tls_go_strippe"), std::string::npos)
        << entry;
  }
}

// A Java program doing TLS in the JVM (JSSE), which tlstap does not hook:
// --list names its process and says so; a capture whose --pid names it
// says so in one line at start; nothing of it is captured. Before, it was
// simply absent from both, in silence.
TEST_F(ListTest, JavaIsNamedAsNotHooked) {
  const std::string classes = TLSTAP_JAVA_PEER_DIR;
  ASSERT_TRUE(std::filesystem::exists(classes + "/TlsJava.class"))
      << classes << "/TlsJava.class was not built: javac missing (openjdk-17-jdk-headless, "
      << "scripts/install-deps.sh)";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  Subprocess server(Command({kOpenssl, "s_server", "-accept", HostPort("127.0.0.1", port), "-cert",
                             cert.cert, "-key", cert.key, "-quiet"}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  Subprocess java(Command({"/usr/bin/java", "-cp", classes, "TlsJava", std::to_string(port)}));
  ASSERT_TRUE(java.ok()) << java.error();
  ASSERT_TRUE(java.WaitForStdout(
      [](std::string_view out) { return out.find("connected") != std::string_view::npos; }, 60s))
      << java.Stderr();
  const std::string pid = std::to_string(java.pid());

  RunResult r = RunToEnd(Command({kTlstap, "--list"}), 60s);
  ASSERT_TRUE(r.status.has_value()) << "tlstap --list did not finish; stderr:\n" << r.err;
  EXPECT_EQ(*r.status, 0) << r.err;
  const size_t at = r.out.find("not hooked: pid " + pid + " (java) runs Java (/");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  EXPECT_TRUE(line.ends_with(
      "/libjvm.so), whose TLS (JSSE) tlstap does not hook: its TLS traffic is not shown"))
      << line;

  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--pid", pid}));
  EXPECT_NE(tap.Stderr().find("tlstap: pid " + pid + " (java) runs Java (/"), std::string::npos)
      << tap.Stderr();
  EXPECT_NE(tap.Stderr().find("/libjvm.so), whose TLS (JSSE) tlstap does not hook: its TLS "
                              "traffic will not be shown\n"),
            std::string::npos)
      << tap.Stderr();
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  EXPECT_TRUE(capture.events.empty()) << Describe(capture.events.front());
}

// Go programs that are not attached are listed all the same, with the
// reason: one without crypto/tls says so. One without .go.buildinfo (as
// binaries repackaged outside the Go toolchain come) is found through
// .gopclntab and attached, its version read from runtime.buildVersion.
TEST_F(ListTest, ListsEveryGoProgramWithTheReasonWhenNotAttached) {
  const std::string plain = std::string(kGoPeerDir) + "/go_no_tls";
  const std::string no_buildinfo = std::string(kGoPeerDir) + "/tls_go_nobinfo";
  ASSERT_TRUE(std::filesystem::exists(plain)) << plain << " was not built: golang-go missing";
  ASSERT_TRUE(std::filesystem::exists(no_buildinfo)) << no_buildinfo << " was not built";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  Subprocess waiting(Command({plain, "wait"}));
  ASSERT_TRUE(waiting.ok()) << waiting.error();
  ASSERT_TRUE(waiting.WaitForStdout(
      [](std::string_view out) { return out.find("waiting") != std::string_view::npos; }, 10s))
      << waiting.Stderr();
  Subprocess server(
      Command({no_buildinfo, "server", "exchange", "--cert", cert.cert, "--key", cert.key}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(server.WaitForStdout(
      [](std::string_view out) { return out.find("listening") != std::string_view::npos; }, 10s))
      << server.Stderr();

  RunResult r = RunToEnd(Command({kTlstap, "--list"}), 60s);
  ASSERT_TRUE(r.status.has_value()) << "tlstap --list did not finish; stderr:\n" << r.err;
  EXPECT_EQ(*r.status, 0) << r.err;
  const std::string go_version = GoVersion();
  const std::string not_tls = EntryOf(r.out, "go_no_tls");
  ASSERT_NE(not_tls, "") << "no go_no_tls in:\n" << r.out;
  EXPECT_NE(not_tls.find("\n  go " + go_version + "; not attached: no crypto/tls"),
            std::string::npos)
      << not_tls;
  EXPECT_NE(not_tls.find(std::to_string(waiting.pid()) + " (go_no_tls)"), std::string::npos)
      << not_tls;
  const std::string repackaged = EntryOf(r.out, "tls_go_nobinfo");
  ASSERT_NE(repackaged, "") << "no tls_go_nobinfo in:\n" << r.out;
  EXPECT_NE(repackaged.find("\n  go " + go_version + "; attached "), std::string::npos)
      << repackaged;
  EXPECT_NE(repackaged.find(std::to_string(server.pid()) + " (tls_go_nobinfo)"), std::string::npos)
      << repackaged;
}

}  // namespace
}  // namespace tlstap::bpf_test
