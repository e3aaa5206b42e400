// Importers of routing data recorded by other tools into moesim's two routing formats: the
// per-token .npz trace (sim/io/routing_trace.h) and the moesim-counts JSON
// (sim/io/expert_counts_file.h). Each format lives in its own import_<format>.cpp and is
// registered here with a description and a citation of the recorder that writes it, so that
// `moesim trace import --help` lists them. Every importer validates its input completely and
// throws one-line InputErrors naming the file and the line (JSONL), JSON path or byte offset;
// it returns the result in memory, and write_imported() writes it atomically.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/base/registry.h"
#include "sim/io/expert_counts_file.h"
#include "sim/io/routing_trace.h"

namespace moesim {

// A bundled model's shape, for inferring --model and the layer ids the data leaves out.
struct ModelShape {
  std::string name;
  int64_t num_layers = 0;
  int64_t num_experts = 0;
  std::vector<int64_t> moe_layers;  // model layer ids of the MoE layers
};

struct ImportOptions {
  std::vector<ModelShape> models;  // the bundled models (the CLI fills them)
  std::string model;            // --model; empty: from the data, else the format's default
  int64_t experts = 0;          // --experts; 0: from the data
  int64_t top_k = 0;            // --top-k; 0: from the data
  std::vector<int64_t> layers;  // --layers; empty: from the data
  std::string missing = "drop"; // --missing (mixtral-jsonl): "drop" or "sample"
  uint64_t seed = 0;            // --seed for --missing sample
};

struct Imported {
  bool is_trace = false;
  TraceData trace;                 // when is_trace
  ExpertCounts counts;             // otherwise (format "moesim-counts")
  std::vector<std::string> notes;  // what the importer dropped, filled or assumed
};

using ImportFunction = Imported (*)(const std::string& in, const ImportOptions& options);
const Registry<ImportFunction>& importer_registry();

// Writes a trace (.npz) or counts (JSON) atomically; a failed import leaves no OUT behind.
void write_imported(const std::string& out, const Imported& result);

Imported import_sglang_counts(const std::string& in, const ImportOptions& options);
Imported import_mixtral_jsonl(const std::string& in, const ImportOptions& options);
Imported import_olmoe_counts(const std::string& in, const ImportOptions& options);
Imported import_switch_counts(const std::string& in, const ImportOptions& options);
Imported import_megatron_jsonl(const std::string& in, const ImportOptions& options);
Imported import_vllm(const std::string& in, const ImportOptions& options);
Imported import_trtllm(const std::string& in, const ImportOptions& options);

}  // namespace moesim
