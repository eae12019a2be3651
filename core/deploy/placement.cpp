// SPDX-License-Identifier: Apache-2.0
#include "deploy/placement.hpp"

#include "deploy/journal_scope.hpp"

namespace haul {

JournalScope* Placement::journal(const std::string& phase) {
  if (!journal_) return nullptr;
  if (dest_changed_)
    journal_->phase_best_effort(phase);
  else
    journal_->phase(phase);
  return journal_;
}

namespace {

class CommandsOnly final : public Placement {
 public:
  explicit CommandsOnly(DeployContext& ctx) : ctx_(ctx) {}
  bool stage() override {
    ctx_.log.info("No src in the manifest: running commands only");
    return true;
  }

 private:
  DeployContext& ctx_;
};

}  // namespace

std::unique_ptr<Placement> commands_only(DeployContext& ctx) { return std::make_unique<CommandsOnly>(ctx); }

}  // namespace haul
