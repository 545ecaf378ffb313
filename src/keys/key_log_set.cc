#include "keys/key_log_set.h"

namespace tlstap::keys {

bool KeyLogSet::insert(const KeyLogLine& line) {
  return lines_.insert(format_key_log_line(line)).second;
}

bool KeyLogSet::contains(const KeyLogLine& line) const {
  return lines_.contains(format_key_log_line(line));
}

}  // namespace tlstap::keys
