// SPDX-License-Identifier: Apache-2.0
// "Did you mean ...?" for the names operators type: the known name closest
// to a word by edit distance (insertions, deletions, substitutions and
// swaps of two neighbours, each costing one), if it is close enough that a
// typo is the likely story — at most 1 edit for words of up to 4
// characters, 2 for longer ones.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace haul {

size_t edit_distance(const std::string& a, const std::string& b);
std::optional<std::string> closest_name(const std::string& word, const std::vector<std::string>& known);

}  // namespace haul
