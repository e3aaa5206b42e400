// The report's schema (sim/io/report.schema.json, compiled in) asked whether a field exists, so
// that names of report fields given by users (a sweep's "metrics") are checked before a run
// instead of giving a column of nulls.
#pragma once
#include <string>

namespace moesim {

// The text of sim/io/report.schema.json (JSON Schema draft 2020-12), as built.
const char* report_schema_text();

// Empty when the JSON pointer `pointer` ("/breakdown_us/attention", "/layers/0/layer_time_us")
// names a value report.json can hold (a number, string or boolean; with `object_wanted` an object
// whose members a "*" stands for); else what is wrong, with
// the closest field the schema has at the first key that fails. Objects the schema leaves open
// (the inlined model and hardware) accept any key below them; array members take indices.
std::string report_field_problem(const std::string& pointer, bool object_wanted);

}  // namespace moesim
