// SPDX-License-Identifier: Apache-2.0
#include "util/log_fields.hpp"

namespace haul {
namespace {
thread_local const LogFields* t_fields = nullptr;
}  // namespace

LogFieldsScope::LogFieldsScope(const LogFields* fields) : previous_(t_fields) { t_fields = fields; }
LogFieldsScope::~LogFieldsScope() { t_fields = previous_; }

const LogFields* current_log_fields() { return t_fields; }

}  // namespace haul
