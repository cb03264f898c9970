#!/usr/bin/env python3
"""Checks that every name include/runtime.h declares is gort_/GORT_ prefixed."""
import re
import sys

text = open(sys.argv[1] if len(sys.argv) > 1 else "include/runtime.h").read()
text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)   # comments
text = re.sub(r"//[^\n]*", "", text)
names = set()
names |= set(re.findall(r"^#define\s+(\w+)", text, flags=re.M))
names |= set(re.findall(r"\(\*\s*(\w+)\)\s*\(", text))            # function pointer typedefs
names |= set(re.findall(r"^}\s*(\w+)\s*;", text, flags=re.M))     # typedef'd structs
names |= set(re.findall(r"^(?:typedef\s+)?(?:struct|enum|union)\s+(\w+)", text, flags=re.M))
names |= set(re.findall(r"^(?!typedef)[A-Za-z_][\w \*]*?[\s\*](\w+)\s*\(", text, flags=re.M))  # functions
names |= set(re.findall(r"^\s+(\w+)\s*(?:=\s*[^,]+)?,?\s*$", text, flags=re.M))   # enumerators
ignore = {"GORT_RUNTIME_H", "errno"}  # errno: see gort_errno_location()
bad = sorted(n for n in names if not re.match(r"(gort_|GORT_)", n) and n not in ignore)
if bad:
    print("unprefixed names in the header:", " ".join(bad))
    sys.exit(1)
print(f"{len(names)} names, all prefixed")
