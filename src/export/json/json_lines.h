// JSON lines, one object per line: data events with every byte (base64),
// protocol records (export/json/record_json.h) and statistics. Field names are an interface:
// extend, never rename.
#pragma once

#include <ostream>
#include <string>

#include "export/exporter.h"

namespace tlstap::exporting {

class JsonLinesExporter : public Exporter {
 public:
  explicit JsonLinesExporter(std::ostream& out) : out_(out) {}
  void on_data(const capture::DataEvent& event) override;
  void on_record(const protocols::Record& record) override;
  void on_stats(const capture::Stats& stats, bool final) override;
  void flush() override { out_.flush(); }
  bool failed() const override { return out_.bad(); }

 private:
  std::ostream& out_;
  std::string line_;  // reused: no allocation per event
};

}  // namespace tlstap::exporting
