#include "protocols/record.h"

namespace tlstap::protocols {

std::string_view proto_name(Proto proto) {
  switch (proto) {
    case Proto::kHttp1:
      return "http1";
    case Proto::kHttp2:
      return "http2";
    case Proto::kMysql:
      return "mysql";
    case Proto::kPostgres:
      return "postgres";
  }
  return "unknown";
}

}  // namespace tlstap::protocols
