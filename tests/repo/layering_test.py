#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The engine's folders are layers: each is a library (core/CMakeLists.txt)
# that links only the ones below it. A header included from a folder that is
# not below would compile (all of core/ is on the include path) and might even
# link, so this reads the layering from the CMake file itself and fails on
# every include that runs back up, naming the file, the line and the layer.
#   layering_test.py SOURCE_DIR
import os
import re
import sys

root = sys.argv[1]
core = os.path.join(root, "core")
cmake = open(os.path.join(core, "CMakeLists.txt")).read()

# Direct dependencies of each haul_* library, from haul_engine_library(... DEPENDS ...)
# and target_link_libraries(haul_x ...).
deps = {}
for name, body in re.findall(r"haul_engine_library\((haul_\w+)(.*?)\)\s*$", cmake, re.S | re.M):
    after = body.split("DEPENDS", 1)[1] if "DEPENDS" in body else ""
    deps.setdefault(name, set()).update(re.findall(r"\bhaul_\w+", after))
for name, body in re.findall(r"target_link_libraries\((haul_\w+)\s+(?:PUBLIC|PRIVATE|INTERFACE)(.*?)\)", cmake, re.S):
    deps.setdefault(name, set()).update(re.findall(r"\bhaul_\w+", body))
for name in re.findall(r"add_library\((haul_\w+)", cmake):
    deps.setdefault(name, set())

# haul_sys is util's process identity, kept apart so plugins can link it alone.
folder_of = {lib: lib[len("haul_"):] for lib in deps}
folder_of["haul_sys"] = "util"
folders = sorted(d for d in os.listdir(core) if os.path.isdir(os.path.join(core, d)))
top = {"cli"}  # the binary: it may include any layer


def below(folder):
    seen, todo = set(), [lib for lib, f in folder_of.items() if f == folder]
    while todo:
        for dep in deps.get(todo.pop(), ()):
            if dep in folder_of and folder_of[dep] not in seen:
                seen.add(folder_of[dep])
                todo.append(dep)
    seen.discard(folder)
    return seen


missing = [f for f in folders if f not in top and f not in folder_of.values()]
if missing:
    sys.exit(f"core/CMakeLists.txt: no haul_<folder> library for core/{', core/'.join(missing)}/")

bad = []
for folder in folders:
    if folder in top:
        continue
    allowed = below(folder)
    for dirpath, _, files in os.walk(os.path.join(core, folder)):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            if not f.endswith((".hpp", ".cpp")):
                continue
            for n, line in enumerate(open(path), 1):
                m = re.match(r'\s*#\s*include\s+"(\w+)/', line)
                if m and m.group(1) in folders and m.group(1) != folder and m.group(1) not in allowed:
                    bad.append(f"{os.path.relpath(path, root)}:{n}: includes {m.group(1)}/, "
                               f"which is not below {folder}/ (below it: {', '.join(sorted(allowed)) or 'nothing'})")
if bad:
    print("includes that run back up the engine's layers:", *bad, sep="\n", file=sys.stderr)
    sys.exit(1)
print(f"{len(folders)} folders, every include runs down the layers")
