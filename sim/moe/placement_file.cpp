// The "file" placement policy: a placement written by another tool, in SGLang's
// physical_to_logical_map layout (the file `--init-expert-location` loads): for each layer, the
// logical expert held by each physical slot; slot s lives on expert-parallel rank s / slots_per_rank.
#include <fmt/format.h>

#include "sim/io/json_reader.h"
#include "sim/moe/placement.h"

namespace moesim {
namespace {

// Slot s is on rank s / per_rank. A second copy of an expert on one rank serves nothing the first
// does not (the framework routes a token to one of them), so it is a mistake in the file.
void check_one_copy_per_rank(const JsonValue& row, const std::vector<int32_t>& r, int64_t num_experts, int64_t per_rank) {
  std::vector<int64_t> last_slot(static_cast<size_t>(num_experts), -1);
  const auto items = row.as_array();
  for (int64_t s = 0; s < static_cast<int64_t>(r.size()); ++s) {
    auto& last = last_slot[static_cast<size_t>(r[static_cast<size_t>(s)])];
    const int64_t rank_first = s - s % per_rank;
    if (last >= rank_first)
      items[static_cast<size_t>(s)].fail(fmt::format("expert {} is already in slot {} of rank {} (slots {} to {}): a rank holds an expert at most once",
                                                     r[static_cast<size_t>(s)], last, s / per_rank, rank_first, rank_first + per_rank - 1));
    last = s;
  }
}

}  // namespace

std::vector<std::vector<int32_t>> load_placement_file(const std::string& path, const std::vector<bool>& layer_is_moe,
                                                      int64_t num_experts, int64_t slots, int64_t expert_parallel) {
  const auto doc = JsonDocument::load_file(path);
  auto o = doc.root().as_object();
  const auto map = o.required("physical_to_logical_map");
  o.finish();
  std::vector<std::vector<int32_t>> rows;
  std::vector<JsonValue> row_values;
  for (const auto& row : map.as_array(1, 100000)) {
    std::vector<int32_t> r;
    const auto items = row.as_array();
    if (static_cast<int64_t>(items.size()) != slots)
      row.fail(fmt::format("expected {} physical slots (experts + redundant_experts), got {}", slots, items.size()));
    for (const auto& x : items) r.push_back(static_cast<int32_t>(x.as_int(0, num_experts - 1)));
    rows.push_back(std::move(r));
    row_values.push_back(row);
  }
  const int64_t L = static_cast<int64_t>(layer_is_moe.size());
  int64_t moe = 0;
  for (bool m : layer_is_moe) moe += m;
  std::vector<std::vector<int32_t>> by_layer(L);
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n != 1 && n != L && n != moe)
    map.fail(fmt::format("expected 1, {} (model layers) or {} (MoE layers) rows, got {}", L, moe, n));
  int64_t k = 0;
  for (int64_t l = 0; l < L; ++l) {
    if (!layer_is_moe[l]) continue;
    const auto i = static_cast<size_t>(n == 1 ? 0 : n == L ? l : k);
    check_one_copy_per_rank(row_values[i], rows[i], num_experts, slots / expert_parallel);
    by_layer[l] = rows[i];
    ++k;
  }
  return by_layer;
}

LayerPlacement file_placement(const PlacementRequest& r, int64_t layer) {
  const auto& row = r.physical_to_logical.at(layer);
  const int64_t per_rank = static_cast<int64_t>(row.size()) / r.expert_parallel;
  LayerPlacement p;
  p.rank_slots.assign(r.expert_parallel, {});
  for (size_t s = 0; s < row.size(); ++s) p.rank_slots[s / per_rank].push_back(row[s]);
  try {
    finalize_placement(p, r.num_experts);
  } catch (const std::logic_error& e) {
    throw std::invalid_argument(fmt::format("placement file, layer {}: {}", layer, e.what()));
  }
  return p;
}

}  // namespace moesim
