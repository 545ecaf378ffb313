// JSON lines, one object per line: data events with every byte (base64),
// protocol records (export/json/record_json.h) and statistics. Field names are an interface:
// extend, never rename.
#pragma once

#include <ostream>
#include <string>

#include "export/exporter.h"
#include "export/output_file.h"

namespace tlstap::exporting {

class JsonLinesExporter : public Exporter {
 public:
  explicit JsonLinesExporter(std::ostream& out) : out_(out) {}
  // -w FILE or standard output: says why it failed and what it never wrote.
  explicit JsonLinesExporter(Output& out) : out_(out), output_(&out), unwritten_(&out) {}
  void on_data(const capture::DataEvent& event) override;
  void on_record(const protocols::Record& record) override;
  void on_stats(const capture::Stats& stats, bool final) override;
  void flush() override { out_.flush(); }
  bool failed() const override { return out_.bad(); }
  int error() const override { return output_ ? output_->error() : 0; }
  std::string output_name() const override {
    return output_ ? output_->name() : Exporter::output_name();
  }
  void add_unwritten(capture::Stats* stats) const override { unwritten_.add_to(stats); }

 private:
  std::ostream& out_;
  const Output* output_ = nullptr;
  UnwrittenCounter unwritten_{nullptr};
  std::string line_;  // reused: no allocation per event
};

}  // namespace tlstap::exporting
