// SPDX-License-Identifier: Apache-2.0
// How a release reaches dest: the part of a deploy that depends on the
// sync strategy. The engine (deploy_engine.cpp) calls the steps in the one
// order every deploy follows; a placement only fills them in:
//
//   stage    fetched, verified and extracted beside dest; dest untouched
//   (the rollout gate, in the engine)
//   prepare  made ready to go live (release: committed as releases/<id>)
//   (pre commands)
//   commit   dest changes: synced, moved, or `current` switched
//   (post commands; verify where a failure can be undone)
//   settle   a success recorded (release: marked live, old ones pruned)
//   fail     any step from prepare on failed: undone where it can be
//
// A placement holds dest's lock and journal from its construction to its
// end, so everything from stage to settle runs as one deploy of dest.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "deploy/deploy_context.hpp"

namespace haul {

class JournalScope;

class Placement {
 public:
  virtual ~Placement() = default;

  // False when there is nothing to place: dest already runs this manifest's
  // release (the rest of the order is skipped, and the deploy succeeds).
  virtual bool stage() = 0;
  virtual void prepare() {}
  virtual void commit() {}
  // Whether fail() after commit puts dest back as it was; verify commands
  // run only then (a health check with nothing to go back to would only
  // fail a deploy that is already live).
  virtual bool can_undo() const { return false; }
  virtual void settle() {}
  // Called with the error of the step that failed, from prepare on; dest is
  // told apart by how far the deploy got (ctx.dest_state).
  virtual void fail(const std::string& why) { (void)why; }

  // Records the next phase in dest's journal and returns the journal that
  // the phase's commands are registered in (nullptr without one). Until
  // commit a failure to record it fails the deploy; after, it is logged.
  JournalScope* journal(const std::string& phase);

 protected:
  // What commit and journal() use: set by the placement that keeps one.
  JournalScope* journal_ = nullptr;
  bool dest_changed_ = false;  // set by commit: journal() is then best effort
};

// A manifest without src: only its commands run, in the same order.
std::unique_ptr<Placement> commands_only(DeployContext& ctx);

}  // namespace haul
