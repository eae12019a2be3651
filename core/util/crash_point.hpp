// SPDX-License-Identifier: Apache-2.0
// Named steps at which the test suite kills haul on purpose: with
// HAUL_TEST_CRASH_AT=<name> in its environment, haul sends itself SIGKILL
// when it reaches crash_point(<name>) — a kill -9 at a chosen step, where a
// kill at a random moment would land there once in a hundred runs. Without
// the variable a point costs one comparison.
#pragma once

namespace haul {

void crash_point(const char* name);

}  // namespace haul
