// Imports SGLang's expert-distribution counts: the JSON {"logical_count": [[count x experts] x
// layers]} that `--expert-distribution-recorder-mode stat` dumps and `--init-expert-location`
// loads (rows are all model layers, dense ones all zero), or the per-step form [steps][layers]
// [experts], which is summed over steps. Writes moesim-counts JSON. The file names no model:
// --model, or the one bundled model of that shape (import_util.h model_and_layers); --top-k
// (optional) is checked against each row's sum.
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "sim/import/import_util.h"
#include "sim/io/input_file.h"

namespace moesim {

namespace {

// SGLang's early recorder (dump_expert_distribution_record, 2025) wrote one CSV per rank,
// expert_distribution_rank<R>_timestamp<T>.csv, with the header layer_id,expert_id,count and a
// row per (MoE layer, expert) that received tokens. The ranks of one dump are the files of the
// same folder and timestamp; their counts are summed.
std::vector<std::string> dump_ranks(const std::string& in) {
  namespace fs = std::filesystem;
  const std::string name = fs::path(in).filename().string();
  const auto r = name.find("_rank"), t = name.find("_timestamp");
  if (r == std::string::npos || t == std::string::npos || t < r) return {in};
  const std::string prefix = name.substr(0, r + 5), suffix = name.substr(t);
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(in).parent_path().empty() ? fs::path(".") : fs::path(in).parent_path(), ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() > prefix.size() + suffix.size() && n.starts_with(prefix) && n.ends_with(suffix) &&
        std::all_of(n.begin() + static_cast<std::ptrdiff_t>(prefix.size()), n.end() - static_cast<std::ptrdiff_t>(suffix.size()), ::isdigit))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out.empty() ? std::vector<std::string>{in} : out;
}

// The dump summed over its ranks: layer id -> expert id -> count, and where the highest expert id
// was read ("FILE: line N"), for the error when it is beyond the model's experts.
struct CsvDump {
  std::map<int64_t, std::map<int64_t, double>> sum;
  int64_t max_id = -1;
  std::string max_id_file, max_id_line;
};

CsvDump read_csv_dump(const std::vector<std::string>& files) {
  CsvDump dump;
  auto& sum = dump.sum;
  for (const auto& file : files) {
    const std::string text = import::read_file(file);
    size_t at = 0;
    int64_t line = 0;
    while (at < text.size()) {
      const size_t end = std::min(text.find('\n', at), text.size());
      std::string row = text.substr(at, end - at);
      at = end + 1;
      ++line;
      if (!row.empty() && row.back() == '\r') row.pop_back();
      if (line == 1) {
        if (row != "layer_id,expert_id,count") throw input_error(file, "line 1", "expected the header layer_id,expert_id,count");
        continue;
      }
      if (row.empty()) continue;
      int64_t v[3] = {-1, -1, -1};
      const char* p = row.data();
      const char* stop = row.data() + row.size();
      for (int i = 0; i < 3; ++i) {
        const auto res = std::from_chars(p, stop, v[i]);
        if (res.ec != std::errc() || v[i] < 0 || (i < 2 && (res.ptr == stop || *res.ptr != ',')) || (i == 2 && res.ptr != stop))
          throw input_error(file, fmt::format("line {}", line), fmt::format("expected three whole numbers >= 0 (layer_id,expert_id,count), got \"{}\"", row.substr(0, 80)));
        p = res.ptr + 1;
      }
      if (v[0] > (1 << 20) || v[1] > (1 << 20)) throw input_error(file, fmt::format("line {}", line), "layer or expert id above 2^20");
      sum[v[0]][v[1]] += static_cast<double>(v[2]);
      if (v[1] > dump.max_id) dump.max_id = v[1], dump.max_id_file = file, dump.max_id_line = fmt::format("line {}", line);
    }
  }
  return dump;
}

// The CSV dump as counts: rows are the recorded MoE layers (their own ids), experts the model's.
Imported import_csv_dump(const std::string& in, const ImportOptions& opt) {
  const auto files = dump_ranks(in);
  const CsvDump dump = read_csv_dump(files);
  const auto& sum = dump.sum;
  if (sum.empty()) throw input_error(in, "", "the dump holds no counts");
  int64_t experts = opt.experts;
  std::string model = opt.model;
  std::vector<int64_t> layers;
  for (const auto& [l, row] : sum) layers.push_back(l);
  const int64_t max_id = dump.max_id;
  // The model: --model, else the one bundled model whose MoE layers include the recorded ones and
  // whose experts cover the highest id.
  std::vector<const ModelShape*> fits;
  for (const auto& m : opt.models) {
    const bool layers_ok = std::all_of(layers.begin(), layers.end(), [&](int64_t l) { return std::find(m.moe_layers.begin(), m.moe_layers.end(), l) != m.moe_layers.end(); });
    if ((model.empty() || m.name == model) && layers_ok && m.num_experts > max_id && (experts == 0 || m.num_experts == experts)) fits.push_back(&m);
  }
  if (model.empty()) {
    if (fits.size() != 1)
      throw InputError(fmt::format("--model NAME is required for this SGLang CSV dump: {} bundled models have MoE layers {}..{} and more than {} experts",
                                   fits.size(), layers.front(), layers.back(), max_id));
    model = fits[0]->name;
  }
  if (experts == 0) {
    if (fits.empty()) throw InputError(fmt::format("--experts N is required for this SGLang CSV dump (experts absent from it had no tokens; the highest id is {})", max_id));
    experts = fits[0]->num_experts;
  }
  if (max_id >= experts) throw input_error(dump.max_id_file, dump.max_id_line, fmt::format("expert id {} out of range for {} experts", max_id, experts));
  if (!opt.layers.empty() && opt.layers != layers)
    throw input_error(in, "", fmt::format("--layers does not match the dump's layer ids ({}..{}, {} layers)", layers.front(), layers.back(), layers.size()));
  ExpertCounts c;
  c.format = "moesim-counts";
  c.model = model;
  c.num_experts = experts;
  c.top_k = opt.top_k;
  c.layers = layers;
  for (const auto& [l, row] : sum) {
    std::vector<double> counts(static_cast<size_t>(experts), 0.0);
    for (const auto& [e, n] : row) counts[static_cast<size_t>(e)] = n;
    c.counts.push_back(std::move(counts));
  }
  import::check_counts(in, c.counts, c.top_k, [&](size_t r) { return fmt::format("layer {}", c.layers[r]); });
  c.source = fmt::format("sglang-counts: {} (SGLang CSV expert-distribution dump, {} rank file{} summed)", import::base_name(in), files.size(), files.size() == 1 ? "" : "s");
  Imported out;
  out.counts = std::move(c);
  out.notes.push_back(fmt::format("summed {} rank file{} of the dump; experts absent from it counted 0", files.size(), files.size() == 1 ? "" : "s"));
  return out;
}

}  // namespace

Imported import_sglang_counts(const std::string& in, const ImportOptions& opt) {
  if (read_input_prefix(in, kMaxJsonFileBytes, "a counts file", 24) == "layer_id,expert_id,count") return import_csv_dump(in, opt);
  const auto doc = import::load_json(in);
  auto root = doc.root().as_object();
  const JsonValue lc = root.required("logical_count");
  const auto outer = lc.as_array(1, 1 << 24);
  const bool per_step = outer[0].is_array() && !outer[0].raw().empty() && outer[0].raw()[0].is_array();
  std::vector<std::vector<double>> sum;
  for (const auto& step : per_step ? outer : std::vector<JsonValue>{lc}) {
    const auto rows = step.as_array(1, 100000);
    if (!sum.empty() && rows.size() != sum.size())
      step.fail(fmt::format("wrong layer count: {} layers, but the first step has {}", rows.size(), sum.size()));
    if (sum.empty()) sum.assign(rows.size(), {});
    for (size_t l = 0; l < rows.size(); ++l) {
      const auto cells = rows[l].as_array(1, 1 << 20);
      if (sum[l].empty()) sum[l].assign(cells.size(), 0.0);
      if (cells.size() != sum[l].size() || cells.size() != sum[0].size())
        rows[l].fail(fmt::format("expected {} experts like the first row, got {}", sum[0].size(), cells.size()));
      for (size_t e = 0; e < cells.size(); ++e) sum[l][e] += cells[e].as_number(0.0, 1e18);
    }
  }
  ExpertCounts c;
  c.format = "moesim-counts";
  c.num_experts = import::expert_count(in, opt, static_cast<int64_t>(sum[0].size()), "sglang-counts");
  c.top_k = opt.top_k;
  auto resolved = import::model_and_layers(in, opt, c.num_experts, static_cast<int64_t>(sum.size()), "sglang-counts");
  c.model = resolved.model;
  c.layers = std::move(resolved.layers);
  if (c.top_k > c.num_experts) throw InputError(fmt::format("--top-k {} exceeds the {} experts", c.top_k, c.num_experts));
  import::check_counts(in, sum, c.top_k, [&](size_t r) { return fmt::format("$.logical_count{}[{}]", per_step ? "[*]" : "", r); });
  c.counts = std::move(sum);
  c.source = fmt::format("sglang-counts: {} (SGLang expert-distribution recorder, logical_count{})", import::base_name(in),
                         per_step ? fmt::format(", {} steps summed", outer.size()) : "");
  Imported out;
  out.counts = std::move(c);
  if (per_step) out.notes.push_back(fmt::format("summed {} steps", outer.size()));
  return out;
}

}  // namespace moesim
