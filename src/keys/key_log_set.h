// The key log lines seen so far. A secret is reported more than once in
// practice: both ends of a connection on this host log the same session,
// and a library may be hooked at two places that see one handshake. Each
// line is written once.
#pragma once

#include <string>
#include <unordered_set>

#include "keys/key_log.h"

namespace tlstap::keys {

class KeyLogSet {
 public:
  // True when line was not in the set (and now is).
  bool insert(const KeyLogLine& line);
  bool contains(const KeyLogLine& line) const;
  size_t size() const { return lines_.size(); }

 private:
  // Keyed by the formatted line: label, random and secret together, so the
  // same label and random with another secret (a different session that
  // reused a random, or a misread) is kept, not hidden.
  std::unordered_set<std::string> lines_;
};

}  // namespace tlstap::keys
