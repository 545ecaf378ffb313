// Errors that travel as values. Exit codes are part of the CLI's interface.
#pragma once

#include <expected>
#include <string>

namespace tlstap {

enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,         // anything not listed below
  kUsage = 2,           // bad command line
  kPermission = 3,      // not root / missing capabilities
  kNoBtf = 4,           // kernel without BTF
  kNoUprobes = 5,       // kernel without uprobe support
  kNoTlsLibrary = 6,    // no TLS library found anywhere
  kMetricsAddress = 7,  // --metrics: the address cannot be listened on
  kInterface = 8,       // -w FILE.pcapng: an interface cannot be captured on
};

struct Error {
  ExitCode code = ExitCode::kFailure;
  std::string message;  // one line, says what to do
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ExitCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

}  // namespace tlstap
