// Imports Megatron-Core's MoE router trace (--moe-routing-trace-path): one JSONL file per rank,
// router_trace_rank{r}.jsonl, one line per (step, layer):
//   {"step", "stage": "pre_dispatch", "block": "decoder"|"mtp", "layer", "rank", "num_tokens",
//    "topk", "top_indices": [[k ids] x num_tokens]} (+ optional mtp_idx, hs_*/logit_* fields).
// IN is one such file or a folder of them. Writes a trace without gate weights (the tracer does
// not record them). Tokens are those of each (step, rank) in ascending order; every (step,
// rank) must record every decoder layer once with the same num_tokens (pipeline-parallel ranks
// that hold different layers cannot be joined into tokens). MTP records are skipped. The trace
// records neither the model nor the expert count: --model and --experts are required.
#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "sim/import/import_util.h"

namespace moesim {
namespace {

struct LayerRecord {
  std::vector<int32_t> ids;  // [num_tokens][k]
  int64_t line = 0;
  std::string file;
};

std::vector<std::string> rank_files(const std::string& in) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(in, ec)) return {in};
  static const std::regex name(R"(router_trace_rank(\d+)\.jsonl)");
  std::vector<std::pair<int64_t, std::string>> found;
  for (const auto& entry : fs::directory_iterator(in, ec)) {
    std::smatch m;
    const std::string file = entry.path().filename().string();
    if (std::regex_match(file, m, name) && m[1].length() < 9) found.emplace_back(std::stoll(m[1]), entry.path().string());
  }
  if (ec) throw input_error(in, "", "cannot list folder: " + ec.message());
  if (found.empty()) throw input_error(in, "", "folder holds no router_trace_rank{r}.jsonl file");
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

using Groups = std::map<std::pair<int64_t, int64_t>, std::map<int64_t, LayerRecord>>;  // (step, rank) -> layer -> record

// Reads the decoder-layer records of every rank file into groups, checking each record.
class RecordReader {
 public:
  RecordReader(const ImportOptions& opt, int64_t experts) : opt_(opt), E_(experts) {}

  void read(const std::string& file) {
    import::for_each_jsonl(file, [&](int64_t line, const JsonValue& v) { add(file, line, v); });
  }

  Groups groups;
  int64_t K = 0;
  int64_t skipped_mtp = 0;

 private:
  void add(const std::string& file, int64_t line, const JsonValue& v) {
    auto o = v.as_object();
    const std::string block = o.has("block") ? o.required("block").as_string() : std::string("decoder");
    if (o.has("stage")) o.required("stage").as_string();
    if (block != "decoder") {
      ++skipped_mtp;
      return;
    }
    const int64_t step = o.required("step").as_int(0, INT64_C(1) << 40);
    const int64_t rank = o.required("rank").as_int(0, 1 << 24);
    const int64_t layer = o.required("layer").as_int(0, 1 << 20);
    const int64_t n = o.required("num_tokens").as_int(0, INT64_C(1) << 31);
    const JsonValue topk_v = o.required("topk");
    const int64_t k = topk_v.as_int(1, 1 << 16);
    if (K == 0) K = k;
    if (k != K) topk_v.fail(fmt::format("top-k mismatch: topk {} but earlier records have {}", k, K));
    import::check_top_k(file, fmt::format("line {}: $.topk", line), opt_, k);
    if (k > E_) topk_v.fail(fmt::format("topk {} exceeds the {} experts (--experts)", k, E_));
    LayerRecord rec;
    rec.line = line;
    rec.file = file;
    read_rows(o.required("top_indices"), n, k, rec.ids);
    auto& group = groups[{step, rank}];
    if (auto dup = group.find(layer); dup != group.end())
      v.fail(fmt::format("duplicate record: step {} rank {} layer {} already came at {} line {}", step, rank, layer,
                         import::base_name(dup->second.file), dup->second.line));
    group.emplace(layer, std::move(rec));
  }

  // The n rows of k distinct expert ids of `top_indices`, appended to `ids`.
  void read_rows(const JsonValue& rows_v, int64_t n, int64_t k, std::vector<int32_t>& ids) const {
    const auto rows = rows_v.as_array();
    if (static_cast<int64_t>(rows.size()) != n) rows_v.fail(fmt::format("has {} rows but num_tokens is {}", rows.size(), n));
    ids.reserve(static_cast<size_t>(n * k));
    for (const auto& row : rows) {
      const auto cells = row.as_array();
      if (static_cast<int64_t>(cells.size()) != k) row.fail(fmt::format("top-k mismatch: {} experts but topk is {}", cells.size(), k));
      const size_t first = ids.size();
      for (const auto& cell : cells) {
        const int32_t id = import::expert_id(cell, E_);
        if (std::find(ids.begin() + static_cast<std::ptrdiff_t>(first), ids.end(), id) != ids.end())
          cell.fail(fmt::format("expert {} appears twice in one token's top-k", id));
        ids.push_back(id);
      }
    }
  }

  const ImportOptions& opt_;
  const int64_t E_;
};

// The layer ids recorded, ascending.
std::vector<int64_t> recorded_layers(const Groups& groups) {
  std::vector<int64_t> layers;
  for (const auto& [key, group] : groups)
    for (const auto& [layer, rec] : group)
      if (std::find(layers.begin(), layers.end(), layer) == layers.end()) layers.push_back(layer);
  std::sort(layers.begin(), layers.end());
  return layers;
}

// Checks that every (step, rank) records every layer with the same num_tokens; returns the tokens of all groups.
int64_t count_tokens(const Groups& groups, const std::vector<int64_t>& layers, int64_t K) {
  int64_t tokens = 0;
  for (const auto& [key, group] : groups) {
    if (group.size() != layers.size()) {
      for (int64_t l : layers)
        if (!group.count(l))
          throw input_error(group.begin()->second.file, fmt::format("step {} rank {}", key.first, key.second),
                            fmt::format("wrong layer count: layer {} is missing ({} of {} layers recorded); every step of every rank must "
                                        "record every MoE layer", l, group.size(), layers.size()));
    }
    const auto& first = group.begin()->second;
    for (const auto& [layer, rec] : group)
      if (rec.ids.size() != first.ids.size())
        throw input_error(rec.file, fmt::format("line {}", rec.line),
                          fmt::format("num_tokens {} but layer {} of the same step and rank (line {}) has {}", rec.ids.size() / K,
                                      group.begin()->first, first.line, first.ids.size() / K));
    tokens += static_cast<int64_t>(first.ids.size()) / K;
  }
  return tokens;
}

// The recorded layer ids against the bundled model --model names: each must be one of its MoE
// layers, and all of them must be there. A pipeline-parallel run numbers each stage's layers
// from 0 (its index inside the stage's block), so its ranks' files look like one stage of the
// model with several stages' tokens: refused, not joined.
void check_against_model(const std::string& in, const ImportOptions& opt, const std::vector<int64_t>& layers) {
  const ModelShape* shape = nullptr;
  for (const auto& m : opt.models)
    if (m.name == opt.model) shape = &m;
  if (!shape || shape->moe_layers.empty()) return;
  const std::set<int64_t> moe(shape->moe_layers.begin(), shape->moe_layers.end());
  for (int64_t l : layers)
    if (!moe.count(l))
      throw input_error(in, "", fmt::format("recorded layer {} is not an MoE layer of {} (MoE layers {}..{}); pass --layers with the model layer ids", l,
                                            shape->name, shape->moe_layers.front(), shape->moe_layers.back()));
  if (layers.size() < moe.size() && opt.layers.empty())
    throw input_error(in, "", fmt::format("the ranks record {} MoE layers ({}..{}) but {} has {}: a pipeline-parallel run numbers each stage's layers "
                                          "from 0, so its stages cannot be joined; import one stage's rank files with --layers set to its model layer ids",
                                          layers.size(), layers.front(), layers.back(), shape->name, moe.size()));
}

}  // namespace

Imported import_megatron_jsonl(const std::string& in, const ImportOptions& opt) {
  const std::string model = import::model_name(opt, "", "megatron-jsonl");
  const int64_t E = import::expert_count(in, opt, 0, "megatron-jsonl");
  RecordReader reader(opt, E);
  const auto files = rank_files(in);
  for (const auto& file : files) reader.read(file);
  const Groups& groups = reader.groups;
  const int64_t K = reader.K;
  if (groups.empty()) throw input_error(in, "", "no decoder-layer records");
  const std::vector<int64_t> layers = recorded_layers(groups);
  import::check_layer_set(in, opt, layers);
  check_against_model(in, opt, layers);
  const int64_t tokens = count_tokens(groups, layers, K);
  if (tokens == 0) throw input_error(in, "", "the trace holds no tokens");
  Imported out;
  out.is_trace = true;
  TraceHeader& h = out.trace.header;
  h.model = model;
  h.num_experts = E;
  h.top_k = K;
  h.layers = layers;
  h.tokens = tokens;
  out.trace.ids.reserve(static_cast<size_t>(tokens * K) * layers.size());
  for (int64_t l : layers)
    for (const auto& [key, group] : groups) {
      const auto& ids = group.at(l).ids;
      out.trace.ids.insert(out.trace.ids.end(), ids.begin(), ids.end());
    }
  h.source = fmt::format("megatron-jsonl: {} (Megatron-Core --moe-routing-trace-path), {} rank file(s), {} (step, rank) groups",
                         import::base_name(in), files.size(), groups.size());
  if (reader.skipped_mtp) out.notes.push_back(fmt::format("skipped {} MTP records", reader.skipped_mtp));
  return out;
}

}  // namespace moesim
