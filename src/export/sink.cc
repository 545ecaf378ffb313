#include "export/sink.h"

#include <cerrno>
#include <cstring>

namespace tlstap::exporting {

SinkFailure write_failure(const std::string& name, int err) {
  if (err == EPIPE) return {"the reader of " + name + " went away", true};
  return {"cannot write " + name + ": " + (err ? std::strerror(err) : "write failed")};
}

}  // namespace tlstap::exporting
