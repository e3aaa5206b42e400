// Imports TensorRT-LLM's expert statistics (ExpertStatistic, enabled by
// EXPERT_STATISTIC_ITER_RANGE=start-stop, written to EXPERT_STATISTIC_PATH): a folder with
// meta_info.json {"num_experts", "num_experts_per_token", ...} and rank{r}.safetensors, one
// 1-D tensor of per-expert token counts (bincount of the selected experts, int32) per key
// "{iter}_{layer}". Sums the counts over iterations and ranks per layer and writes
// moesim-counts JSON. Other files of the folder (cooccurrence_*, *_raw, token_selected_*) are
// ignored. The statistics name no model: --model is required.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "sim/import/import_util.h"
#include "sim/import/safetensors_file.h"

namespace moesim {

Imported import_trtllm(const std::string& in, const ImportOptions& opt) {
  namespace fs = std::filesystem;
  const std::string model = import::model_name(opt, "", "trtllm");
  std::error_code ec;
  if (!fs::is_directory(in, ec)) throw input_error(in, "", "expected the EXPERT_STATISTIC_PATH folder (meta_info.json + rank{r}.safetensors)");
  const std::string meta_path = (fs::path(in) / "meta_info.json").string();
  const auto meta_doc = import::load_json(meta_path);
  auto meta = meta_doc.root().as_object();
  const int64_t E = import::expert_count(meta_path, opt, meta.required("num_experts").as_int(1, 1 << 20), "trtllm");
  const JsonValue k_v = meta.required("num_experts_per_token");
  const int64_t K = k_v.as_int(1, E);
  import::check_top_k(meta_path, "$.num_experts_per_token", opt, K);

  static const std::regex rank_name(R"(rank(\d{1,6})\.safetensors)");
  static const std::regex key_name(R"((\d{1,9})_(\d{1,6}))");
  std::vector<std::pair<int64_t, std::string>> files;
  for (const auto& entry : fs::directory_iterator(in, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, rank_name)) files.emplace_back(std::stoll(m[1]), entry.path().string());
  }
  if (ec) throw input_error(in, "", "cannot list folder: " + ec.message());
  if (files.empty()) throw input_error(in, "", "folder holds no rank{r}.safetensors file");
  std::sort(files.begin(), files.end());

  std::map<int64_t, std::vector<double>> per_layer;
  std::set<int64_t> iters;
  for (const auto& [rank, path] : files) {
    const std::string bytes = import::read_file(path);
    for (const auto& [key, t] : import::parse_safetensors(path, bytes)) {
      std::smatch m;
      if (!std::regex_match(key, m, key_name)) throw input_error(path, "header: " + key, "expected a key \"{iter}_{layer}\"");
      const int64_t iter = std::stoll(m[1]), layer = std::stoll(m[2]);
      if (t.shape.size() != 1 || t.shape[0] != E)
        throw input_error(path, "header: " + key + ".shape", fmt::format("expected [{}] (num_experts), got {} dimensions of {} elements", E, t.shape.size(), t.count));
      auto& sum = per_layer[layer];
      sum.resize(static_cast<size_t>(E), 0.0);
      double total = 0;
      for (int64_t e = 0; e < E; ++e) {
        const double x = t.value(e);
        const std::string at = fmt::format("{}[{}] (byte offset {})", key, e, t.offset + e * t.item_bytes);
        if (!std::isfinite(x)) throw input_error(path, at, "count is not finite");
        if (x < 0) throw input_error(path, at, fmt::format("negative count {}", x));
        sum[static_cast<size_t>(e)] += x;
        total += x;
      }
      if (std::floor(total) == total && std::fmod(total, static_cast<double>(K)) != 0)
        throw input_error(path, key, fmt::format("top-k mismatch: the counts sum to {}, not a multiple of num_experts_per_token {}", total, K));
      iters.insert(iter);
    }
  }
  if (per_layer.empty()) throw input_error(in, "", "the rank files hold no \"{iter}_{layer}\" tensor");
  ExpertCounts c;
  c.format = "moesim-counts";
  c.model = model;
  c.num_experts = E;
  c.top_k = K;
  for (auto& [layer, row] : per_layer) {
    c.layers.push_back(layer);
    c.counts.push_back(std::move(row));
  }
  import::check_layer_set(in, opt, c.layers);
  c.source = fmt::format("trtllm: {} (TensorRT-LLM expert statistic), iterations {}..{} ({} recorded), {} rank file(s)", import::base_name(in),
                         *iters.begin(), *iters.rbegin(), iters.size(), files.size());
  Imported out;
  out.counts = std::move(c);
  return out;
}

}  // namespace moesim
